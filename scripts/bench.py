"""Benchmarks on a fresh local Kafka: the broker's raw rates (reference), end-to-end
throughput through the customer agent with state, and SMS reply → suppression latency
under steady background load. Prints one JSON document."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from machine_steal import steal_seconds  # noqa: E402  (scripts/, beside this file)

from streams.domain.customer import CustomerState  # noqa: E402
from streams.domain.events import (  # noqa: E402
    ContactAttempt,
    CustomerRef,
    Interaction,
    Message,
    OfferPresented,
)
from streams.domain.model import Channel, Direction  # noqa: E402
from streams.kafka.admin import ensure_topics, partitions_of  # noqa: E402
from streams.kafka.local import LocalKafka  # noqa: E402
from streams.wire import outgoing, topics  # noqa: E402
from streams.wire.serialization import AvroSerializer  # noqa: E402
from streams.wire.state_codec import encode_facts, encode_state, stored_value  # noqa: E402
from tests.hub import HubWorker, free_ports  # noqa: E402

serializer = AvroSerializer()
START = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


def phone_of(i: int) -> str:
    return f"+90532{i:07d}"


def background_event(i: int, customers: int) -> outgoing.Record:
    n = i % customers
    kind = i % 5
    channel = [Channel.SMS, Channel.VOICE, Channel.EMAIL, Channel.WEB, Channel.CHAT][kind]
    payload: object
    if kind == 1:
        payload = ContactAttempt(campaign_id="bench-dialler", outcome="NO_ANSWER")
    elif kind == 2:
        payload = OfferPresented(campaign_id=f"bench-email-{i % 7}", offer_id=f"o-{i}")
    else:
        payload = Message(text="hello, I have a question about my card")
    event = Interaction(
        event_id=f"bg-{uuid.uuid4().hex}",
        occurred_at=START + timedelta(milliseconds=i),
        channel=channel,
        direction=Direction.INBOUND if i % 2 else Direction.OUTBOUND,
        customer=CustomerRef(customer_id=f"bench-{n}", phone=phone_of(n)),
        payload=payload,  # type: ignore[arg-type]
    )
    return outgoing.interaction(serializer, event, "/bench")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def produce_all(
    bootstrap: str, batch: list[outgoing.Record], topic: str | None = None
) -> float:
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", linger_ms=5, max_batch_size=256 * 1024
    )
    await producer.start()
    try:
        started = time.perf_counter()
        futures = [
            await producer.send(topic or r.topic, r.value, key=r.key, headers=r.headers)
            for r in batch
        ]
        await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


async def consume_count(bootstrap: str, topic: str, expected: int, timeout: float) -> float:
    """Seconds until `expected` records were read from the beginning of `topic`."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        max_partition_fetch_bytes=4 << 20,
    )
    await consumer.start()
    try:
        started = time.perf_counter()
        seen = 0
        while seen < expected:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"{topic}: read {seen} of {expected} in {timeout}s")
            batch = await consumer.getmany(timeout_ms=500, max_records=10_000)
            seen += sum(len(m) for m in batch.values())
        return time.perf_counter() - started
    finally:
        await consumer.stop()


class AppliedCounter:
    """Interactions the worker has applied to customer state, read from its /metrics
    (cheap to poll, so the measuring takes no CPU from the worker or the broker)."""

    LINE = 'touchline_events_total{agent="customer",outcome="applied"}'

    def __init__(self, worker: HubWorker) -> None:
        self.url = f"{worker.url}/metrics"
        self.count = 0
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            async with self._session.get(self.url) as response:
                for line in (await response.text()).splitlines():
                    if line.startswith(self.LINE):
                        self.count = int(float(line.rsplit(" ", 1)[1]))
            await asyncio.sleep(0.02)

    async def wait_for(self, target: int, timeout: float) -> float:
        started = time.perf_counter()
        while self.count < target:
            if time.perf_counter() - started > timeout:
                raise TimeoutError(f"applied {self.count} of {target}")
            await asyncio.sleep(0.005)
        return time.perf_counter()

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self._session.close()


