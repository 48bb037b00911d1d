"""`touchline publish`: JSON-lines files onto the interaction log through the producer SDK,
with a progress bar and a per-line report of what was rejected and why."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from tqdm import tqdm

from streams.client import TouchlineProducer
from streams.config import Settings
from streams.domain.events import Interaction
from streams.intake import InputError

CHUNK = 1000  # validated lines sent, and acknowledged, together


@dataclass
class PublishReport:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


async def publish_file(path: Path, settings: Settings | None = None) -> PublishReport:
    report = PublishReport()
    lines = path.read_text(encoding="utf-8").splitlines()
    async with TouchlineProducer(source="/touchline/cli", settings=settings) as producer:
        chunk: list[Interaction] = []
        with tqdm(total=len(lines), unit="line", desc=path.name, disable=None) as progress:
            for number, line in enumerate(lines, start=1):
                progress.update(1)
                if not line.strip():
                    continue
                try:
                    chunk.append(producer.interaction(json.loads(line)))
                except json.JSONDecodeError as exc:
                    report.rejected.append((number, f"malformed JSON: {exc.msg}"))
                except InputError as exc:
                    report.rejected.append((number, str(exc)))
                if len(chunk) >= CHUNK:
                    report.accepted += len(await producer.send_many(chunk))
                    chunk = []
            if chunk:
                report.accepted += len(await producer.send_many(chunk))
    return report
