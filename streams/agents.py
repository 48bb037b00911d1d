"""Faust agents: decode, look up, call the pure domain functions, store, send. No rules here."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.partitioner import murmur2
from faust.types import TP, EventT

from streams import metrics, records, topics
from streams.app import (
    app,
    customers,
    identities,
    identity_guard,
    names,
    policy,
    schedules,
    serializer,
    settings,
    utcnow,
)
from streams.delivery import Outbox
from streams.domain.contact_policy import ContactRecheck, PolicyInputs
from streams.domain.customer import CustomerState, new_identities
from streams.domain.decisions import Decision, process, recheck
from streams.domain.events import CampaignTarget, Interaction
from streams.domain.links import (
    IdentityLink,
    anonymous_customer_id,
    identity_key,
    is_context_identity,
    resolving_identities,
)
from streams.domain.names import IndexUpdate, Summary, apply_update, index_updates, summary_of
from streams.domain.resolution import (
    Command,
    ProfileMerge,
    ProfileUnmerge,
    on_link,
    on_merge,
    on_unmerge,
    redirected,
)
from streams.domain.screen_pop import screen_pop_for
from streams.partition_order import PartitionOrder
from streams.policy_book import dnc_book, policy_book
from streams.serialization import DeadLetter, SerializationError, ensure_within
from streams.wake_ups import WakeUps, decode_schedule, encode_schedule, schedule_of

log = logging.getLogger(__name__)

_applied = metrics.events.labels(agent="customer", outcome="applied")
_duplicates = metrics.events.labels(agent="customer", outcome="duplicate")

IDENTITY_TOPIC = f"{settings.app_id}-{topics.IDENTITY_SUFFIX}"
CUSTOMER_COMMANDS_TOPIC = f"{settings.app_id}-{topics.CUSTOMER_COMMANDS_SUFFIX}"
SCREEN_POPS_TOPIC = f"{settings.app_id}-{topics.SCREEN_POPS_SUFFIX}"
NAME_INDEX_TOPIC = f"{settings.app_id}-{topics.NAME_INDEX_SUFFIX}"

_raw: dict[str, Any] = {
    "key_type": bytes,
    "value_type": bytes,
    "key_serializer": "raw",
    "value_serializer": "raw",
}
# Two agents fold into the customers table: one reads the public interaction log (events
# already keyed by customer id), one the internal topic of commands re-keyed to their
# customer. Both topics have the table's partition count, so Faust assigns the same
# partitions of all three to the same worker. (One agent over both topics would do, but
# Faust reads a multi-topic subscription markedly slower.)
interactions_topic = app.topic(topics.INTERACTIONS, **_raw)
customer_commands_topic = app.topic(CUSTOMER_COMMANDS_TOPIC, **_raw)
identity_topic = app.topic(IDENTITY_TOPIC, **_raw)
name_index_topic = app.topic(NAME_INDEX_TOPIC, **_raw)
targets_topic = app.topic(topics.CAMPAIGN_TARGETS, **_raw)
_CONSUMED_TOPICS = (
    interactions_topic,
    customer_commands_topic,
    identity_topic,
    name_index_topic,
    targets_topic,
)


# The contact rules read every campaign's policy and the do-not-contact lists, which each
# worker keeps whole (streams.policy_book).
policy_inputs = PolicyInputs(policy_for=policy_book.latest, dnc_for=dnc_book.entries_for)
wake_ups = WakeUps()


def _produce(
    topic: str, key: bytes | None, value: bytes | None, timestamp: float | None, headers: Any
) -> Awaitable[Any]:
    return app.producer.send(topic, key, value, None, timestamp, headers)


# Every record the agents produce, and every table write and acknowledgement waiting on
# their delivery (streams.delivery says why).
outbox = Outbox(
    _produce,
    batch_size=int(os.environ.get("TOUCHLINE_SETTLE_BATCH", "500")),
    held_topics=[t for t in os.environ.get("TOUCHLINE_FAULT_HOLD_TOPICS", "").split(",") if t],
)


async def send(record: records.Record) -> None:
    await outbox.send(record.topic, record.key, record.value, headers=record.headers)


def _assigned_inputs() -> set[tuple[str, int]]:
    consumed = {t.get_topic_name() for t in _CONSUMED_TOPICS}
    return {(tp.topic, tp.partition) for tp in app.consumer.assignment() if tp.topic in consumed}


async def _committed_offsets() -> dict[tuple[str, int], int]:
    """Where the group resumes each assigned input partition: its committed offset, else
    the partition's beginning. Right after a restart the broker can answer without the
    offsets the group committed (seen with a static member rejoining): while an assigned
    partition has none, ask again, for a few seconds (a new group has none)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5.0
    while True:
        offsets = await _read_committed_offsets()
        missing = _assigned_inputs() - offsets.keys()
        if not missing or loop.time() > deadline:
            break
        await asyncio.sleep(0.25)
    if missing:
        # Nothing committed: the group starts at the beginning (auto_offset_reset).
        earliest = await app.consumer.earliest_offsets(*(TP(t, p) for t, p in missing))
        offsets.update({(tp.topic, tp.partition): offset for tp, offset in earliest.items()})
    return offsets


