"""`touchline tail`: print a topic's records as decoded JSON lines."""

from __future__ import annotations

import asyncio
import json
import sys
from typing import Any

from aiokafka import AIOKafkaConsumer

from streams.config import Settings
from streams.kafka.admin import partitions_of
from streams.kafka.connection import KafkaConnection, start_client
from streams.kafka.producer import serializer_for
from streams.wire.cloudevents import as_dict
from streams.wire.serialization import SerializationError


def render(message: Any, decode: Any) -> dict[str, Any]:
    line: dict[str, Any] = {
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": message.key.decode("utf-8", "replace") if message.key is not None else None,
        "headers": as_dict(list(message.headers or [])),
    }
    if message.value is None:
        line["value"] = None
        line["tombstone"] = True
        return line
    try:
        name, model = decode(message.value)
        line["type"] = name
        line["value"] = model
    except SerializationError as exc:
        line["error"] = exc.reason
        line["raw_hex"] = bytes(message.value[:64]).hex()
    return line


class NoSuchTopic(LookupError):
    """The topic to tail does not exist."""


async def tail(
    topic: str,
    *,
    from_beginning: bool = False,
    limit: int | None = None,
    idle_timeout: float | None = None,
    out: Any = None,
    settings: Settings | None = None,
) -> int:
    settings = settings or Settings.from_env()
    serializer = serializer_for(settings)
    out = out or sys.stdout

    def decode(value: bytes) -> tuple[str, Any]:
        model = serializer.decode_model(value)
        return f"touchline.{type(model).__name__}", model.model_dump(mode="json")

    connection = KafkaConnection.of(settings)
    if not await partitions_of(connection, topic, wait=0):
        raise NoSuchTopic(f"there is no topic {topic!r} (tail reads topics, never creates them)")
    consumer = AIOKafkaConsumer(
        topic,
        **connection.client_options(),
        group_id=None,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
    )
    printed = 0
    try:
        await start_client(consumer, connection)
        while limit is None or printed < limit:
            batch = await consumer.getmany(timeout_ms=int((idle_timeout or 3600) * 1000))
            if not batch:
                if idle_timeout is not None:
                    break
                continue
            for messages in batch.values():
                for message in messages:
                    print(
                        json.dumps(render(message, decode), ensure_ascii=False, default=str),
                        file=out,
                        flush=True,
                    )
                    printed += 1
                    if limit is not None and printed >= limit:
                        return printed
    finally:
        await consumer.stop()
        await asyncio.sleep(0)
    return printed
