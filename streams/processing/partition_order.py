"""Every record of a consumed partition is handled, in offset order, from the committed
offset on: a record Faust skipped is read again, never committed over.

Why: after a restart, Faust can hand an agent a partition's records starting past the
committed offset (records fetched while the partition was paused for table recovery are
dropped, and the fetch position has moved on). Its gap bookkeeping then counts the
records in between as done, and the next commit jumps over them: events never applied,
decisions never taken. Seen under SIGKILL tests: committed 22, first record handed over
48, the next commit past 48.

None of the consumed topics is compacted or transactional, so offsets come one after
another and a jump is always such a hole. When one shows, the partition is sought back
to the first missing record and everything ahead of it is passed over until that record
comes; their acknowledgements are held and given together, so no commit can fall inside
the hole while it is being read again.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

TopicPartition = tuple[str, int]
Committed = Callable[[], Awaitable[dict[TopicPartition, int]]]
Seek = Callable[[str, int, int], Awaitable[None]]


@dataclass
class _Hole:
    end: int  # every offset below it is in the hole or before it
    held: list[Callable[[], Any]] = field(default_factory=list)


class PartitionOrder:
    """Which records to handle, and when their acknowledgements may go."""

    def __init__(self, committed: Committed, seek: Seek) -> None:
        self._read_committed = committed
        self._seek = seek
        self._next: dict[TopicPartition, int] = {}
        self._holes: dict[TopicPartition, _Hole] = {}
        self._committed: dict[TopicPartition, int] | None = None
        self._reading: asyncio.Future[dict[TopicPartition, int]] | None = None
        self.holes_found = 0

    def reset(self) -> None:
        """Partitions are reassigned: start again from the committed offsets."""
        self._next.clear()
        self._holes.clear()
        self._committed = None
        self._reading = None

    async def admit(self, topic: str, partition: int, offset: int) -> bool:
        """Whether to handle this record now. False for a record handled already (read
        twice) and for one ahead of a hole (it comes again once the hole is read)."""
        tp = (topic, partition)
        expected = self._next.get(tp)
        if expected is None:
            committed = await self._committed_offset(tp)
            log.info("%s[%d]: first record %d, committed %s", topic, partition, offset, committed)
            expected = offset if committed is None else committed
        if offset == expected:
            self._next[tp] = offset + 1
            return True
        if offset < expected:
            return False
        self._next[tp] = expected
        hole = self._holes.get(tp)
        if hole is None:
            self.holes_found += 1
            log.warning(
                "%s[%d]: record %d came before %d..%d; reading them again",
                topic,
                partition,
                offset,
                expected,
                offset - 1,
            )
            self._holes[tp] = _Hole(end=offset)
        else:
            hole.end = max(hole.end, offset)
        # Seek again for every record passed over: one fetched before the last seek can
        # still arrive after it, and Faust then drops the records read again.
        await self._seek(topic, partition, expected)
        return False

    def acknowledgement(
        self, topic: str, partition: int, offset: int, acknowledge: Callable[[], Any]
    ) -> Callable[[], Any] | None:
        """The acknowledgement to settle for a handled record: None while a hole of its
        partition is being read again (held), then all the held ones at once."""
        tp = (topic, partition)
        hole = self._holes.get(tp)
        if hole is None:
            return acknowledge
        hole.held.append(acknowledge)
        if offset < hole.end - 1:
            return None
        del self._holes[tp]
        held = hole.held

        def acknowledge_all() -> None:
            for ack in held:
                ack()

        return acknowledge_all

    async def committed(self) -> dict[TopicPartition, int]:
        """The group's committed offsets, read once per assignment (one read shared by
        every agent that asks while it is under way)."""
        if self._committed is not None:
            return self._committed
        if self._reading is None or self._reading.done():
            self._reading = asyncio.ensure_future(self._read_committed())
        reading = self._reading
        committed = await asyncio.shield(reading)
        if self._reading is reading:  # not reset meanwhile
            self._committed = committed
        return committed

    async def _committed_offset(self, tp: TopicPartition) -> int | None:
        return (await self.committed()).get(tp)