async def _read_committed_offsets() -> dict[tuple[str, int], int]:
    """Asked of the broker until it answers."""
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
        try:
            await asyncio.wait_for(admin.start(), 10.0)
            offsets = await asyncio.wait_for(
                admin.list_consumer_group_offsets(settings.app_id), 10.0
            )
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


async def _resume_from_committed() -> None:
    """Once the tables are recovered, put every assigned input partition where the group
    resumes it (committed offset, else its beginning). Faust seeks there itself, but
    records it fetched while the partition was paused for recovery are dropped and its
    position stays past them when it found no committed offset: records never processed,
    and on an idle partition no later record shows the hole to `partition_order`."""
    recovery = app.tables.recovery  # type: ignore[attr-defined]
    while not recovery.completed.is_set():
        await asyncio.sleep(0.1)
    assigned = _assigned_inputs()
    for (topic, partition), offset in (await partition_order.committed()).items():
        if (topic, partition) in assigned:
            await _seek(topic, partition, offset)


async def _seek(topic: str, partition: int, offset: int) -> None:
    await app.consumer.seek(TP(topic, partition), offset)


partition_order = PartitionOrder(_committed_offsets, _seek)


def owner_partition(key: bytes) -> int:
    """The partition that owns a customer key: murmur2, as Java's and aiokafka's default
    partitioners hash it, over the customers table's partitions."""
    return (murmur2(key) & 0x7FFFFFFF) % settings.partitions


def log_time(event: EventT) -> datetime:
    """The moment decisions about a record are taken: the record's own timestamp in the
    log, so that replaying the log decides the same, byte for byte (the clock only for a
    record without one)."""
    stamp = event.message.timestamp
    return datetime.fromtimestamp(stamp, UTC) if stamp and stamp > 0 else utcnow()


async def forward(topic: str, key: bytes, value: bytes | None, event: EventT) -> None:
    """Send on, keeping the record's timestamp: the decision time travels with it."""
    stamp = event.message.timestamp
    await outbox.send(topic, key, value, timestamp=stamp if stamp and stamp > 0 else None)


# A dead letter keeps at most this much of the original value: the letter itself must
# fit on the dead-letter topic, or the worker could never get past the record.
DEAD_LETTER_KEPT_BYTES = 512 * 1024


_background: set[asyncio.Task[None]] = set()  # held, so the loop does not drop them


async def dead_letter(event: EventT, error: Exception) -> None:
    message = event.message
    await _dead_letter(
        message.topic, message.partition, message.offset, message.key, message.value, error
    )


async def _dead_letter(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    error: Exception,
) -> None:
    reason = error.reason if isinstance(error, SerializationError) else str(error)
    if value is not None and len(value) > DEAD_LETTER_KEPT_BYTES:
        reason += f" (the value's first {DEAD_LETTER_KEPT_BYTES} of {len(value)} bytes kept)"
        value = value[:DEAD_LETTER_KEPT_BYTES]
    log.warning("dead letter from %s[%d]@%d: %s", topic, partition, offset, type(error).__name__)
    letter = DeadLetter(
        topic=topic,
        partition=partition,
        offset=offset,
        key=key,
        value=value,
        error=reason,
        error_type=type(error).__name__,
    )
    await send(records.dead_letter(serializer, letter))
    metrics.events.labels(agent="any", outcome="dead_letter").inc()


