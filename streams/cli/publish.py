"""`touchline publish`: JSON-lines files, and CSV files through a batch mapping, onto the
interaction log through the producer SDK, with a progress bar and a per-line report of
what was rejected and why."""

from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from tqdm import tqdm

from streams.adapters.batch import Mapping
from streams.adapters.native import InputError
from streams.config import Settings
from streams.domain.events import Interaction
from streams.kafka.producer import TouchlineProducer

CHUNK = 1000  # validated lines sent, and acknowledged, together


class Chunks:
    """Valid events sent, and acknowledged, CHUNK at a time; counted as accepted."""

    def __init__(self, producer: TouchlineProducer, report: PublishReport) -> None:
        self.producer = producer
        self.report = report
        self.pending: list[Interaction] = []

    async def add(self, event: Interaction) -> None:
        self.pending.append(event)
        if len(self.pending) >= CHUNK:
            await self.flush()

    async def flush(self) -> None:
        if self.pending:
            self.report.accepted += len(await self.producer.send_many(self.pending))
            self.pending = []


@dataclass
class PublishReport:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


async def publish_file(path: Path, settings: Settings | None = None) -> PublishReport:
    report = PublishReport()
    lines = path.read_text(encoding="utf-8").splitlines()
    async with TouchlineProducer(source="/touchline/cli", settings=settings) as producer:
        chunk = Chunks(producer, report)
        with tqdm(total=len(lines), unit="line", desc=path.name, disable=None) as progress:
            for number, line in enumerate(lines, start=1):
                progress.update(1)
                if not line.strip():
                    continue
                try:
                    await chunk.add(producer.interaction(json.loads(line)))
                except json.JSONDecodeError as exc:
                    report.rejected.append((number, f"malformed JSON: {exc.msg}"))
                except InputError as exc:
                    report.rejected.append((number, str(exc)))
            await chunk.flush()
    return report


class SourceFileError(ValueError):
    """The file cannot be read at all (missing, not UTF-8, no header): nothing is sent."""


_LINE_BREAK = re.compile(r"\r\n|\r|\n")


async def publish_csv(
    path: Path, mapping: Mapping, settings: Settings | None = None
) -> PublishReport:
    """Publish a CSV file's rows as interactions, each made by `mapping`.

    The header is checked against the mapping before the broker is contacted (a
    MappingError then means nothing was sent). Rejected rows are reported with the line
    of the file they start on, the header being line 1."""
    try:
        # utf-8-sig: spreadsheet exports often start with a byte-order mark.
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourceFileError(f"cannot read {path}: {exc} (CSV files must be UTF-8)") from None
    # newline="": quoted cells may hold line breaks, which the csv module must see as-is.
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=mapping.delimiter)
    try:
        header = reader.fieldnames
    except csv.Error as exc:
        raise SourceFileError(f"{path.name}: the header is not valid CSV: {exc}") from None
    if not header:
        raise SourceFileError(f"{path.name} has no header row naming its columns")
    mapping.check_header(header)

    report = PublishReport()
    producer = TouchlineProducer(source="/touchline/cli", settings=settings)
    mapping = mapping.with_default_region(producer.settings.default_region)
    total_lines = len(_LINE_BREAK.findall(text)) + (0 if text.endswith(("\n", "\r")) else 1)
    async with producer:
        chunk = Chunks(producer, report)
        with tqdm(total=total_lines, unit="line", desc=path.name, disable=None) as progress:
            progress.update(reader.line_num)
            while True:
                read_before = reader.line_num
                try:
                    row = next(reader)
                except StopIteration:
                    break
                except csv.Error as exc:
                    report.rejected.append((reader.line_num, f"malformed CSV: {exc}"))
                    progress.update(reader.line_num - read_before)
                    continue
                progress.update(reader.line_num - read_before)
                line = _first_line(reader.line_num, row)
                reason = _shape_error(row, len(header))
                if reason is not None:
                    report.rejected.append((line, reason))
                    continue
                if not any(cell.strip() for cell in row.values()):
                    continue  # a row of empty cells (",,,,") holds nothing to publish
                try:
                    await chunk.add(mapping.row(row, now=datetime.now(UTC)))
                except InputError as exc:
                    report.rejected.append((line, str(exc)))
            await chunk.flush()
    return report


def _first_line(last_line: int, row: dict[str | None, object]) -> int:
    """The line a row starts on: csv counts the lines read so far, and a quoted cell may
    span several (blank lines before a row are skipped by DictReader, so counting back
    from the end is the only exact way)."""
    breaks = 0
    for cell in row.values():
        for text in cell if isinstance(cell, list) else [cell]:
            if isinstance(text, str):
                breaks += len(_LINE_BREAK.findall(text))
    return last_line - breaks


def _shape_error(row: dict[str | None, object], columns: int) -> str | None:
    """DictReader files extra cells under None and fills missing ones with None; either
    way the cells no longer line up with the header, so the row is refused."""
    extra = row.get(None)
    if isinstance(extra, list):
        return f"has {columns + len(extra)} cells but the header has {columns}"
    present = sum(1 for cell in row.values() if cell is not None)
    if present < columns:
        return f"has {present} cells but the header has {columns}"
    return None