async def latency_run(
    args: argparse.Namespace, bootstrap: str, worker: HubWorker, counter: AppliedCounter
) -> dict[str, object]:
    replies = int(args.latency_seconds * args.replies_per_second)
    campaign = "bench-sms-offer"
    seeds = []
    for i in range(replies):
        event = Interaction(
            event_id=f"offer-{i}-{uuid.uuid4().hex[:6]}",
            occurred_at=datetime.now(UTC) - timedelta(minutes=5),
            channel=Channel.SMS,
            direction=Direction.OUTBOUND,
            customer=CustomerRef(customer_id=f"lat-{i}", phone=phone_of(5_000_000 + i)),
            payload=OfferPresented(campaign_id=campaign, offer_id=f"o-{i}"),
        )
        seeds.append(outgoing.interaction(serializer, event, "/bench"))
    before = counter.count
    await produce_all(bootstrap, seeds)
    await counter.wait_for(before + replies, 120)
    await asyncio.sleep(1.0)  # let the identity links settle

    received: dict[str, float] = {}
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    parts = await partitions_of(bootstrap, topics.SUPPRESSIONS)
    tps = [TopicPartition(topics.SUPPRESSIONS, p) for p in parts]
    consumer.assign(tps)
    await consumer.seek_to_end(*tps)

    async def collect() -> None:
        while True:
            batch = await consumer.getmany(timeout_ms=50)
            now = time.perf_counter()
            for messages in batch.values():
                for m in messages:
                    received[m.key.decode()] = now

    collector = asyncio.create_task(collect())
    await asyncio.sleep(0.5)

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    background_sent = 0
    stop = asyncio.Event()

    async def load() -> None:
        nonlocal background_sent
        tick = 0.05
        per_tick = max(1, int(args.load_rate * tick))
        next_at = time.perf_counter()
        i = 10_000_000
        while not stop.is_set():
            for _ in range(per_tick):
                r = background_event(i, args.customers)
                await producer.send(r.topic, r.value, key=r.key, headers=r.headers)
                i += 1
                background_sent += 1
            next_at += tick
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))

    sent_at: dict[str, float] = {}
    loader = asyncio.create_task(load())
    load_started = time.perf_counter()
    await asyncio.sleep(2.0)  # reach steady state before measuring
    async with aiohttp.ClientSession() as http:
        interval = 1.0 / args.replies_per_second
        next_at = time.perf_counter()
        for i in range(replies):
            form = {
                "From": phone_of(5_000_000 + i),
                "To": "+905550000000",
                "Body": " YES ",
                "MessageSid": f"SM{uuid.uuid4().hex}",
            }
            sent_at[f"{campaign}:lat-{i}"] = time.perf_counter()
            async with http.post(f"{worker.url}/v1/webhooks/sms/twilio", data=form) as resp:
                assert resp.status == 200, await resp.text()
            next_at += interval
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
        deadline = time.perf_counter() + 30
        while (
            len([k for k in sent_at if k in received]) < replies and time.perf_counter() < deadline
        ):
            await asyncio.sleep(0.05)
    stop.set()
    await loader
    load_seconds = time.perf_counter() - load_started
    await producer.stop()
    collector.cancel()
    await consumer.stop()
    latencies = [(received[k] - t) * 1000 for k, t in sent_at.items() if k in received]
    missing = replies - len(latencies)
    return {
        "replies": replies,
        "suppressions_seen": len(latencies),
        "missing": missing,
        "background_rate_per_s": round(background_sent / load_seconds),
        "p50_ms": round(percentile(latencies, 50), 1) if latencies else None,
        "p99_ms": round(percentile(latencies, 99), 1) if latencies else None,
        "max_ms": round(max(latencies), 1) if latencies else None,
        "mean_ms": round(statistics.fmean(latencies), 1) if latencies else None,
    }