def _dead_letter_from_book(
    topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None, reason: str
) -> None:
    """A bad record on the policies or DNC topic (read by every worker, without a group)."""
    letter = _dead_letter(topic, partition, offset, key, value, SerializationError(reason))
    task = asyncio.get_running_loop().create_task(letter)
    _background.add(task)
    task.add_done_callback(_background.discard)


policy_book.on_bad_record = _dead_letter_from_book
dnc_book.on_bad_record = _dead_letter_from_book


def _decode(event: EventT) -> Any:
    return serializer.decode_model(event.value)


def _key(event: EventT) -> str:
    key = event.key
    return key.decode() if isinstance(key, bytes) else str(key)


async def _handle_each(stream: Any, handle: Callable[[EventT], Awaitable[None]]) -> None:
    """The loop of every agent: handle each event; a record that cannot be handled is a
    dead letter. The event is acknowledged (its offset may be committed) only once the
    outbox has delivered what it caused and stored the state that remembers it. Producer
    and broker errors never get here: the outbox waits for them, or stops the worker."""
    async for event in stream.noack().events():
        message = event.message
        if not await partition_order.admit(message.topic, message.partition, message.offset):
            continue
        try:
            ensure_within(message.value, settings.max_record_bytes)
            await handle(event)
        except Exception as exc:
            await dead_letter(event, exc)
        acknowledge = partition_order.acknowledgement(
            message.topic, message.partition, message.offset, event.ack
        )
        if acknowledge is not None:
            outbox.finished(acknowledge)
        await outbox.pace()


@app.agent(interactions_topic)
async def customer_agent(stream: Any) -> None:
    await _fold_customers(stream)


@app.agent(customer_commands_topic)
async def customer_commands_agent(stream: Any) -> None:
    await _fold_customers(stream)


async def _fold_customers(stream: Any) -> None:
    # Decisions read the campaign policies and the DNC list: never decide without them.
    await policy_book.ready()
    await dnc_book.ready()
    await _handle_each(stream, _fold_customer_record)


async def _fold_customer_record(event: EventT) -> None:
    fact = _decode(event)
    if isinstance(fact, ProfileMerge | ProfileUnmerge):
        await _route_or_command(event, fact)
    elif isinstance(fact, ContactRecheck):
        await _recheck(event, fact)
    elif isinstance(fact, Interaction | CampaignTarget):
        await _route_or_apply(event, fact)
    else:
        raise SerializationError(f"{type(fact).__name__} does not belong on {event.message.topic}")


async def _route_or_apply(event: EventT, fact: Interaction | CampaignTarget) -> None:
    key = _key(event)
    customer_id = (
        fact.customer_id if isinstance(fact, CampaignTarget) else fact.customer.customer_id
    )
    if customer_id is None:
        assert isinstance(fact, Interaction)
        identities = [i for i in resolving_identities(fact) if identity_guard.linkable(i)]
        if not identities:
            if not resolving_identities(fact):
                raise SerializationError("interaction names no customer id and no identity")
            # Only shared or placeholder identities: they never join anyone, so the event
            # gets a profile of its own instead of one shared by everybody who typed them.
            identities = [identity_key("event", fact.event_id)]
        await forward(IDENTITY_TOPIC, identities[0].encode(), event.value, event)
        metrics.events.labels(agent="customer", outcome="to_identity").inc()
        return
    if key != customer_id or owner_partition(key.encode()) != event.message.partition:
        # Keyed by something else, or put on a partition that does not own the customer
        # (a producer with another partitioner): move it to the owner, never apply it here.
        await forward(CUSTOMER_COMMANDS_TOPIC, customer_id.encode(), event.value, event)
        metrics.events.labels(agent="customer", outcome="rekeyed").inc()
        return
    await _apply(customer_id, fact, log_time(event))


class StateCache:
    """The latest state of recently seen customers, so a busy customer's state is not read
    back and decoded from RocksDB on every event. Emptied on every rebalance: another
    worker may have changed a customer while its partition was away."""

    def __init__(self, capacity: int = 50_000) -> None:
        self.capacity = capacity
        self._states: dict[str, CustomerState] = {}

    def get(self, customer_id: str) -> CustomerState | None:
        state = self._states.get(customer_id)
        if state is None:
            state = outbox.get(customers, customer_id)
            if state is not None:
                self.put(customer_id, state)
        return state

    def put(self, customer_id: str, state: CustomerState) -> None:
        if len(self._states) >= self.capacity and customer_id not in self._states:
            self._states.clear()  # cheap and safe: the table and the outbox are the truth
        self._states[customer_id] = state

    def clear(self) -> None:
        self._states.clear()


