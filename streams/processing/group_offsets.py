"""Where the consumer group resumes each input partition of this worker."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from faust.types import TP

from streams.kafka.connection import KafkaConnection

log = logging.getLogger(__name__)

Partition = tuple[str, int]


async def resume_offsets(
    bootstrap: KafkaConnection | str,
    group: str,
    assigned: Callable[[], set[Partition]],
    earliest: Callable[..., Awaitable[Mapping[TP, int]]],
    wait: float = 5.0,
) -> dict[Partition, int]:
    """The group's committed offset of every assigned input partition, else the
    partition's beginning (`earliest`). Right after a restart the broker can answer
    without the offsets the group committed (seen with a static member rejoining): while
    an assigned partition has none, ask again, for `wait` seconds (a new group has
    none)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while True:
        offsets = await committed_offsets(bootstrap, group)
        missing = assigned() - offsets.keys()
        if not missing or loop.time() > deadline:
            break
        await asyncio.sleep(0.25)
    if missing:
        # Nothing committed: the group starts at the beginning (auto_offset_reset).
        found = await earliest(*(TP(t, p) for t, p in missing))
        offsets.update({(tp.topic, tp.partition): offset for tp, offset in found.items()})
    return offsets


async def committed_offsets(bootstrap: KafkaConnection | str, group: str) -> dict[Partition, int]:
    """The group's committed offsets, asked of the broker until it answers."""
    connection = KafkaConnection.of(bootstrap)
    while True:
        admin = AIOKafkaAdminClient(**connection.client_options())
        try:
            await asyncio.wait_for(admin.start(), 10.0)
            offsets = await asyncio.wait_for(admin.list_consumer_group_offsets(group), 10.0)
            return {
                (tp.topic, tp.partition): meta.offset
                for tp, meta in offsets.items()
                if meta.offset >= 0
            }
        except (KafkaError, TimeoutError) as exc:
            log.warning("committed offsets not read yet (%s); trying again", type(exc).__name__)
            await asyncio.sleep(1.0)
        finally:
            await admin.close()
