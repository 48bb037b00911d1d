"""Fault injection on loopback: a steady load through a fresh local Kafka and hub workers
while workers are SIGKILLed, wiped and rebalanced and the broker is restarted or cut off;
an oracle folds the same log through the pure domain and says what the hub lost, got
wrong or left unapplied. Prints one JSON object per scenario; exits 1 if any is not ok."""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import heapq
import itertools
import json
import logging
import os
import random
import shutil
import signal
import sys
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.structs import ConsumerRecord

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from streams.config import Settings  # noqa: E402
from streams.domain.campaign_policy import CampaignPolicy, default_policy  # noqa: E402
from streams.domain.contact_holds import PolicyInputs  # noqa: E402
from streams.domain.customer import DEDUP_WINDOW, CustomerState  # noqa: E402
from streams.domain.decisions import (  # noqa: E402
    DialListEntry,
    DialListRemoval,
    ReplyRules,
    Suppression,
    process,
)
from streams.domain.events import (  # noqa: E402
    CampaignTarget,
    CustomerRef,
    Interaction,
    Message,
    OfferPresented,
    Purchase,
)
from streams.domain.model import Channel, Direction  # noqa: E402
from streams.kafka.admin import ensure_topics, partition_leaders  # noqa: E402
from streams.kafka.admin import partitions_of as kafka_partitions  # noqa: E402
from streams.kafka.local import Listener, LocalKafka  # noqa: E402
from streams.wire import outgoing, topics  # noqa: E402
from streams.wire.serialization import AvroSerializer  # noqa: E402
from streams.wire.state_codec import decode_state  # noqa: E402
from tests.hub import HubWorker, free_ports  # noqa: E402

log = logging.getLogger("chaos")
M = TypeVar("M")
serializer = AvroSerializer()

SOURCE = "/chaos"
CAMPAIGNS = tuple(f"chaos-campaign-{n}" for n in range(8))
# Of --rate interactions per second: background events, and journeys started (each
# journey brings one or two targets and two or three interactions).
BACKGROUND_SHARE = 0.8
JOURNEY_SHARE = 0.08
BACKGROUND_MESSAGES = (  # (channel, direction, text) of background events; or a purchase
    (Channel.EMAIL, Direction.OUTBOUND, "Your statement is ready"),
    (Channel.SMS, Direction.OUTBOUND, "Your one-time code is 4821"),
    (Channel.WEB, Direction.INBOUND, "viewed the card limits page"),
    (Channel.MOBILE_APP, Direction.INBOUND, "opened the app"),
)
JOURNEYS = {  # kind → weight
    "accept": 30,
    "decline": 20,
    "opt-out": 15,
    "two-offers": 15,
    "unanswered": 10,
    "target-only": 10,
}
REPLIES = {
    "accept": ("YES", " evet ", "Yes."),
    "two-offers": ("YES", "Y"),
    "decline": ("NO", "Hayır"),
    "opt-out": ("STOP", "İPTAL"),
}
DRAIN_TIMEOUT_S = 240.0
STALLED_S = 60
HEALTHY_TIMEOUT_S = 180.0
PRODUCE_TIMEOUT_MS = 180_000


def customer_id(n: int) -> str:
    return f"chaos-{n:05d}"


def phone_of(n: int) -> str:
    return f"+90533{n:07d}"


def since(start: float) -> float:
    return round(time.monotonic() - start, 1)


# -- load ------------------------------------------------------------------------------


Maker = Callable[[], outgoing.Record]