async def faust_floor(bootstrap: str, topic: str, expected: int, data: Path) -> int | None:
    """Rate of a bare Faust agent writing each of the same records to a table."""
    import subprocess

    out = data / "floor-rate.txt"
    process = subprocess.Popen(
        [
            sys.executable,
            str(REPO / "scripts" / "faust_floor.py"),
            topic,
            str(expected),
            bootstrap,
            str(data),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 300
        while not out.exists() and time.monotonic() < deadline and process.poll() is None:
            await asyncio.sleep(0.2)
        return int(out.read_text()) if out.exists() else None
    finally:
        process.terminate()
        process.wait(60)


async def profile_worker(pid: int, seconds: float, data: Path) -> list[str]:
    """Where the worker's time goes: py-spy samples, summed by function (self time)."""
    import collections
    import shutil
    import subprocess

    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    raw = data / "profile.txt"
    await asyncio.to_thread(
        subprocess.run,
        [
            spy,
            "record",
            "-p",
            str(pid),
            "-d",
            str(int(seconds)),
            "-f",
            "raw",
            "-o",
            str(raw),
            "--nonblocking",
        ],
        capture_output=True,
    )
    if not raw.exists():
        return ["py-spy could not sample the worker"]
    own: collections.Counter[str] = collections.Counter()
    below: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        frames, samples = stack.split(";"), int(count)
        total += samples
        own[frames[-1]] += samples
        for frame in set(frames):
            if "streams/" in frame:
                below[frame] += samples
    top = [f"{n / total:6.1%} self  {f}" for f, n in own.most_common(12)]
    ours = [f"{n / total:6.1%} total {f}" for f, n in below.most_common(8)]
    return top + ours


def ingest_event(i: int) -> dict[str, object]:
    """The JSON form a channel would send."""
    return {
        "event_id": f"in-{uuid.uuid4().hex}",
        "occurred_at": "2026-11-23T10:15:00Z",
        "channel": "WEB",
        "direction": "INBOUND",
        "customer": {"customer_id": f"bench-{i % 5000}", "phone": phone_of(i % 5000)},
        "payload": {"type": "Message", "text": "where is my card?"},
    }


async def sdk_rate(bootstrap: str, count: int) -> dict[str, int]:
    """The SDK in its own process, pinned to one core (scripts/sdk_ingest.py)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(REPO / "scripts" / "sdk_ingest.py"),
        bootstrap,
        str(count),
        stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError("scripts/sdk_ingest.py failed")
    return dict(json.loads(out.decode().strip().splitlines()[-1]))


async def ingest_run(
    args: argparse.Namespace, worker: HubWorker, raw: dict[str, int]
) -> dict[str, object]:
    """Events per second into the log: through POST /v1/interactions in batches, then,
    with the worker stopped so nothing else competes for its core, through the SDK
    (validation, Avro, headers, idempotent producer, acknowledged) pinned to one core."""
    events = [ingest_event(i) for i in range(args.ingest_events)]
    batch = 500
    async with aiohttp.ClientSession() as http:
        started = time.perf_counter()
        for at in range(0, len(events), batch):
            async with http.post(
                f"{worker.url}/v1/interactions", json=events[at : at + batch]
            ) as response:
                assert response.status == 202, await response.text()
        http_rate = len(events) / (time.perf_counter() - started)
    worker.stop()
    sdk = await sdk_rate(worker.bootstrap, args.ingest_events)
    return {
        "events": len(events),
        "sdk_events_per_s_one_core": sdk["events_per_s"],
        "sdk_vs_broker_raw_produce": round(sdk["events_per_s"] / raw["produce_per_s"], 3),
        "http_batch_events_per_s": round(http_rate),
        "http_vs_broker_raw_produce": round(http_rate / raw["produce_per_s"], 3),
        "http_batch_size": batch,
    }


def view_template(i: int) -> CustomerState:
    """A customer with a realistic history, folded by the real `evolve`: a profile, a few
    purchases, contacts on several channels, an offer answered, a complaint now and then."""
    from decimal import Decimal

    from streams.domain.customer import evolve
    from streams.domain.events import Complaint, OfferResponse, ProfileUpdate, Purchase
    from streams.domain.model import OfferResponseKind

    customer = CustomerRef(customer_id=VIEW_ID.format(0), phone=phone_of(i))
    at = START - timedelta(days=i % 80)
    payloads: list[tuple[Channel, Direction, object]] = [
        (
            Channel.WEB,
            Direction.INBOUND,
            ProfileUpdate(
                fields={
                    "name": f"Customer {i}",
                    "birth_date": f"19{60 + i % 40}-0{1 + i % 9}-1{i % 10}",
                    "city": "Istanbul",
                    "language": "tr",
                }
            ),
        ),
        (Channel.SMS, Direction.OUTBOUND, OfferPresented(campaign_id="spring-loan")),
        (
            Channel.SMS,
            Direction.INBOUND,
            OfferResponse(campaign_id="spring-loan", response=OfferResponseKind.DECLINED),
        ),
    ]
    for n in range(1 + i % 4):
        payloads.append(
            (
                Channel.BRANCH,
                Direction.INBOUND,
                Purchase(amount=Decimal(100 + 37 * n), currency="TRY", product=f"p-{n}"),
            )
        )
    for n in range(3 + i % 8):
        channel = [Channel.VOICE, Channel.EMAIL, Channel.CHAT, Channel.WEB][n % 4]
        payloads.append((channel, Direction.INBOUND, Message(text="a question")))
    if i % 5 == 0:
        payloads.append(
            (Channel.VOICE, Direction.INBOUND, Complaint(category="billing", severity="high"))
        )
    state = CustomerState.new(customer.customer_id or "")
    for n, (channel, direction, payload) in enumerate(payloads):
        state = evolve(
            state,
            Interaction(
                event_id=f"view-{i}-{n}",
                occurred_at=at + timedelta(hours=n),
                channel=channel,
                direction=direction,
                customer=customer,
                payload=payload,  # type: ignore[arg-type]
            ),
        )
    return state


VIEW_ID = "v-{:07d}"


async def fill_customers(bootstrap: str, app_id: str, count: int, partitions: int) -> float:
    """`count` customers straight into the customers table's changelog, as the worker
    writes them (`streams.wire.state_codec`), so the worker recovers them into RocksDB.
    200 histories are folded for real; each customer gets one of them under its own id."""
    topic = f"{app_id}-customers-changelog"
    await ensure_topics(bootstrap, partitions, internal=(topic,))
    templates = []
    marker = f'"{VIEW_ID.format(0)}"'.encode()
    for i in range(200):
        template = view_template(i)
        parts = []
        for text in (
            encode_facts(template),
            template.model_dump_json().encode(),
        ):
            assert text.count(marker) == 1, "the customer id must appear once"
            parts.append(text.split(marker))
        templates.append(parts)
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks=1, linger_ms=20, max_batch_size=512 * 1024
    )
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for n in range(count):
            key = VIEW_ID.format(n).encode()
            (facts_head, facts_tail), (head, tail) = templates[n % len(templates)]
            quoted = b'"' + key + b'"'
            value = stored_value(facts_head + quoted + facts_tail, head + quoted + tail)
            if n == 0:  # the template's own id: what the worker itself would have written
                assert value == encode_state(view_template(0))
            pending.append(await producer.send(topic, value, key=key))
            if len(pending) >= 20_000:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


def tree_bytes(root: Path, contains: str) -> int:
    total = 0
    for path in root.rglob("*"):
        if path.is_file() and any(contains in part for part in path.parts):
            total += path.stat().st_size
    return total


async def settled(worker: HubWorker, timeout: float = 300.0) -> float:
    """Seconds until the worker is idle after its recovery (under 10% of a core for 3 s
    running: RocksDB compacts what it just took in), so reads are measured in the steady
    state; `timeout` at most."""
    if worker.process is None or not Path(f"/proc/{worker.process.pid}/stat").exists():
        return 0.0
    started = time.perf_counter()
    quiet = 0
    last = cpu_seconds(worker)
    while time.perf_counter() - started < timeout and quiet < 3:
        await asyncio.sleep(1.0)
        now = cpu_seconds(worker)
        quiet = quiet + 1 if now - last < 0.1 else 0
        last = now
    return time.perf_counter() - started


def cpu_seconds(worker: HubWorker) -> float:
    """CPU the worker process has used so far (user + system, all its threads)."""
    return 0.0 if worker.process is None else process_cpu_seconds(worker.process.pid)


def process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# Processes kept off the served core during a read load (the broker, set by `main`).
AWAY_FROM_SERVER: list[int] = []


@contextlib.contextmanager
def cores_apart(server_pid: int) -> Iterator[None]:
    """During a read load: the server alone on the first core; this process, the broker
    and the load generator (`view_load.py` pins itself) on the last. Every thread of each
    is moved; all get back the cores they had."""
    cpus = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    saved: dict[int, set[int]] = {}

    def pin(pid: int, cores: set[int]) -> None:
        for task in Path(f"/proc/{pid}/task").iterdir():
            try:
                saved.setdefault(int(task.name), os.sched_getaffinity(int(task.name)))
                os.sched_setaffinity(int(task.name), cores)
            except OSError:  # the thread has ended meanwhile
                pass

    if len(cpus) >= 2:
        pin(server_pid, {cpus[0]})
        for pid in (os.getpid(), *AWAY_FROM_SERVER):
            pin(pid, {cpus[-1]})
    try:
        yield
    finally:
        for task, cores in saved.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(task, cores)


async def read_load(
    url: str, pid: int, rate: float, seconds: float, customers: int, path: str | None = None
) -> dict[str, object]:
    """Open-loop reads by `view_load.py` on the other core, the server having a core to
    itself (`cores_apart`); with the server's CPU use meanwhile, per request (the cost of
    one answer, queueing aside)."""
    import subprocess

    command = [
        sys.executable,
        str(REPO / "scripts" / "view_load.py"),
        url,
        str(rate),
        str(seconds),
        str(customers),
        VIEW_ID,
    ]
    with cores_apart(pid):
        before, stolen = process_cpu_seconds(pid), steal_seconds()
        load = await asyncio.to_thread(
            subprocess.run,
            command + ([path] if path else []),
            capture_output=True,
            text=True,
            check=True,
        )
        used = process_cpu_seconds(pid) - before
    reads: dict[str, object] = json.loads(load.stdout.strip().splitlines()[-1])
    reads["cpu_ms_per_request"] = round(used * 1000 / int(rate * seconds), 3)
    reads["machine_steal_ms"] = round((steal_seconds() - stolen) * 1000)
    return reads


async def http_floor(
    rate: float, seconds: float, body_bytes: int, path: str | None = None
) -> dict[str, object]:
    """The same load on a bare aiohttp server answering a fixed body of the same size
    (`http_floor.py`), just before the worker's: what this machine gives any answer."""
    import subprocess

    (port,) = free_ports(1)
    server = subprocess.Popen(
        [sys.executable, str(REPO / "scripts" / "http_floor.py"), str(port), str(body_bytes)]
    )
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.1)
        reads = await read_load(f"http://127.0.0.1:{port}", server.pid, rate, seconds, 1000, path)
    finally:
        server.terminate()
        server.wait(30)
    reads.pop("p99_ms_by_second", None)
    reads.pop("steal_ms_by_second", None)
    reads["body_bytes"] = body_bytes
    return reads


