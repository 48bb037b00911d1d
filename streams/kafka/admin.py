"""Creating the hub's topics on any cluster, idempotently, with their contract settings."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams.kafka.connection import KafkaConnection, start_client
from streams.wire import topics


def topic_configs(name: str) -> dict[str, str]:
    if name.endswith("-changelog"):
        return {"cleanup.policy": "compact"}  # a table: the latest value per key
    if name in topics.COMPACTED_TOPICS:
        # The dial list is a table: keep the latest entry per key, drop tombstones after a day.
        return {"cleanup.policy": "compact", "delete.retention.ms": "86400000"}
    return {}


async def ensure_topics(
    bootstrap: KafkaConnection | str,
    partitions: int,
    internal: tuple[str, ...] = (),
    replication_factor: int = 1,
    timeout: float = 60.0,
) -> list[str]:
    """Create any missing topic; return the names created. Existing topics are left as they are.
    A broker that refuses the client's credentials or TLS raises KafkaAccessError at once:
    waiting for it would not help."""
    connection = KafkaConnection.of(bootstrap)
    admin = AIOKafkaAdminClient(**connection.client_options(), request_timeout_ms=15000)
    deadline = asyncio.get_running_loop().time() + timeout
    try:
        while True:
            try:
                await start_client(admin, connection)
                break
            except KafkaConnectionError:
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(1.0)
        existing = set(await admin.list_topics())
        wanted = [name for name in (*topics.PUBLIC_TOPICS, *internal) if name not in existing]
        created = []
        for name in wanted:
            try:
                await admin.create_topics(
                    [
                        NewTopic(
                            name, partitions, replication_factor, topic_configs=topic_configs(name)
                        )
                    ]
                )
                created.append(name)
            except TopicAlreadyExistsError:
                pass  # another worker created it between our list and create
        return created
    finally:
        await admin.close()


async def partitions_of(
    bootstrap: KafkaConnection | str, topic: str, wait: float | None = None
) -> list[int]:
    """The partition ids of `topic`, waiting while it does not exist yet (at most `wait`
    seconds, then none; None: as long as that takes)."""
    return sorted(await partition_leaders(bootstrap, topic, wait))


async def partition_leaders(
    bootstrap: KafkaConnection | str, topic: str, wait: float | None = None, poll: float = 0.5
) -> dict[int, int]:
    """Each partition of `topic` and the broker id leading it, waiting while the topic
    does not exist yet (at most `wait` seconds, then none; None: as long as that takes)."""
    loop = asyncio.get_running_loop()
    deadline = None if wait is None else loop.time() + wait
    connection = KafkaConnection.of(bootstrap)
    admin = AIOKafkaAdminClient(**connection.client_options())
    try:
        await start_client(admin, connection)
        while True:
            # Describing a topic by name asks for its metadata, which makes a broker with
            # auto.create.topics.enable create it: look for it in the list first.
            exists = topic in await admin.list_topics()
            for described in await admin.describe_topics([topic]) if exists else []:
                if described["topic"] == topic and described["error_code"] == 0:
                    found = {p["partition"]: p["leader"] for p in described["partitions"]}
                    if found:
                        return found
            if deadline is not None and loop.time() >= deadline:
                return {}
            await asyncio.sleep(poll)
    finally:
        await admin.close()
