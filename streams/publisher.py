"""`touchline publish`: JSON-lines files onto the interaction log, with a progress bar and a
per-line report of what was rejected and why."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from streams import records
from streams.config import Settings
from streams.intake import InputError, parse_interaction
from streams.serialization import AvroSerializer, SchemaRegistry, SerializationError


@dataclass
class PublishReport:
    accepted: int = 0
    rejected: list[tuple[int, str]] = field(default_factory=list)


def producer_for(settings: Settings) -> AIOKafkaProducer:
    # Idempotent producer: retries after a lost acknowledgement do not duplicate records.
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_idempotence=True,
        acks="all",
        linger_ms=5,
    )


def serializer_for(settings: Settings) -> AvroSerializer:
    registry = (
        SchemaRegistry(settings.schema_registry_url) if settings.schema_registry_url else None
    )
    return AvroSerializer(registry=registry)


async def publish_file(path: Path, settings: Settings | None = None) -> PublishReport:
    settings = settings or Settings.from_env()
    serializer = serializer_for(settings)
    report = PublishReport()
    lines = path.read_text(encoding="utf-8").splitlines()
    producer = producer_for(settings)
    await producer.start()
    try:
        pending = []
        with tqdm(total=len(lines), unit="line", desc=path.name, disable=None) as progress:
            for number, line in enumerate(lines, start=1):
                progress.update(1)
                if not line.strip():
                    continue
                try:
                    event = parse_interaction(
                        json.loads(line), default_region=settings.default_region
                    )
                    record = records.interaction(serializer, event, "/touchline/cli")
                except json.JSONDecodeError as exc:
                    report.rejected.append((number, f"malformed JSON: {exc.msg}"))
                    continue
                except InputError as exc:
                    report.rejected.append((number, str(exc)))
                    continue
                except SerializationError as exc:
                    report.rejected.append((number, exc.reason))
                    continue
                pending.append(
                    await producer.send(
                        record.topic, record.value, key=record.key, headers=record.headers
                    )
                )
                report.accepted += 1
        for future in pending:
            await future
    finally:
        await producer.stop()
    return report
