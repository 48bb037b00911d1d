"""Screen pops to browsers: every worker reads the whole screen-pop topic from its end and
hands each pop to the desktops of that agent connected to it, whichever worker made it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Collection, Iterator

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.domain.screen_pop import ScreenPop
from streams.kafka.connection import KafkaConnection, start_client
from streams.wire.serialization import AvroSerializer, SerializationError

log = logging.getLogger(__name__)

QUEUE_SIZE = 16


class SubscriptionClosed(Exception):
    """The fan-out was closed (the worker is stopping): end the stream."""


class Subscription:
    """One browser's queue of pops for one agent. Bounded: when the browser does not keep
    up, the oldest pops give way to the newest (the caller on the line now matters most),
    and nobody else waits for it."""

    def __init__(self, agent_id: str, maxsize: int = QUEUE_SIZE) -> None:
        self.agent_id = agent_id
        self.dropped = 0
        self._queue: asyncio.Queue[ScreenPop | None] = asyncio.Queue(maxsize)
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    def offer(self, pop: ScreenPop) -> None:
        """Queue `pop` without waiting."""
        if self._closed:
            return
        if self._queue.full():
            self._queue.get_nowait()
            self.dropped += 1
        self._queue.put_nowait(pop)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        # Pops still queued at shutdown are of no use to anyone: make room for the marker.
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(None)

    async def get(self, timeout: float | None = None) -> ScreenPop | None:
        """The next pop, or None when `timeout` passes first; SubscriptionClosed once
        closed."""
        try:
            pop = await asyncio.wait_for(self._queue.get(), timeout)
        except TimeoutError:
            return None
        if pop is None:
            self._queue.put_nowait(None)  # every later get sees the close as well
            raise SubscriptionClosed
        return pop


class ScreenPopFanout:
    """The subscriptions of this worker's browsers, by agent id."""

    def __init__(self, queue_size: int = QUEUE_SIZE) -> None:
        self.queue_size = queue_size
        self.delivered = 0
        self._by_agent: dict[str, set[Subscription]] = {}
        self._closed = False

    @contextlib.contextmanager
    def subscribe(self, agent_id: str) -> Iterator[Subscription]:
        subscription = Subscription(agent_id, self.queue_size)
        if self._closed:
            subscription.close()
        self._by_agent.setdefault(agent_id, set()).add(subscription)
        try:
            yield subscription
        finally:
            subscribers = self._by_agent.get(agent_id)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._by_agent[agent_id]

    def publish(self, pop: ScreenPop) -> int:
        """Hand `pop` to every browser of its agent; the number reached."""
        subscribers = self._by_agent.get(pop.agent_id, ())
        for subscription in subscribers:
            subscription.offer(pop)
        self.delivered += len(subscribers)
        return len(subscribers)

    def subscribers(self, agent_id: str) -> int:
        return len(self._by_agent.get(agent_id, ()))

    def close(self) -> None:
        self._closed = True
        for subscribers in self._by_agent.values():
            for subscription in subscribers:
                subscription.close()


class ScreenPopReader:
    """Reads every partition of the screen-pop topic, without a consumer group, from the
    end: a pop is about a contact happening now, so none made before the worker started
    is shown. Like the dial-list view, so that each worker sees the pops of every agent.

    `partitions` tells the topic's partitions (the worker asks its producer's metadata:
    a consumer without a subscription keeps none of its own); an empty answer is asked
    again."""

    def __init__(
        self,
        bootstrap: KafkaConnection | str,
        topic: str,
        serializer: AvroSerializer,
        fanout: ScreenPopFanout,
        *,
        partitions: Callable[[str], Awaitable[Collection[int]]],
    ) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.serializer = serializer
        self.fanout = fanout
        self.partitions = partitions
        self.undecodable = 0
        self.ready = asyncio.Event()

    def apply(self, value: bytes | None) -> None:
        try:
            pop = self.serializer.decode_model(value)
        except SerializationError as exc:
            self.undecodable += 1
            log.warning("skipping undecodable screen pop: %s", exc.reason)
            return
        if isinstance(pop, ScreenPop):
            self.fanout.publish(pop)

    async def run(self) -> None:
        connection = KafkaConnection.of(self.bootstrap)
        consumer = AIOKafkaConsumer(
            **connection.client_options(),
            enable_auto_commit=False,
            group_id=None,
        )
        await start_client(consumer, connection)
        try:
            partitions: Collection[int] = ()
            while not partitions:
                partitions = await self.partitions(self.topic)
                if not partitions:
                    await asyncio.sleep(0.5)
            assigned = [TopicPartition(self.topic, p) for p in sorted(partitions)]
            consumer.assign(assigned)
            await consumer.seek_to_end(*assigned)
            for tp in assigned:
                # Resolve the end offsets now, so "ready" means every later pop is read.
                await consumer.position(tp)
            self.ready.set()
            while True:
                batch = await consumer.getmany(timeout_ms=1000, max_records=1000)
                for messages in batch.values():
                    for message in messages:
                        self.apply(message.value)
        finally:
            self.ready.clear()
            await consumer.stop()

    async def wait_ready(self, timeout: float) -> bool:
        try:
            await asyncio.wait_for(self.ready.wait(), timeout)
        except TimeoutError:
            return False
        return True
