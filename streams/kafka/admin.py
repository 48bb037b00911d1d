"""Creating the hub's topics on any cluster, idempotently, with their contract settings."""

from __future__ import annotations

import asyncio

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from streams import topics


def topic_configs(name: str) -> dict[str, str]:
    if name.endswith("-changelog"):
        return {"cleanup.policy": "compact"}  # a table: the latest value per key
    if name in topics.COMPACTED_TOPICS:
        # The dial list is a table: keep the latest entry per key, drop tombstones after a day.
        return {"cleanup.policy": "compact", "delete.retention.ms": "86400000"}
    return {}


async def ensure_topics(
    bootstrap: str,
    partitions: int,
    internal: tuple[str, ...] = (),
    replication_factor: int = 1,
    timeout: float = 60.0,
) -> list[str]:
    """Create any missing topic; return the names created. Existing topics are left as they are."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(1.0)
    try:
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