state_cache = StateCache()


async def _forget_states(app: Any, *args: Any, **kwargs: Any) -> None:
    state_cache.clear()


async def _forget_unsettled(app: Any, *args: Any, **kwargs: Any) -> None:
    # What is not settled yet is neither stored nor acknowledged: the partitions' next
    # owner (maybe this worker again) reads those events again from the committed offset.
    outbox.drop()
    state_cache.clear()
    partition_order.reset()


app.on_partitions_revoked.connect(_forget_unsettled)  # type: ignore[arg-type]
app.on_partitions_assigned.connect(_forget_states)  # type: ignore[arg-type]


class CustomerLocks:
    """One lock per customer while anyone holds or waits for it. Both customer agents may
    hold events for one customer, and the sends in between yield to the loop: without it,
    two events could fold into the same old state and one update would be lost."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, customer_id: str) -> AsyncIterator[None]:
        entry = self._entries.get(customer_id)
        if entry is None:
            entry = self._entries[customer_id] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._entries[customer_id]

    def __len__(self) -> int:
        return len(self._entries)


customer_locks = CustomerLocks()


async def _apply(
    customer_id: str, fact: Interaction | CampaignTarget, now: datetime | None = None
) -> None:
    async with customer_locks.hold(customer_id):
        await _apply_locked(customer_id, fact, now or utcnow())


async def _apply_locked(
    customer_id: str, fact: Interaction | CampaignTarget, now: datetime
) -> None:
    state = state_cache.get(customer_id) or CustomerState.new(customer_id)
    survivor = redirected(customer_id, state)
    if survivor is not None:
        # Merged into another profile: the event belongs to the survivor now.
        await _send_command_for(survivor, _for_customer(fact, survivor), now.timestamp())
        metrics.events.labels(agent="customer", outcome="redirected").inc()
        return
    outcome = process(state, fact, policy, now, policy_inputs)
    if outcome.duplicate:
        # Seen already. A redelivery after a crash can find its state in the local store
        # while its changelog record was lost with the process: store it once more, so the
        # changelog (what another worker or a wiped store recovers from) has it too.
        outbox.put(customers, customer_id, state)
        _duplicates.inc()
        return
    source = fact.event_id if isinstance(fact, Interaction) else fact.upload_id
    # Whatever is sent here is delivered before the state is stored (streams.delivery):
    # until then a redelivered event decides again (decision ids are deterministic).
    for kind, value in new_identities(state, outcome.state):
        identity = identity_key(kind, value)
        if not identity_guard.linkable(identity):
            continue  # shared or placeholder values never link anyone
        link = IdentityLink(identity=identity, customer_id=customer_id, source_event_id=source)
        await send(records.identity_link(serializer, IDENTITY_TOPIC, link))
    await _send_decisions(outcome.decisions)
    pop = screen_pop_for(fact, customer_id) if isinstance(fact, Interaction) else None
    if pop is not None:
        await send(records.screen_pop(serializer, SCREEN_POPS_TOPIC, pop))
    await _index_names(state, outcome.state)
    _store(customer_id, outcome.state, state)
    _applied.inc()


def _store(customer_id: str, state: CustomerState, before: CustomerState | None) -> None:
    outbox.put(customers, customer_id, state)
    state_cache.put(customer_id, state)
    wake_ups.track(state)
    schedule = schedule_of(state)
    if schedule != schedule_of(before):
        if schedule is None:
            if outbox.get(schedules, customer_id) is not None:
                outbox.delete(schedules, customer_id)
        else:
            outbox.put(schedules, customer_id, encode_schedule(schedule))


async def _send_decisions(decisions: Iterable[Decision]) -> None:
    for decision in decisions:
        await send(records.decision(serializer, decision))
        metrics.decisions.labels(kind=type(decision).__name__).inc()


async def _recheck(event: EventT, command: ContactRecheck) -> None:
    """Ask the contact rules again about a customer, at the moment the command names."""
    key = _key(event)
    if key != command.customer_id:
        await _send_command_for(command.customer_id, command)
        return
    async with customer_locks.hold(command.customer_id):
        state = state_cache.get(command.customer_id)
        if state is None or state.merged_into is not None:
            return
        outcome = recheck(state, policy_inputs, command.at, command.check_id)
        if outcome.state is state:
            metrics.events.labels(agent="customer", outcome="recheck_unchanged").inc()
            return
        await _send_decisions(outcome.decisions)
        _store(command.customer_id, outcome.state, state)
        metrics.events.labels(agent="customer", outcome="rechecked").inc()


_changed_campaigns: set[str] = set()
_changed_identities: set[str] = set()
policy_book.listeners.append(_changed_campaigns.add)
dnc_book.listeners.append(_changed_identities.add)


def _customers_to_recheck() -> list[tuple[str, str]]:
    """(customer, reason) of this worker's customers a new policy version or DNC entry
    concerns: those a changed campaign targets, and those holding a changed identity."""
    found: dict[str, str] = {}
    while _changed_campaigns:
        for customer_id in wake_ups.targeted(_changed_campaigns.pop()):
            found.setdefault(customer_id, "policy")
    while _changed_identities:
        known = identities.get(_changed_identities.pop())  # None unless owned here
        if known is not None:
            found.setdefault(known.decode() if isinstance(known, bytes) else known, "dnc")
    return sorted(found.items())


@app.timer(interval=1.0)
async def wake_customers() -> None:
    """Customers whose holds end (or whose quiet hours begin) now are asked again: a
    command each, on the customer-commands topic, so the log says when and why."""
    if not policy_book.is_ready:
        return
    now = utcnow()
    for customer_id, at in wake_ups.due(now):
        command = ContactRecheck(customer_id=customer_id, at=at, reason="wake-up")
        await _send_command_for(customer_id, command)
        metrics.events.labels(agent="customer", outcome="wake_up").inc()
    for customer_id, reason in _customers_to_recheck():
        command = ContactRecheck(customer_id=customer_id, at=now, reason=reason)
        await _send_command_for(customer_id, command)
        metrics.events.labels(agent="customer", outcome=f"recheck_{reason}").inc()


async def _track_assigned(app: Any, *args: Any, **kwargs: Any) -> None:
    """After a rebalance, the wake-ups of the customers this worker now owns."""
    wake_ups.clear()

    async def scan() -> None:
        for seen, (customer_id, raw) in enumerate(schedules.items(), start=1):
            with contextlib.suppress(ValueError, TypeError, KeyError):
                key = customer_id.decode() if isinstance(customer_id, bytes) else customer_id
                wake_ups.track_schedule(key, *decode_schedule(raw))
            if seen % 1000 == 0:
                await asyncio.sleep(0)  # a big table must not stall the event loop

    async def warm() -> None:
        # Read the owned customer states once, raw and undecoded, once the tables are
        # recovered: RocksDB keeps what it reads in its block cache, so the first view
        # of a customer needs no disk read (a page cache may have been reclaimed).
        recovery = app.tables.recovery  # type: ignore[attr-defined]
        while not recovery.completed.is_set():
            await asyncio.sleep(0.5)
        read = getattr(customers.data, "_itervalues", None)
        if read is None:
            return
        for seen, _ in enumerate(read(), start=1):
            if seen % 5000 == 0:
                await asyncio.sleep(0)

    loop = asyncio.get_running_loop()
    for work in (scan(), warm(), _resume_from_committed()):
        task = loop.create_task(work)
        _background.add(task)  # held, so the loop does not drop it half-way
        task.add_done_callback(_background.discard)


app.on_partitions_assigned.connect(_track_assigned)  # type: ignore[arg-type]


async def _index_names(before: CustomerState | None, after: CustomerState) -> None:
    for update in index_updates(summary_of(before), summary_of(after)):
        summary = update.summary.as_json() if update.summary else None
        value = json.dumps({"customer_id": update.customer_id, "summary": summary}).encode()
        await outbox.send(NAME_INDEX_TOPIC, update.token.encode(), value)


def _for_customer(
    fact: Interaction | CampaignTarget, customer_id: str
) -> Interaction | CampaignTarget:
    if isinstance(fact, CampaignTarget):
        return fact.model_copy(update={"customer_id": customer_id})
    return fact.model_copy(
        update={"customer": fact.customer.model_copy(update={"customer_id": customer_id})}
    )


async def _send_command_for(customer_id: str, command: Any, timestamp: float | None = None) -> None:
    topic = topics.INTERACTIONS if isinstance(command, Interaction) else None
    value = serializer.encode_model(command, topic)
    await outbox.send(CUSTOMER_COMMANDS_TOPIC, customer_id.encode(), value, timestamp=timestamp)


async def _route_or_command(event: EventT, command: Command) -> None:
    key = _key(event)
    if key != command.target_id:
        await _send_command_for(command.target_id, command)
        return
    async with customer_locks.hold(command.target_id):
        state = state_cache.get(command.target_id)
        if isinstance(command, ProfileMerge):
            step = on_merge(state, command, identity_guard, utcnow())
        else:
            step = on_unmerge(state, command, utcnow())
        kind = type(command).__name__
        if step.note is not None:
            log.info("%s %s %s: %s", kind, command.step.value, command.target_id, step.note)
        # As for events, what is sent is delivered before the state is stored.
        for link in step.links:
            await send(records.identity_link(serializer, IDENTITY_TOPIC, link))
        await _send_decisions(step.decisions)
        for onward in step.commands:
            await _send_command_for(onward.target_id, onward)
        if step.state is not None:
            await _index_names(state, step.state)
            _store(command.target_id, step.state, state)
        metrics.events.labels(
            agent="customer", outcome=f"{kind}.{command.step.value}.{step.note or 'applied'}"
        ).inc()


@app.agent(identity_topic)
async def identity_agent(stream: Any) -> None:
    """Links identities to customers, and resolves events that came without a customer id."""
    await _handle_each(stream, _resolve_identity)


def _holder(identity: str) -> str | None:
    known = outbox.get(identities, identity)
    return known.decode() if isinstance(known, bytes) else known


async def _resolve_identity(event: EventT) -> None:
    fact = _decode(event)
    identity = _key(event)
    if isinstance(fact, IdentityLink):
        holder = _holder(identity)
        new_holder, merge = on_link(holder, fact, utcnow())
        if merge is not None:
            await _send_command_for(merge.target_id, merge)
            metrics.events.labels(agent="identity", outcome="merge_requested").inc()
        if new_holder is not None:
            # Even when unchanged: as for customer states, a redelivered link restores a
            # changelog record that a crash may have lost.
            outbox.put(identities, identity, new_holder)
    elif isinstance(fact, Interaction):
        customer_id = _holder(identity)
        if customer_id is None and is_context_identity(identity):
            # A token no contact made here (expired, mistyped, forged): resolve by the
            # next identity the event carries, never by the token itself.
            rest = [i for i in resolving_identities(fact) if not is_context_identity(i)]
            if rest:
                await forward(IDENTITY_TOPIC, rest[0].encode(), event.value, event)
                return
        if customer_id is None:
            customer_id = anonymous_customer_id(identity)
            outbox.put(identities, identity, customer_id)
        resolved = fact.model_copy(
            update={"customer": fact.customer.model_copy(update={"customer_id": customer_id})}
        )
        value = serializer.encode_model(resolved, topics.INTERACTIONS)
        await forward(CUSTOMER_COMMANDS_TOPIC, customer_id.encode(), value, event)
    else:
        raise SerializationError(f"{type(fact).__name__} does not belong on {IDENTITY_TOPIC}")


@app.agent(name_index_topic)
async def name_index_agent(stream: Any) -> None:
    """Keeps the name index: which customers each name token lists."""
    await _handle_each(stream, _index_name)


async def _index_name(event: EventT) -> None:
    token = _key(event)
    update = json.loads(event.value)
    summary = update.get("summary")
    current = outbox.get(names, token)
    entries = [Summary.from_json(e) for e in json.loads(current)] if current else []
    entries = apply_update(
        entries,
        IndexUpdate(
            token=token,
            customer_id=str(update["customer_id"]),
            summary=Summary.from_json(summary) if summary else None,
        ),
    )
    outbox.put(names, token, json.dumps([e.as_json() for e in entries]).encode())


@app.agent(targets_topic)
async def targets_agent(stream: Any) -> None:
    """Campaign targets are keyed by campaign:customer; re-key them to their customer."""
    await _handle_each(stream, _rekey_target)


async def _rekey_target(event: EventT) -> None:
    fact = _decode(event)
    if not isinstance(fact, CampaignTarget):
        raise SerializationError(f"{type(fact).__name__} is not a CampaignTarget")
    await forward(CUSTOMER_COMMANDS_TOPIC, fact.customer_id.encode(), event.value, event)
