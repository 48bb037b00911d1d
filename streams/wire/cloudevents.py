"""CloudEvents Kafka binding (binary mode) headers for every record the hub produces."""

from __future__ import annotations

from datetime import datetime

CONTENT_TYPE = "application/avro"


def headers(
    *, event_id: str, event_type: str, source: str, time: datetime, subject: str | None
) -> list[tuple[str, bytes]]:
    pairs = [
        ("ce_specversion", "1.0"),
        ("ce_id", event_id),
        ("ce_type", event_type),
        ("ce_source", source),
        ("ce_time", time.isoformat().replace("+00:00", "Z")),
    ]
    if subject:
        pairs.append(("ce_subject", subject))
    pairs.append(("content-type", CONTENT_TYPE))
    return [(name, value.encode()) for name, value in pairs]


def as_dict(raw: list[tuple[str, bytes]] | None) -> dict[str, str]:
    return {name: value.decode("utf-8", "replace") for name, value in raw or []}
