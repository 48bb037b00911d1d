"""What every agent of a worker shares: the loop that handles each event in partition
order and makes a dead letter of what cannot be handled, the outbox every record and
table write goes through, and what happens when partitions are assigned and revoked.

The agents themselves live one per module (`customer_agent`, `identity_agent`,
`name_index_agent`, `targets_agent`, `contact_rechecks`): decode, look up, call the pure
domain functions, store, send. No rules here."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aiokafka.partitioner import murmur2
from faust.types import TP, EventT

from streams import metrics
from streams.domain.contact_holds import PolicyInputs
from streams.kafka import faust_internals
from streams.kafka.connection import KafkaConnection
from streams.processing import group_offsets
from streams.processing.customer_cache import CustomerLocks, StateCache
from streams.processing.outbox import Outbox
from streams.processing.partition_order import PartitionOrder
from streams.processing.wake_ups import WakeUps, decode_schedule
from streams.wire import outgoing, topics
from streams.wire.serialization import DeadLetter, SerializationError, ensure_within, text_of

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp

log = logging.getLogger(__name__)

# A dead letter keeps at most this much of the original value: the letter itself must
# fit on the dead-letter topic, or the worker could never get past the record.
DEAD_LETTER_KEPT_BYTES = 512 * 1024

_RAW: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}


def decode(app: TouchlineApp, event: EventT) -> Any:
    return app.serializer.decode_model(event.value)


def key_of(event: EventT) -> str:
    return text_of(event.key)  # type: ignore[arg-type]  # raw keys: bytes


def utcnow() -> datetime:
    return datetime.now(UTC)


def log_time(event: EventT, clock: Callable[[], datetime] = utcnow) -> datetime:
    """The moment decisions about a record are taken: the record's own timestamp in the
    log, so that replaying the log decides the same, byte for byte (the clock only for a
    record without one)."""
    stamp = event.message.timestamp
    return datetime.fromtimestamp(stamp, UTC) if stamp and stamp > 0 else clock()


class AgentBody:
    """What every agent's body starts from: the processing it belongs to."""

    def __init__(self, processing: Processing) -> None:
        self.processing = processing
        self.app = processing.app
        self.topics = processing.topics

    @property
    def outbox(self) -> Outbox:
        return self.processing.outbox  # replaceable (tests make a fresh one each)


