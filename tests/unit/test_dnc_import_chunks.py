"""`touchline dnc import` sends a large file in parts: each part has the header, and the
hub's line numbers are mapped back to the file's."""

from __future__ import annotations

import pytest

from streams.cli import main as cli
from streams.domain.campaign_policy import parse_dnc_csv


def test_a_small_file_is_one_part_with_its_own_line_numbers() -> None:
    text = "\n\nkind,value\nphone,+905321234567\n\n'phone',x\n"
    chunks, broken = cli._dnc_chunks(text)
    assert broken == []
    assert len(chunks) == 1
    body, lines = chunks[0]
    assert body.splitlines()[0] == "kind,value"
    assert lines == {2: 4, 3: 6}


def test_a_large_file_is_split_and_every_rejected_line_maps_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(cli, "DNC_CHUNK_CHARS", 60)
    rows = [f"phone,+9053212345{n:02d}" for n in range(20)]
    rows[7] = "phone,not-a-number"
    rows[12] = 'email,"two\nlines@example.com"'  # a quoted cell across two lines
    rows[15] = "phone,+905321234515,extra"
    text = "kind,value\n" + "\n".join(rows) + "\n"
    expected = parse_dnc_csv(text, default_region="TR")

    chunks, broken = cli._dnc_chunks(text)
    assert broken == []
    assert len(chunks) > 2
    accepted, rejected = 0, []
    for body, lines in chunks:
        assert body.startswith("kind,value\n")
        part = parse_dnc_csv(body, default_region="TR")
        accepted += len(part.entries)
        rejected += [(lines[row.line], row.reason) for row in part.rejected]
    assert accepted == len(expected.entries)
    assert rejected == [(row.line, row.reason) for row in expected.rejected]
    assert [line for line, _ in rejected] == [9, 14, 18]


def test_a_file_with_only_blank_lines_has_no_parts() -> None:
    assert cli._dnc_chunks("\n \n") == ([], [])
