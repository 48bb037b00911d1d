"""A read model of the compacted dial-list topic, kept by every worker so that any of them
answers for the whole list, whichever worker owns the customers."""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams import topics
from streams.domain.decisions import DialListEntry
from streams.serialization import AvroSerializer, SerializationError

log = logging.getLogger(__name__)


class NotCaughtUp(Exception):
    """The view could not reach the end of the topic in time."""


class DialListView:
    def __init__(self, bootstrap: str, serializer: AvroSerializer) -> None:
        self.bootstrap = bootstrap
        self.serializer = serializer
        self.lists: dict[str, dict[str, DialListEntry]] = {}
        self.undecodable = 0
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[TopicPartition] = []
        self._positions: dict[TopicPartition, int] = {}
        self._progress = asyncio.Condition()

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        campaign_id, _, customer_id = key.decode("utf-8", "replace").partition(":")
        if value is None:
            self.lists.get(campaign_id, {}).pop(customer_id, None)
            return
        try:
            entry = self.serializer.decode_model(value)
        except SerializationError as exc:
            self.undecodable += 1
            log.warning("skipping undecodable dial-list record: %s", exc.reason)
            return
        if isinstance(entry, DialListEntry):
            self.lists.setdefault(entry.campaign_id, {})[entry.customer_id] = entry

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, group_id=None
        )
        await consumer.start()
        self._consumer = consumer
        try:
            partitions = None
            while not partitions:
                # A consumer without a subscription keeps no metadata of its own: ask for it.
                cluster = await consumer._client.fetch_all_metadata()
                partitions = cluster.partitions_for_topic(topics.DIAL_LIST)
                if not partitions:
                    await asyncio.sleep(0.5)
            self._partitions = [TopicPartition(topics.DIAL_LIST, p) for p in sorted(partitions)]
            consumer.assign(self._partitions)
            await consumer.seek_to_beginning(*self._partitions)
            while True:
                batch = await consumer.getmany(timeout_ms=200, max_records=10_000)
                for messages in batch.values():
                    for message in messages:
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
                raise NotCaughtUp("the dial-list topic is not assigned yet")
            await asyncio.sleep(0.05)
            consumer = self._consumer
        ends = await consumer.end_offsets(self._partitions)
        async with self._progress:
            while any(self._positions.get(tp, -1) < end for tp, end in ends.items()):
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise NotCaughtUp("the dial-list topic was not read to its end in time")
                try:
                    await asyncio.wait_for(self._progress.wait(), remaining)
                except TimeoutError:
                    raise NotCaughtUp(
                        "the dial-list topic was not read to its end in time"
                    ) from None

    def entries(self, campaign_id: str) -> list[DialListEntry]:
        found = self.lists.get(campaign_id, {}).values()
        return sorted(found, key=lambda e: (-e.priority, e.customer_id))