async def worker_reads(
    worker: HubWorker,
    args: argparse.Namespace,
    data: Path,
    rate: float,
    seconds: float,
    customers: int,
    path: str,
) -> dict[str, object]:
    """`read_load` on the worker, after the bare-aiohttp floor under the same load and an
    answer of the same size; with a py-spy profile of the worker if `--profile` asks."""
    assert worker.process is not None
    first = worker.url + path.format(id=VIEW_ID.format(1))
    async with aiohttp.ClientSession() as http, http.get(first) as response:
        size = len(await response.read())
    floor = await http_floor(rate, seconds, size, path)
    profiling = None
    if args.profile:
        profiling = asyncio.create_task(profile_worker(worker.process.pid, args.profile, data))
    reads = await read_load(worker.url, worker.process.pid, rate, seconds, customers, path)
    reads["bare_aiohttp_same_load"] = floor
    if profiling is not None:
        reads["profile"] = await profiling
    return reads


async def views_run(args: argparse.Namespace, bootstrap: str, data: Path) -> dict[str, object]:
    """GET /v1/customers/{id} on one worker holding `--view-customers` customers: the
    table is filled through its changelog, recovered by the worker (timed), then read at
    `--view-rate` requests/s for `--view-seconds` by an open-loop client on the other core."""

    app_id = f"bench-views-{uuid.uuid4().hex[:6]}"
    fill_s = await fill_customers(bootstrap, app_id, args.view_customers, args.partitions)
    worker = HubWorker(
        bootstrap,
        app_id,
        data / "views-worker",
        env={"TOUCHLINE_PARTITIONS": str(args.partitions)},
    )
    started = time.perf_counter()
    await asyncio.to_thread(worker.start, 3600)
    recovery_s = time.perf_counter() - started
    settle_s = await settled(worker)
    try:
        reads = await worker_reads(
            worker,
            args,
            data,
            args.view_rate,
            args.view_seconds,
            args.view_customers,
            "/v1/customers/{id}",
        )
    finally:
        worker.stop()
    store = tree_bytes(data / "views-worker" / "worker", "customers")
    return {
        "customers": args.view_customers,
        "changelog_fill_s": round(fill_s, 1),
        "recovery_s": round(recovery_s, 1),
        "recovery_customers_per_s": round(args.view_customers / recovery_s),
        "settle_s": round(settle_s, 1),
        "reads": reads,
        "rocksdb_bytes": store,
        "rocksdb_bytes_per_customer": round(store / args.view_customers, 1),
        "state_bytes_per_customer_stored": round(
            statistics.mean(len(encode_state(view_template(i))) for i in range(200))
        ),
        "state_bytes_per_customer_avro": round(
            statistics.mean(len(serializer.encode_model(view_template(i))) for i in range(200))
        ),
    }


