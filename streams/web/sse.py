"""Server-Sent Events framing (the WHATWG `text/event-stream` format), as bytes to write."""

from __future__ import annotations

import json
from typing import Any

CONTENT_TYPE = "text/event-stream"


def _field(name: str, value: str) -> str:
    # A field ends at a line break, so each line of a value is a field of its own; the
    # browser joins the data lines with "\n" again. CR and CRLF count as breaks too.
    lines = value.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "".join(f"{name}: {line}\n" for line in lines)


def event(name: str, data: Any, *, event_id: str | None = None) -> bytes:
    """One event whose data is `data` as compact JSON."""
    frame = _field("event", _one_line(name))
    if event_id is not None:
        frame += _field("id", _one_line(event_id).replace("\0", ""))
    frame += _field("data", json.dumps(data, ensure_ascii=False, separators=(",", ":")))
    return (frame + "\n").encode()


def comment(text: str = "") -> bytes:
    """A comment line: ignored by the browser, it keeps proxies and idle timers from
    closing a quiet stream."""
    return f": {_one_line(text)}\n\n".encode()


def retry(milliseconds: int) -> bytes:
    """How long an EventSource should wait before reconnecting."""
    return f"retry: {max(0, int(milliseconds))}\n\n".encode()


def _one_line(value: str) -> str:
    """Names, ids and comments must stay one line: a break would start another field."""
    return value.replace("\r", " ").replace("\n", " ")