class Load:
    """The steady mix, produced straight to Kafka: customer journeys (a campaign target
    upload, an SMS offer for that campaign a little later, then an SMS reply) and background
    events on other channels. A customer has one journey, so their decisions do not depend
    on how the targets topic and the interactions topic interleave."""

    def __init__(self, bootstrap: str, rate: float, customers: int, rng: random.Random) -> None:
        self.bootstrap = bootstrap
        self.rate = rate
        self.customers = customers
        self.rng = rng
        self.acked: Counter[str] = Counter()
        self.failed = 0
        self._ids = itertools.count()
        self._next_customer = 0
        self._steps: list[tuple[float, int, Maker]] = []
        self._pending: set[asyncio.Future[Any]] = set()

    async def run(self, seconds: float) -> None:
        producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap,
            acks="all",
            linger_ms=5,
            request_timeout_ms=PRODUCE_TIMEOUT_MS,
            retry_backoff_ms=500,
        )
        await producer.start()
        try:
            await self._steady(producer, seconds)
            for _, _, make in sorted(self._steps):  # journeys under way end now, in order
                await self._send(producer, make())
            await asyncio.gather(*self._pending, return_exceptions=True)
        finally:
            await producer.stop()

    async def _steady(self, producer: AIOKafkaProducer, seconds: float) -> None:
        tick = 0.05
        started = next_at = time.monotonic()
        journeys = background = 0.0
        while time.monotonic() - started < seconds:
            journeys += self.rate * JOURNEY_SHARE * tick
            background += self.rate * BACKGROUND_SHARE * tick
            while journeys >= 1:
                journeys -= 1
                self._begin_journey()
            while background >= 1:
                background -= 1
                await self._send(producer, self._background())
            while self._steps and self._steps[0][0] <= time.monotonic():
                await self._send(producer, heapq.heappop(self._steps)[2]())
            next_at = max(next_at + tick, time.monotonic() - 1.0)  # no bursts after a stall
            await asyncio.sleep(max(0.0, next_at - time.monotonic()))

    async def _send(self, producer: AIOKafkaProducer, record: outgoing.Record) -> None:
        try:
            future = await producer.send(
                record.topic, record.value, key=record.key, headers=record.headers
            )
        except Exception as exc:
            self.failed += 1
            log.warning("produce to %s failed: %s", record.topic, exc)
            return
        self._pending.add(future)
        future.add_done_callback(partial(self._done, record.topic))

    def _done(self, topic: str, future: asyncio.Future[Any]) -> None:
        self._pending.discard(future)
        if future.cancelled() or future.exception() is not None:
            self.failed += 1
        else:
            self.acked[topic] += 1

    def _begin_journey(self) -> None:
        if self._next_customer >= self.customers:
            return
        n = self._next_customer
        self._next_customer += 1
        at = time.monotonic()
        for delay, make in self._journey(n):
            at += delay
            heapq.heappush(self._steps, (at, next(self._ids), make))

    def _journey(self, n: int) -> list[tuple[float, Maker]]:
        """(delay after the previous step, record) for one customer: targets, offers, reply."""
        kind = self.rng.choices(list(JOURNEYS), weights=list(JOURNEYS.values()))[0]
        campaigns = self.rng.sample(CAMPAIGNS, 2 if kind == "two-offers" else 1)
        steps: list[tuple[float, Maker]] = [(0.0, partial(self._target, n, c)) for c in campaigns]
        if kind == "target-only":
            return steps
        steps += [(self.rng.uniform(1, 3), partial(self._offer, n, c)) for c in campaigns]
        if kind in REPLIES:
            text = self.rng.choice(REPLIES[kind])
            steps.append((self.rng.uniform(1, 5), partial(self._reply, n, text)))
        return steps

    def _target(self, n: int, campaign_id: str) -> outgoing.Record:
        target = CampaignTarget(
            campaign_id=campaign_id,
            customer_id=customer_id(n),
            phone=phone_of(n),
            priority=n % 10,
            uploaded_at=datetime.now(UTC),
            upload_id=f"upload-{next(self._ids)}",
        )
        return outgoing.campaign_target(serializer, target, SOURCE)

    def _offer(self, n: int, campaign_id: str) -> outgoing.Record:
        offer = OfferPresented(campaign_id=campaign_id, offer_id=f"offer-{n}-{campaign_id}")
        return self._interaction(n, Channel.SMS, Direction.OUTBOUND, offer)

    def _reply(self, n: int, text: str) -> outgoing.Record:
        return self._interaction(n, Channel.SMS, Direction.INBOUND, Message(text=text))

    def _background(self) -> outgoing.Record:
        n = self.rng.randrange(self.customers)
        kind = self.rng.randrange(len(BACKGROUND_MESSAGES) + 1)
        if kind < len(BACKGROUND_MESSAGES):
            channel, direction, text = BACKGROUND_MESSAGES[kind]
            return self._interaction(n, channel, direction, Message(text=text))
        purchase = Purchase(amount=Decimal("42.50"), currency="TRY", product="card")
        return self._interaction(n, Channel.BRANCH, Direction.INBOUND, purchase)

    def _interaction(
        self, n: int, channel: Channel, direction: Direction, payload: Any
    ) -> outgoing.Record:
        event = Interaction(
            event_id=f"ev-{next(self._ids)}",
            occurred_at=datetime.now(UTC),
            channel=channel,
            direction=direction,
            customer=CustomerRef(customer_id=customer_id(n), phone=phone_of(n)),
            payload=payload,
        )
        return outgoing.interaction(serializer, event, SOURCE)


