"""A read model of a compacted topic that every worker keeps whole, so that any of them
answers for all of it, whichever worker owns the keys: the dial lists, the contact
policies, the do-not-contact lists."""

from __future__ import annotations

import abc
import asyncio
import logging
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.admin import partitions_of
from streams.kafka.connection import KafkaConnection, start_client

log = logging.getLogger(__name__)


class NotCaughtUp(Exception):
    """The view could not reach the end of the topic in time."""


class CompactedTopicView(abc.ABC):
    """Reads `topic` from the beginning, all partitions, without a consumer group, and
    hands every record to `apply`; `catch_up` waits until what was on the topic when it
    was called has been applied."""

    def __init__(self, bootstrap: KafkaConnection | str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()
        self.record: Any = None  # the record being applied

    @abc.abstractmethod
    def apply(self, key: bytes | None, value: bytes | None) -> None:
        """Take one record (value None: a tombstone). Must not raise on bad data."""

    async def run(self) -> None:
        connection = KafkaConnection.of(self.bootstrap)
        consumer = AIOKafkaConsumer(
            **connection.client_options(), enable_auto_commit=False, group_id=None
        )
        await start_client(consumer, connection)
        self._consumer = consumer
        try:
            partitions = await partitions_of(connection, self.topic)
            self._partitions = [TopicPartition(self.topic, p) for p in partitions]
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
                for messages in batch.values():
                    for message in messages:
                        self.record = message  # where a bad record came from
                        self.apply(message.key, message.value)
                async with self._progress:
                    for tp in self._partitions:
                        self._positions[tp] = await consumer.position(tp)
                    self._progress.notify_all()
        finally:
            self._consumer = None
            await consumer.stop()

    async def catch_up(self, timeout: float = 10.0) -> None:
        """Wait until everything on the topic when called has been read."""
        consumer = self._consumer
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while consumer is None or not self._partitions:
            if loop.time() > deadline:
                raise NotCaughtUp(f"{self.topic} is not assigned yet")
            await asyncio.sleep(0.05)
            consumer = self._consumer
        ends = await consumer.end_offsets(self._partitions)
        async with self._progress:
            while any(self._positions.get(tp, -1) < end for tp, end in ends.items()):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise NotCaughtUp(f"{self.topic} was not read to its end in time")
                try:
                    await asyncio.wait_for(self._progress.wait(), remaining)
                except TimeoutError:
                    raise NotCaughtUp(f"{self.topic} was not read to its end in time") from None