class Processing:
    """A worker's processing: its agents, and the parts they share."""

    def __init__(self, app: TouchlineApp) -> None:
        from streams.processing import (
            contact_rechecks,
            customer_agent,
            identity_agent,
            name_index_agent,
            targets_agent,
        )

        self.app = app
        self.settings = app.settings
        self.clock: Callable[[], datetime] = utcnow  # what "now" is when a record has no time
        self.topics = app.internal_topics
        # Two agents fold into the customers table: one reads the public interaction log
        # (events already keyed by customer id), one the internal topic of commands
        # re-keyed to their customer. Both topics have the table's partition count, so
        # Faust assigns the same partitions of all three to the same worker. (One agent
        # over both topics would do, but Faust reads a multi-topic subscription markedly
        # slower.)
        self.interactions_topic = app.topic(topics.INTERACTIONS, **_RAW)
        self.customer_commands_topic = app.topic(self.topics.customer_commands, **_RAW)
        self.identity_topic = app.topic(self.topics.identity, **_RAW)
        self.name_index_topic = app.topic(self.topics.name_index, **_RAW)
        self.targets_topic = app.topic(topics.CAMPAIGN_TARGETS, **_RAW)
        self._consumed = {
            t.get_topic_name()
            for t in (
                self.interactions_topic,
                self.customer_commands_topic,
                self.identity_topic,
                self.name_index_topic,
                self.targets_topic,
            )
        }
        # Every record the agents produce, and every table write and acknowledgement
        # waiting on their delivery (streams.processing.outbox says why).
        self.outbox = Outbox(
            self._produce,
            batch_size=self.settings.settle_batch,
            held_topics=list(self.settings.fault_hold_topics),
        )
        self.partition_order = PartitionOrder(self._committed_offsets, self._seek)
        self.state_cache = StateCache(self)
        self.customer_locks = CustomerLocks()
        self.wake_ups = WakeUps()
        # The contact rules read every campaign's policy and the do-not-contact lists,
        # which each worker keeps whole (streams.views.policy_books).
        self.policy_inputs = PolicyInputs(
            policy_for=app.policy_book.latest, dnc_for=app.dnc_book.entries_for
        )
        self._background: set[asyncio.Task[None]] = set()  # held: the loop may drop them
        for book in (app.policy_book, app.dnc_book):
            book.on_bad_record = self._dead_letter_from_book
        app.on_partitions_revoked.connect(self._forget_unsettled)  # type: ignore[arg-type]
        app.on_partitions_assigned.connect(self._track_assigned)  # type: ignore[arg-type]

        customers = customer_agent.CustomerAgent(self)
        self.customer_agent = app.agent(self.interactions_topic, name="touchline.customer")(
            customers.run
        )
        self.customer_commands_agent = app.agent(
            self.customer_commands_topic, name="touchline.customer-commands"
        )(customers.run)
        self.identity_agent = app.agent(self.identity_topic, name="touchline.identity")(
            identity_agent.IdentityAgent(self).run
        )
        self.name_index_agent = app.agent(self.name_index_topic, name="touchline.name-index")(
            name_index_agent.NameIndexAgent(self).run
        )
        self.targets_agent = app.agent(self.targets_topic, name="touchline.targets")(
            targets_agent.TargetsAgent(self).run
        )
        self.customers = customers
        self.rechecks = contact_rechecks.ContactRechecks(self, customers)
        app.timer(interval=1.0)(self.rechecks.wake_customers)

    # -- sending -----------------------------------------------------------------------

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        timestamp: float | None,
        headers: Any,
    ) -> Awaitable[Any]:
        return self.app.producer.send(topic, key, value, None, timestamp, headers)

    async def send(self, record: outgoing.Record) -> None:
        await self.outbox.send(record.topic, record.key, record.value, headers=record.headers)

    async def forward(self, topic: str, key: bytes, value: bytes | None, event: EventT) -> None:
        """Send on, keeping the record's timestamp: the decision time travels with it."""
        stamp = event.message.timestamp
        await self.outbox.send(topic, key, value, timestamp=stamp if stamp and stamp > 0 else None)

    def owner_partition(self, key: bytes) -> int:
        """The partition that owns a customer key: murmur2, as Java's and aiokafka's
        default partitioners hash it, over the customers table's partitions."""
        return (murmur2(key) & 0x7FFFFFFF) % self.settings.partitions

    # -- handling each event -----------------------------------------------------------

    async def handle_each(self, stream: Any, handle: Callable[[EventT], Awaitable[None]]) -> None:
        """The loop of every agent: handle each event; a record that cannot be handled is
        a dead letter. The event is acknowledged (its offset may be committed) only once
        the outbox has delivered what it caused and stored the state that remembers it.
        Producer and broker errors never get here: the outbox waits for them, or stops
        the worker."""
        order = self.partition_order
        limit = self.settings.max_record_bytes
        async for event in stream.noack().events():
            message = event.message
            if not await order.admit(message.topic, message.partition, message.offset):
                continue
            try:
                ensure_within(message.value, limit)
                await handle(event)
            except Exception as exc:
                await self.dead_letter(message, exc)
            acknowledge = order.acknowledgement(
                message.topic, message.partition, message.offset, event.ack
            )
            if acknowledge is not None:
                self.outbox.finished(acknowledge)
            await self.outbox.pace()

    async def dead_letter(self, record: Any, error: Exception) -> None:
        """Make a dead letter of a consumed record (a Faust message or an aiokafka
        record: its topic, partition, offset, key and value) that could not be handled."""
        reason = error.reason if isinstance(error, SerializationError) else str(error)
        value = record.value
        if value is not None and len(value) > DEAD_LETTER_KEPT_BYTES:
            reason += f" (the value's first {DEAD_LETTER_KEPT_BYTES} of {len(value)} bytes kept)"
            value = value[:DEAD_LETTER_KEPT_BYTES]
        log.warning(
            "dead letter from %s[%d]@%d: %s",
            record.topic,
            record.partition,
            record.offset,
            type(error).__name__,
        )
        letter = DeadLetter(
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            key=record.key,
            value=value,
            error=reason,
            error_type=type(error).__name__,
        )
        await self.send(outgoing.dead_letter(self.app.serializer, letter))
        metrics.events.labels(agent="any", outcome="dead_letter").inc()

    def _dead_letter_from_book(self, record: Any, reason: str) -> None:
        """A bad record on the policies or DNC topic (read by every worker, without a
        group)."""
        self.in_background(self.dead_letter(record, SerializationError(reason)))

    def holder_of(self, identity: str) -> str | None:
        """The customer an identity belongs to, if this worker owns the identity's
        partition (a link still waiting for delivery included)."""
        known = self.outbox.get(self.app.identities, identity)
        return None if known is None else text_of(known)

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)  # held, so the loop does not drop it half-way
        task.add_done_callback(self._background.discard)

    # -- partitions assigned and revoked -----------------------------------------------

    def _assigned_inputs(self) -> set[tuple[str, int]]:
        return {
            (tp.topic, tp.partition)
            for tp in self.app.consumer.assignment()
            if tp.topic in self._consumed
        }

    async def _committed_offsets(self) -> dict[tuple[str, int], int]:
        return await group_offsets.resume_offsets(
            KafkaConnection.of(self.settings),
            self.settings.app_id,
            self._assigned_inputs,
            self.app.consumer.earliest_offsets,
        )

    async def _seek(self, topic: str, partition: int, offset: int) -> None:
        await self.app.consumer.seek(TP(topic, partition), offset)

    async def _forget_unsettled(self, *args: Any, **kwargs: Any) -> None:
        # What is not settled yet is neither stored nor acknowledged: the partitions' next
        # owner (maybe this worker again) reads those events again from the committed
        # offset.
        self.outbox.drop()
        self.state_cache.clear()
        self.partition_order.reset()

    async def _track_assigned(self, *args: Any, **kwargs: Any) -> None:
        """After a rebalance: forget cached states (another worker may have changed a
        customer while its partition was away), find the wake-ups of the customers this
        worker now owns, warm the store, and resume every input where the group left
        off."""
        self.state_cache.clear()
        self.wake_ups.clear()
        for work in (self._scan_schedules(), self._warm(), self._resume_from_committed()):
            self.in_background(work)

    async def _scan_schedules(self) -> None:
        for seen, (customer_id, raw) in enumerate(self.app.schedules.items(), start=1):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                self.wake_ups.track_schedule(text_of(customer_id), *decode_schedule(raw))
            if seen % 1000 == 0:
                await asyncio.sleep(0)  # a big table must not stall the event loop

    async def _warm(self) -> None:
        # Read the owned customer states once, raw and undecoded, once the tables are
        # recovered: RocksDB keeps what it reads in its block cache, so the first view of
        # a customer needs no disk read (a page cache may have been reclaimed).
        await faust_internals.tables_recovered(self.app)
        for seen, _ in enumerate(faust_internals.raw_values(self.app.customers), start=1):
            if seen % 5000 == 0:
                await asyncio.sleep(0)

    async def _resume_from_committed(self) -> None:
        """Once the tables are recovered, put every assigned input partition where the
        group resumes it (committed offset, else its beginning). Faust seeks there itself,
        but records it fetched while the partition was paused for recovery are dropped and
        its position stays past them when it found no committed offset: records never
        processed, and on an idle partition no later record shows the hole to
        `partition_order`."""
        await faust_internals.tables_recovered(self.app)
        assigned = self._assigned_inputs()
        for (topic, partition), offset in (await self.partition_order.committed()).items():
            if (topic, partition) in assigned:
                await self._seek(topic, partition, offset)