# -- faults ----------------------------------------------------------------------------


@dataclass
class ChaosWorker(HubWorker):
    """A hub worker (tests/hub.py) that is launched without waiting for it, SIGKILLed,
    and whose local store can be wiped."""

    name: str = "worker"
    _launching: bool = field(default=False, init=False, repr=False)

    def launch(self) -> float:
        """Start the process and return at once, with the moment it was started."""
        self._launching = True
        try:
            self.start()
        finally:
            self._launching = False
        return time.monotonic()

    def wait_healthy(self, timeout: float = 90.0) -> None:
        if not self._launching:
            super().wait_healthy(timeout)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def wipe(self) -> None:
        shutil.rmtree(self.data_dir / "worker", ignore_errors=True)

    @property
    def exited(self) -> bool:
        return self.process is not None and self.process.poll() is not None


async def seconds_to_healthy(
    worker: ChaosWorker, launched_at: float, timeout: float
) -> float | None:
    """Seconds from launch until /healthz answers 200; None if this process died or was
    replaced first, or the timeout passed."""
    process = worker.process
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
        while time.monotonic() < deadline:
            if worker.process is not process or (process and process.poll() is not None):
                return None
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                async with http.get(f"{worker.url}/healthz") as response:
                    if response.status == 200:
                        return round(time.monotonic() - launched_at, 2)
            await asyncio.sleep(0.2)
    return None