def quiet_now(zone: ZoneInfo) -> dict[str, str]:
    """A 13-hour contact window that opens two hours from now in `zone`: every check of the
    run falls in quiet hours, at whatever hour it runs, and is refused with the window's
    next opening worked out, the dearest path through the rules (the customers' numbers
    are Turkish, so their zone is Istanbul's)."""
    local = datetime.now(zone).replace(second=0, microsecond=0)
    return {
        "start": (local + timedelta(hours=2)).strftime("%H:%M"),
        "end": (local + timedelta(hours=15)).strftime("%H:%M"),
    }


async def checks_run(args: argparse.Namespace, bootstrap: str, data: Path) -> dict[str, object]:
    """GET /v1/contact-check on one worker holding `--check-customers` customers, for a
    campaign whose policy sets frequency caps and quiet hours, with a do-not-contact list
    of `--check-dnc` numbers (some of them the customers'); open-loop at `--check-rate`."""

    app_id = f"bench-checks-{uuid.uuid4().hex[:6]}"
    await fill_customers(bootstrap, app_id, args.check_customers, args.partitions)
    worker = HubWorker(
        bootstrap,
        app_id,
        data / "checks-worker",
        env={"TOUCHLINE_PARTITIONS": str(args.partitions)},
    )
    await asyncio.to_thread(worker.start, 3600)
    await settled(worker)
    try:
        async with aiohttp.ClientSession() as http:
            policy = {
                "campaign_id": "bench-check",
                "version": 1,
                "frequency_caps": [
                    {"channel": "VOICE", "max_contacts": 3, "days": 7},
                    {"max_contacts": 10, "days": 30},
                ],
                "quiet_hours": quiet_now(ZoneInfo("Europe/Istanbul")),
                "response_cooldown_days": 30,
            }
            async with http.put(
                f"{worker.url}/v1/campaigns/bench-check/policy", json=policy
            ) as response:
                assert response.status == 202, await response.text()
            entries = [{"kind": "phone", "value": phone_of(i * 7)} for i in range(args.check_dnc)]
            for at in range(0, len(entries), 5000):
                async with http.post(
                    f"{worker.url}/v1/dnc", json=entries[at : at + 5000]
                ) as response:
                    assert response.status == 202, await response.text()
            await asyncio.sleep(2.0)  # every worker's DNC book has read them
        await settled(worker)  # and the rechecks the new policy and entries asked for ran
        path = "/v1/contact-check?customer_id={id}&campaign_id=bench-check&channel=VOICE"
        async with aiohttp.ClientSession() as http:
            sample = worker.url + path.format(id=VIEW_ID.format(1))
            async with http.get(sample) as response:
                answer = await response.json()
        # What the load asks for: a check refused by quiet hours (a seventh of the
        # customers are on the DNC list as well).
        assert [r["code"] for r in answer["reasons"]][-1:] == ["QUIET_HOURS"], answer
        checks = await worker_reads(
            worker,
            args,
            data,
            args.check_rate,
            args.check_seconds,
            args.check_customers,
            path,
        )
    finally:
        worker.stop()
    return {
        "customers": args.check_customers,
        "dnc_entries": args.check_dnc,
        "contact_window": policy["quiet_hours"],
        "checks": checks,
    }