class BrokerRelay:
    """A TCP relay on loopback between the workers and the broker's relayed listener;
    `cut` closes its socket and every connection through it, `mend` opens it again."""

    def __init__(self, port: int, broker_port: int) -> None:
        self.port = port
        self.broker_port = broker_port
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def mend(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def cut(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()
        self._writers.clear()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            upstream_reader, upstream = await asyncio.open_connection("127.0.0.1", self.broker_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, upstream))
        await asyncio.gather(
            self._pipe(reader, upstream),
            self._pipe(upstream_reader, writer),
            return_exceptions=True,
        )
        for end in (writer, upstream):
            self._writers.discard(end)
            end.transport.abort()

    @staticmethod
    async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        finally:
            writer.transport.abort()


@dataclass
class Run:
    """One scenario under way: its broker, workers, relay, the faults so far."""

    name: str
    seconds: float
    rng: random.Random
    data: Path
    brokers: list[LocalKafka]
    workers: list[ChaosWorker]
    relay: BrokerRelay | None = None
    faults: list[dict[str, Any]] = field(default_factory=list)
    recoveries: list[asyncio.Task[float | None]] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    load_done: bool = False

    @property
    def bootstrap(self) -> str:
        """Every broker's own listener: for the load and the reading back."""
        return ",".join(b.bootstrap for b in self.brokers)

    async def start_brokers(self) -> None:
        """Start (or find running) every broker, together: a quorum needs a majority up."""
        await asyncio.gather(*(asyncio.to_thread(b.start, 120) for b in self.brokers))

    def note(self, kind: str, **detail: Any) -> None:
        fault = {"kind": kind, "at": since(self.started), **detail}
        self.faults.append(fault)
        log.info("%s: %s", self.name, fault)

    def restart(self, worker: ChaosWorker, *, wipe: bool = False, kill: bool = True) -> None:
        """SIGKILL (unless it is already gone), wipe if asked, and start again at once."""
        if kill:
            worker.kill()
            self.note("kill", worker=worker.name, wiped=wipe)
        if wipe:
            worker.wipe()
        launched_at = worker.launch()
        task = asyncio.create_task(seconds_to_healthy(worker, launched_at, HEALTHY_TIMEOUT_S))
        self.recoveries.append(task)

    async def supervise(self) -> None:
        """A worker that died by itself is a finding: note it and start it again."""
        while True:
            await asyncio.sleep(0.5)
            for worker in self.workers:
                if worker.exited:
                    assert worker.process is not None
                    self.note("worker-exited", worker=worker.name, code=worker.process.returncode)
                    log.warning("%s exited by itself:\n%s", worker.name, worker.log_tail(20))
                    self.restart(worker, kill=False)


async def kill_repeatedly(run: Run, worker: ChaosWorker, *, wipe: bool) -> None:
    while True:
        await asyncio.sleep(run.rng.uniform(2, 6))
        if run.load_done:
            return
        run.restart(worker, wipe=wipe)


async def kill_kept(run: Run) -> None:
    await kill_repeatedly(run, run.workers[0], wipe=False)


async def kill_wiped(run: Run) -> None:
    await kill_repeatedly(run, run.workers[0], wipe=True)


async def two_workers(run: Run) -> None:
    await kill_repeatedly(run, run.workers[-1], wipe=False)


async def broker_restart(run: Run) -> None:
    await asyncio.sleep(run.seconds * run.rng.uniform(0.25, 0.45))
    down = round(run.rng.uniform(5, 10), 1)
    run.note("broker-stop", down_seconds=down)
    await asyncio.to_thread(run.brokers[0].stop)
    await asyncio.sleep(down)
    await run.start_brokers()
    run.note("broker-started")


async def broker_unreachable(run: Run) -> None:
    assert run.relay is not None
    await asyncio.sleep(run.seconds * run.rng.uniform(0.2, 0.4))
    down = round(run.rng.uniform(10, 20), 1)
    run.note("broker-unreachable", down_seconds=down)
    await run.relay.cut()
    await asyncio.sleep(down)
    await run.relay.mend()
    run.note("broker-reachable")


async def leader_killed(run: Run) -> None:
    """SIGKILL the leader of the busiest interactions partition, start it again later."""
    await asyncio.sleep(run.seconds * run.rng.uniform(0.25, 0.4))
    node_id, partition = await busiest_leader(run.bootstrap)
    node = run.brokers[node_id - 1]
    down = round(run.rng.uniform(15, 25), 1)
    run.note("broker-kill", node=node_id, leader_of=partition, down_seconds=down)
    os.kill(node.status()["pid"], signal.SIGKILL)
    await asyncio.sleep(down)
    await run.start_brokers()
    run.note("broker-started", node=node_id)


async def busiest_leader(bootstrap: str) -> tuple[int, int]:
    """(leader node id, partition) of the interactions partition with the most records."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        leaders = await partition_leaders(bootstrap, topics.INTERACTIONS)
        tps = [TopicPartition(topics.INTERACTIONS, p) for p in sorted(leaders)]
        ends = await consumer.end_offsets(tps)
        busiest = max(tps, key=lambda tp: ends[tp])
        return leaders[busiest.partition], busiest.partition
    finally:
        await consumer.stop()


async def no_faults(run: Run) -> None:
    """The control: the same load and checks without any fault."""


@dataclass(frozen=True)
class Scenario:
    name: str
    inject: Callable[[Run], Coroutine[Any, Any, None]]
    workers: int = 1
    relayed: bool = False
    brokers: int = 1


SCENARIOS = {
    s.name: s
    for s in (
        Scenario("kill-kept", kill_kept),
        Scenario("kill-wiped", kill_wiped),
        Scenario("two-workers", two_workers, workers=2),
        Scenario("broker-restart", broker_restart),
        Scenario("broker-unreachable", broker_unreachable, relayed=True),
        Scenario("cluster3", leader_killed, brokers=3),
        Scenario("baseline", no_faults),
    )
}
DEFAULT_SCENARIOS = [n for n in SCENARIOS if n != "baseline"]


# -- reading back ----------------------------------------------------------------------


async def partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    """The topic's partitions; none if it does not exist within a few seconds."""
    return [TopicPartition(topic, p) for p in await kafka_partitions(bootstrap, topic, wait=5.0)]


async def read_topic(bootstrap: str, topic: str, timeout: float = 120.0) -> list[ConsumerRecord]:
    """Every record of `topic` up to its end now, in partition then offset order."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        enable_auto_commit=False,
        # Also the reset of a freshly assigned partition, which may race the seek below.
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        tps = await partitions_of(bootstrap, topic)
        if not tps:
            return []
        consumer.assign(tps)
        ends = await consumer.end_offsets(tps)
        await consumer.seek_to_beginning(*tps)
        found: list[ConsumerRecord] = []
        open_tps = [tp for tp in tps if ends[tp] > 0]
        deadline = time.monotonic() + timeout
        while open_tps:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{topic}: not read to its end in {timeout}s")
            batch = await consumer.getmany(*open_tps, timeout_ms=500)
            for tp, messages in batch.items():
                found += [m for m in messages if m.offset < ends[tp]]
            open_tps = [tp for tp in open_tps if await consumer.position(tp) < ends[tp]]
        return sorted(found, key=lambda m: (m.partition, m.offset))
    finally:
        await consumer.stop()


async def backlog(bootstrap: str, group: str, input_topics: list[str]) -> dict[str, int]:
    """`topic[partition]` → records the group has not committed yet, where any."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        tps = [tp for topic in input_topics for tp in await partitions_of(bootstrap, topic)]
        ends = await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
        await admin.close()
    behind = {}
    for tp in tps:
        done = committed[tp].offset if tp in committed else 0
        if done < ends[tp]:
            behind[f"{tp.topic}[{tp.partition}]"] = ends[tp] - max(done, 0)
    return behind


async def worked_off(
    bootstrap: str, group: str, input_topics: list[str], timeout: float
) -> dict[str, int]:
    """Wait until the group has committed every input partition to its end (twice in a
    row, a little apart); what is still behind when `timeout` passes, or when nothing has
    moved for STALLED_S."""
    deadline = time.monotonic() + timeout
    clean = 0
    behind: dict[str, int] = {}
    moved_at = time.monotonic()
    while time.monotonic() < deadline and clean < 2:
        before = behind
        try:
            behind = await backlog(bootstrap, group, input_topics)
        except Exception as exc:  # a broker still settling: ask again
            log.info("backlog not readable yet: %s", exc)
            behind = {"unknown": -1}
        clean = clean + 1 if not behind else 0
        if behind != before:
            moved_at = time.monotonic()
        elif time.monotonic() - moved_at > STALLED_S:
            log.warning("the backlog has not moved for %ds", STALLED_S)
            break
        await asyncio.sleep(2.0)
    return behind


# -- the oracle and the verdict --------------------------------------------------------


@dataclass
class Expected:
    suppressions: dict[str, Suppression] = field(default_factory=dict)
    listed: dict[str, bool] = field(default_factory=dict)  # dial-list key → present
    states: dict[str, CustomerState] = field(default_factory=dict)


def decision_inputs(worker: HubWorker) -> tuple[ReplyRules, PolicyInputs]:
    """The policy and contact rules the worker decides by: its settings, the defaults of
    its TOUCHLINE_DEFAULT_POLICY for every campaign, no policy applied, no DNC entry."""
    defaults_file = worker.data_dir / "default-policy.toml"  # written by HubWorker.start
    settings = Settings.from_env({"TOUCHLINE_DEFAULT_POLICY": str(defaults_file)})
    policy = ReplyRules(
        keywords=settings.sms_keywords,
        response_window=settings.response_window,
        abuse_lexicon=settings.abuse_lexicon,
    )
    defaults = settings.default_policy

    def policy_for(campaign_id: str) -> CampaignPolicy:
        if defaults is None:
            return default_policy(campaign_id)
        return defaults.model_copy(update={"campaign_id": campaign_id})

    return policy, PolicyInputs(policy_for=policy_for)


def decoded(record: ConsumerRecord, kind: type[M]) -> M:
    value = serializer.decode_model(record.value)
    assert isinstance(value, kind), f"{record.topic}: a {type(value).__name__}"
    return value


def log_time(record: ConsumerRecord) -> datetime:
    return datetime.fromtimestamp(record.timestamp / 1000, UTC)


def facts_by_customer(
    targets: list[ConsumerRecord], interactions: list[ConsumerRecord]
) -> dict[str, list[tuple[CampaignTarget | Interaction, datetime]]]:
    """Each customer's facts: the targets first, then the interactions in log order."""
    facts: dict[str, list[tuple[CampaignTarget | Interaction, datetime]]] = defaultdict(list)
    for record in targets:
        target = decoded(record, CampaignTarget)
        facts[target.customer_id].append((target, log_time(record)))
    for record in interactions:
        event = decoded(record, Interaction)
        facts[event.customer.customer_id or ""].append((event, log_time(record)))
    return facts


def oracle(
    targets: list[ConsumerRecord],
    interactions: list[ConsumerRecord],
    policy: ReplyRules,
    inputs: PolicyInputs,
) -> Expected:
    expected = Expected()
    for customer, facts in facts_by_customer(targets, interactions).items():
        state = CustomerState.new(customer)
        for fact, now in facts:
            outcome = process(state, fact, policy, now, inputs)
            state = outcome.state
            for decision in outcome.decisions:
                if isinstance(decision, Suppression):
                    expected.suppressions[decision.suppression_id] = decision
                elif isinstance(decision, DialListEntry):
                    expected.listed[decision.key] = True
                elif isinstance(decision, DialListRemoval):
                    expected.listed[decision.key] = False
        expected.states[customer] = state
    return expected


def essentials(state: CustomerState | None) -> Any:
    """What a customer's state must agree on, whatever order the worker took the target
    and interaction topics in: the uploads, the offers and answers, the suppressions and
    the events seen (the log's order within a topic is the same for both)."""
    if state is None:
        return None
    return (
        sorted(t.upload_id for t in state.targets),
        sorted((o.campaign_id, str(o.response)) for o in state.offers),
        sorted(x.suppression_id for x in state.suppressions),
        state.recent_event_digests,
    )


def states_mismatched(expected: Expected, observed: Observed) -> list[str]:
    return sorted(
        c
        for c, state in expected.states.items()
        if essentials(state) != essentials(observed.states.get(c))
    )


@dataclass
class Observed:
    suppressions: Counter[str]  # suppression id → records published with it
    examples: dict[str, Suppression]  # one record of each id
    listed: dict[str, bool]
    states: dict[str, CustomerState]


async def observe(bootstrap: str, app_id: str) -> Observed:
    suppressions: Counter[str] = Counter()
    examples: dict[str, Suppression] = {}
    for record in await read_topic(bootstrap, topics.SUPPRESSIONS):
        suppression = decoded(record, Suppression)
        suppressions[suppression.suppression_id] += 1
        examples[suppression.suppression_id] = suppression
    listed = {
        r.key.decode(): r.value is not None for r in await read_topic(bootstrap, topics.DIAL_LIST)
    }
    raw = {
        r.key.decode(): r.value
        for r in await read_topic(bootstrap, f"{app_id}-customers-changelog")
    }
    states = {k: decode_state(v, serializer) for k, v in raw.items() if v is not None}
    return Observed(suppressions, examples, listed, states)


def not_applied(interactions: list[ConsumerRecord], states: dict[str, CustomerState]) -> list[str]:
    """Event ids missing from their customer's final state (of each customer's latest
    DEDUP_WINDOW events: older ones have left the state's window by design)."""
    by_customer: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for record in interactions:
        event = decoded(record, Interaction)
        where = f"{event.event_id}@{record.partition}:{record.offset}"
        by_customer[event.customer.customer_id or ""].append((event.event_id, where))
    missing = []
    for customer, events in by_customer.items():
        state = states.get(customer)
        missing += [w for e, w in events[-DEDUP_WINDOW:] if state is None or not state.has_seen(e)]
    return missing


def verdict(
    expected: Expected, observed: Observed, interactions: list[ConsumerRecord]
) -> dict[str, Any]:
    lost = sorted(expected.suppressions.keys() - observed.suppressions.keys())
    wrong = sorted(observed.suppressions.keys() - expected.suppressions.keys())
    keys = expected.listed.keys() | observed.listed.keys()
    mismatched = sorted(
        k for k in keys if expected.listed.get(k, False) != observed.listed.get(k, False)
    )
    missing = not_applied(interactions, observed.states)
    explain(expected, observed, lost, wrong, mismatched, missing)
    differing = states_mismatched(expected, observed)
    if differing:
        log.warning("customer states differ from the oracle's, e.g. %s", ", ".join(differing[:5]))
    return {
        "decisions_expected": len(expected.suppressions),
        "decisions_observed": len(observed.suppressions),
        "lost": len(lost),
        "wrong": len(wrong),
        "duplicate_records": sum(n - 1 for n in observed.suppressions.values() if n > 1),
        "dial_list_expected": sum(expected.listed.values()),
        "dial_list_mismatches": len(mismatched),
        "events_not_applied": len(missing),
        "states_mismatched": len(differing),
    }


def described(s: Suppression) -> str:
    return (
        f"{s.suppression_id}: {s.key} {s.reason.value} {s.action.value} "
        f"(source event {s.source_event_id})"
    )


def explain(
    expected: Expected,
    observed: Observed,
    lost: list[str],
    wrong: list[str],
    mismatched: list[str],
    missing: list[str],
) -> None:
    """A few examples of each kind of mismatch, on stderr."""
    for suppression_id in lost[:5]:
        log.warning("lost suppression %s", described(expected.suppressions[suppression_id]))
    for suppression_id in wrong[:5]:
        log.warning("unexpected suppression %s", described(observed.examples[suppression_id]))
    for key in mismatched[:5]:
        log.warning(
            "dial list %s: expected %s, published %s",
            key,
            "listed" if expected.listed.get(key) else "absent",
            "listed" if observed.listed.get(key) else "absent",
        )
    if missing:
        log.warning("events not applied (id@partition:offset): %s", ", ".join(missing[:40]))


# -- one scenario ----------------------------------------------------------------------


def prepare(scenario: Scenario, args: argparse.Namespace, seed: int) -> Run:
    data = Path(tempfile.mkdtemp(prefix=f"chaos-{scenario.name}-"))
    relayed_port, relay_port, port, controller_port = free_ports(4)
    extra = (Listener("RELAYED", relayed_port, relay_port),) if scenario.relayed else ()
    if scenario.brokers > 1:
        brokers = cluster(data, scenario.brokers)
    else:
        brokers = [LocalKafka(data / "broker", port, controller_port, extra_listeners=extra)]
    relay = BrokerRelay(relay_port, relayed_port) if scenario.relayed else None
    worker_bootstrap = f"127.0.0.1:{relay_port}" if relay else brokers[0].bootstrap
    app_id = f"chaos-{scenario.name}-{uuid.uuid4().hex[:6]}"
    replication = {"TOUCHLINE_REPLICATION_FACTOR": str(scenario.brokers)}
    workers = [
        ChaosWorker(
            worker_bootstrap,
            app_id,
            data / f"worker-{i}",
            env={"TOUCHLINE_WORKER_ID": f"{app_id}-worker-{i}", **replication},
            name=f"worker-{i}",
        )
        for i in range(scenario.workers)
    ]
    return Run(scenario.name, args.seconds, random.Random(seed), data, brokers, workers, relay)


def cluster(data: Path, size: int) -> list[LocalKafka]:
    """`size` brokers in one KRaft quorum (each also a controller), every topic replicated
    to all of them and written to at least two (min.insync.replicas)."""
    ports = free_ports(2 * size)
    voters = ",".join(f"{n + 1}@127.0.0.1:{ports[size + n]}" for n in range(size))
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    cluster_id = "A" + cluster_id[1:]  # never "-...": that reads like a CLI flag
    replicated = {
        "offsets.topic.replication.factor": str(size),
        "transaction.state.log.replication.factor": str(size),
        "transaction.state.log.min.isr": "2",
        "share.coordinator.state.topic.replication.factor": str(size),
        "share.coordinator.state.topic.min.isr": "2",
        "default.replication.factor": str(size),
        "min.insync.replicas": "2",
    }
    nodes = []
    for n in range(size):
        node = LocalKafka(
            data / f"broker-{n + 1}",
            port=ports[n],
            controller_port=ports[size + n],
            heap="512m",
            extra_properties={
                "node.id": str(n + 1),
                "controller.quorum.voters": voters,
                "controller.quorum.bootstrap.servers": None,
                **replicated,
            },
        )
        node.kafka_dir.mkdir(parents=True, exist_ok=True)
        (node.kafka_dir / "cluster.id").write_text(cluster_id + "\n")
        nodes.append(node)
    return nodes


async def start(run: Run) -> None:
    await run.start_brokers()
    if run.relay is not None:
        await run.relay.mend()
    await ensure_topics(run.bootstrap, partitions=8, replication_factor=len(run.brokers))
    for worker in run.workers:
        await asyncio.to_thread(worker.start, HEALTHY_TIMEOUT_S)


async def under_load(run: Run, scenario: Scenario, args: argparse.Namespace) -> Load:
    load = Load(run.bootstrap, args.rate, args.customers, run.rng)
    run.started = time.monotonic()
    supervisor = asyncio.create_task(run.supervise())
    injector = asyncio.create_task(scenario.inject(run))
    try:
        await load.run(args.seconds)
        run.load_done = True
        await injector
    finally:
        injector.cancel()
        supervisor.cancel()
    return load


async def settle(run: Run) -> None:
    """Everything up again: the broker, the relay, every worker healthy."""
    await run.start_brokers()
    if run.relay is not None and run.relay._server is None:
        await run.relay.mend()
    for worker in run.workers:
        if worker.exited:
            run.note("worker-exited", worker=worker.name, code=worker.process.returncode)  # type: ignore[union-attr]
            run.restart(worker, kill=False)
    for worker in run.workers:
        if await seconds_to_healthy(worker, time.monotonic(), HEALTHY_TIMEOUT_S) is None:
            log.warning("%s not healthy after the load:\n%s", worker.name, worker.log_tail(30))


async def judge(run: Run, load: Load, load_seconds: float, drain_timeout: float) -> dict[str, Any]:
    app_id = run.workers[0].app_id
    bootstrap = run.bootstrap
    inputs = [topics.INTERACTIONS, topics.CAMPAIGN_TARGETS, f"{app_id}-customer-commands"]
    behind = await worked_off(bootstrap, app_id, inputs, drain_timeout)
    if behind:
        log.warning("%s: not worked off: %s", run.name, behind)
    await asyncio.sleep(2.0)  # the last changelog and decision records land
    interactions = await read_topic(bootstrap, topics.INTERACTIONS)
    targets = await read_topic(bootstrap, topics.CAMPAIGN_TARGETS)
    policy, policy_inputs = decision_inputs(run.workers[0])
    expected = oracle(targets, interactions, policy, policy_inputs)
    found = verdict(expected, await observe(bootstrap, app_id), interactions)
    recoveries = [await task for task in run.recoveries]
    measured = [r for r in recoveries if r is not None]
    report = {
        "scenario": run.name,
        "seconds": round(load_seconds, 1),
        "events": len(interactions),
        "targets": len(targets),
        "send_failures": load.failed,
        "faults": run.faults,
        **found,
        "partitions_not_worked_off": len(behind),
        "recovery_seconds": {"restarts": recoveries, "max": max(measured, default=None)},
    }
    counts = ("lost", "wrong", "dial_list_mismatches", "events_not_applied", "states_mismatched")
    report["ok"] = all(report[c] == 0 for c in (*counts, "partitions_not_worked_off"))
    return report


async def stop(run: Run) -> None:
    for worker in run.workers:
        await asyncio.to_thread(worker.stop, 30)
    if run.relay is not None:
        await run.relay.cut()
    await asyncio.gather(*(asyncio.to_thread(b.stop) for b in run.brokers))


async def run_scenario(scenario: Scenario, args: argparse.Namespace, seed: int) -> dict[str, Any]:
    run = prepare(scenario, args, seed)
    log.info("%s: data in %s", scenario.name, run.data)
    try:
        await start(run)
        load = await under_load(run, scenario, args)
        load_seconds = time.monotonic() - run.started
        await settle(run)
        report = await judge(run, load, load_seconds, args.drain_timeout)
    except Exception as exc:
        log.exception("%s failed", scenario.name)
        report = {"scenario": scenario.name, "faults": run.faults, "error": repr(exc), "ok": False}
    finally:
        await stop(run)
        for worker in run.workers:
            log.info("%s log: %s", worker.name, worker.log_path)
        if not args.keep:
            shutil.rmtree(run.data, ignore_errors=True)
    if args.keep:
        report["data_dir"] = str(run.data)
    return report


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--scenario",
        action="append",
        choices=list(SCENARIOS),
        help="repeatable; default: every scenario but the fault-free baseline",
    )
    parser.add_argument("--seconds", type=float, default=120, help="load per scenario")
    parser.add_argument("--rate", type=float, default=100, help="interactions per second")
    parser.add_argument("--customers", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=DRAIN_TIMEOUT_S,
        help="seconds the workers get to work off the input after the load",
    )
    parser.add_argument("--keep", action="store_true", help="keep the temp dirs")
    args = parser.parse_args()
    args.seed = args.seed if args.seed is not None else random.randrange(1 << 30)
    return args


async def main() -> int:
    args = parse_args()
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(name)s %(message)s"
    )
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    log.info("seed %d", args.seed)
    all_ok = True
    for offset, name in enumerate(args.scenario or DEFAULT_SCENARIOS):
        report = await run_scenario(SCENARIOS[name], args, args.seed + offset)
        report["seed"] = args.seed
        print(json.dumps(report, ensure_ascii=False), flush=True)
        all_ok = all_ok and bool(report["ok"])
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