async def main(args: argparse.Namespace) -> dict[str, object]:
    data = Path(tempfile.mkdtemp(prefix="touchline-bench-"))
    port, controller = free_ports(2)
    kafka = LocalKafka(data / "broker", port=port, controller_port=controller)
    kafka.start()
    AWAY_FROM_SERVER.append(int(kafka.status()["pid"]))
    result: dict[str, object] = {
        "command": "scripts/bench " + " ".join(sys.argv[1:]),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "events": args.events,
        "customers": args.customers,
        "partitions": args.partitions,
    }
    worker = None
    try:
        bootstrap = kafka.bootstrap
        await ensure_topics(bootstrap, args.partitions)
        events = [background_event(i, args.customers) for i in range(args.events)]

        # The reference: the same records straight through the broker and back.
        raw_topic = "bench.raw"
        await ensure_topics(bootstrap, args.partitions, internal=(raw_topic,))
        produce_s = await produce_all(bootstrap, events, raw_topic)
        consume_s = await consume_count(bootstrap, raw_topic, args.events, 120)
        raw = {
            "produce_per_s": round(args.events / produce_s),
            "consume_per_s": round(args.events / consume_s),
        }
        result["broker_raw"] = raw
        floor = None
        if args.only in (None, "e2e"):
            floor = await faust_floor(bootstrap, raw_topic, args.events, data)
            result["faust_floor"] = {"interactions_per_s": floor}

        if args.only == "views":
            result["views"] = await views_run(args, bootstrap, data)
            return result
        if args.only == "checks":
            result["contact_check"] = await checks_run(args, bootstrap, data)
            return result

        if args.only == "ingest":
            worker = HubWorker(
                bootstrap,
                f"bench-{uuid.uuid4().hex[:6]}",
                data / "worker",
                env={"TOUCHLINE_PARTITIONS": str(args.partitions)},
            )
            worker.start()
            result["ingest"] = await ingest_run(args, worker, raw)
            return result

        # End to end: the log is filled first, then one worker folds it. The rate is taken
        # between 10% and 90% of the interactions applied (as the worker's /metrics counts
        # them), so start-up and the tail do not count.
        await produce_all(bootstrap, events)
        app_id = f"bench-{uuid.uuid4().hex[:6]}"
        worker = HubWorker(
            bootstrap,
            app_id,
            data / "worker",
            # The latency run posts unsigned Twilio replies to this worker.
            env={"TOUCHLINE_PARTITIONS": str(args.partitions), "TOUCHLINE_INSECURE_WEBHOOKS": "1"},
        )
        worker.start()
        counter = AppliedCounter(worker)
        await counter.start()
        low, high = int(args.events * 0.1), int(args.events * 0.9)
        profiling = None
        if args.profile and worker.process is not None:
            profiling = asyncio.create_task(profile_worker(worker.process.pid, args.profile, data))
        t_low = await counter.wait_for(low, 600)
        t_high = await counter.wait_for(high, 600)
        await counter.wait_for(args.events, 600)
        if profiling is not None:
            result["profile_end_to_end"] = await profiling
        e2e = (high - low) / (t_high - t_low)
        result["end_to_end"] = {
            "interactions_per_s": round(e2e),
            "vs_faust_floor": round(e2e / floor, 3) if floor else None,
            "vs_broker_raw_consume": round(e2e / raw["consume_per_s"], 3),
            "vs_broker_raw_produce": round(e2e / raw["produce_per_s"], 3),
        }
        if args.only == "e2e":
            await counter.stop()
            return result
        result["sms_reply_to_suppression"] = await latency_run(args, bootstrap, worker, counter)
        await counter.stop()
        result["ingest"] = await ingest_run(args, worker, raw)
        worker = None
        result["views"] = await views_run(args, bootstrap, data)
        result["contact_check"] = await checks_run(args, bootstrap, data)
    finally:
        if worker is not None:
            worker.stop()
        kafka.stop()
        if not args.keep:
            import shutil

            shutil.rmtree(data, ignore_errors=True)
        else:
            result["data_dir"] = str(data)
    return result


def _stop_on_sigterm() -> None:
    """Turn SIGTERM into an exception so the finally blocks stop the broker and worker."""
    import signal

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, handler)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--customers", type=int, default=5_000)
    parser.add_argument("--partitions", type=int, default=8)
    parser.add_argument(
        "--load-rate",
        type=float,
        default=1000.0,
        help="background interactions per second during the latency run",
    )
    parser.add_argument("--latency-seconds", type=float, default=30.0)
    parser.add_argument("--replies-per-second", type=float, default=10.0)
    parser.add_argument(
        "--ingest-events",
        type=int,
        default=20_000,
        help="events sent through the SDK and through HTTP batches",
    )
    parser.add_argument(
        "--only",
        choices=["e2e", "ingest", "views", "checks"],
        help="run only the broker reference and this part (e2e: the bare-Faust floor and "
        "end-to-end throughput; ingest: the SDK and HTTP batches; views: customer view "
        "reads with --view-customers in state; checks: the contact check)",
    )
    parser.add_argument("--check-customers", type=int, default=100_000)
    parser.add_argument("--check-dnc", type=int, default=10_000)
    parser.add_argument("--check-rate", type=float, default=1000.0, help="checks per second")
    parser.add_argument("--check-seconds", type=float, default=20.0)
    parser.add_argument("--view-customers", type=int, default=1_000_000)
    parser.add_argument("--view-rate", type=float, default=500.0, help="view reads per second")
    parser.add_argument("--view-seconds", type=float, default=20.0)
    parser.add_argument("--keep", action="store_true", help="keep the data dir and worker log")
    parser.add_argument(
        "--profile",
        type=float,
        default=0,
        metavar="SECONDS",
        help="sample the worker with py-spy for this long during the "
        "throughput run and report where its time goes",
    )
    return parser.parse_args()


if __name__ == "__main__":
    _stop_on_sigterm()
    print(json.dumps(asyncio.run(main(parse_args())), indent=2))
