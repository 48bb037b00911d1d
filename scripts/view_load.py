"""Open-loop load on GET /v1/customers/{id}: requests start on a fixed schedule (so a slow
answer cannot hold the next one back and hide its own delay), each timed from the moment it
was due (or sent, if it went out early). Runs pinned to the last core, away from the
worker; prints one JSON line.

The client is a few keep-alive HTTP/1.1 connections driven by asyncio protocols rather
than a full HTTP client, so that its own cost (a few tens of microseconds a request) stays
small next to what it measures; a request due while every connection is busy waits for
one, and that wait is counted.

usage: view_load.py URL RATE SECONDS CUSTOMERS ID_FORMAT [PATH]
PATH is a template with {id} (default /v1/customers/{id}). TOUCHLINE_API_TOKEN, when set,
is sent as a bearer token.

Also the CPU time the hypervisor took from this machine in each second (steal, from
/proc/stat, counted in clock ticks of 10 ms), and the p99 of the requests due in quiet
seconds: those when it took at most one tick, in that second and in the one before (a
stall leaves a backlog behind it)."""

from __future__ import annotations

import asyncio
import collections
import gc
import itertools
import json
import os
import random
import sys
import time
from urllib.parse import urlsplit

from machine_steal import TICK_SECONDS, steal_seconds  # scripts/, beside this file

URL, RATE, SECONDS, CUSTOMERS, ID_FORMAT = (
    sys.argv[1],
    float(sys.argv[2]),
    float(sys.argv[3]),
    int(sys.argv[4]),
    sys.argv[5],
)
PATH = sys.argv[6] if len(sys.argv) > 6 else "/v1/customers/{id}"
CONNECTIONS = 32


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


class Connection(asyncio.Protocol):
    """One keep-alive connection, one request at a time: answers are read by their
    Content-Length (the worker always sends one)."""

    def __init__(self, done: asyncio.Queue[Connection]) -> None:
        self.idle = done
        self.buffer = bytearray()
        self.waiter: asyncio.Future[int] | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        end = self.buffer.find(b"\r\n\r\n")
        if end < 0 or self.waiter is None:
            return
        head = bytes(self.buffer[:end]).decode("latin-1").split("\r\n")
        length = 0
        for line in head[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value)
        if len(self.buffer) < end + 4 + length:
            return
        del self.buffer[: end + 4 + length]
        self.waiter.set_result(int(head[0].split()[1]))

    def connection_lost(self, exc: Exception | None) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(0)

    async def get(self, request: bytes) -> int:
        assert self.transport is not None
        self.waiter = asyncio.get_running_loop().create_future()
        self.transport.write(request)
        try:
            return await self.waiter
        finally:
            self.waiter = None


async def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    url = urlsplit(URL)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    token = os.environ.get("TOUCHLINE_API_TOKEN")
    extra = f"Authorization: Bearer {token}\r\n" if token else ""
    rng = random.Random(7)
    loop = asyncio.get_running_loop()
    pool: asyncio.Queue[Connection] = asyncio.Queue()
    for _ in range(CONNECTIONS):
        _, protocol = await loop.create_connection(lambda: Connection(pool), host, port)
        pool.put_nowait(protocol)
    latencies: list[float] = []
    from_start: list[float] = []
    lateness: list[float] = []
    dues: list[float] = []
    statuses: collections.Counter[int] = collections.Counter()

    async def one(due: float, customer: str) -> None:
        path = PATH.format(id=customer)
        request = f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n{extra}\r\n".encode()
        # Timed from when it was due, or from when it was sent if that was earlier. Also
        # from when this client got round to it: a pause of the client's own (its core
        # taken by the hypervisor, say) then counts in its lateness, not in the answer's.
        began = time.perf_counter()
        lateness.append(max(0.0, began - due))
        due = min(due, began)
        connection = await pool.get()
        try:
            statuses[await connection.get(request)] += 1
        finally:
            pool.put_nowait(connection)
        ended = time.perf_counter()
        latencies.append(ended - due)
        from_start.append(ended - began)
        dues.append(due)

    # Warm the connections and the worker's code paths; not measured.
    for _ in range(100):
        await one(time.perf_counter(), ID_FORMAT.format(rng.randrange(CUSTOMERS)))
    for kept in (latencies, from_start, lateness, dues):
        kept.clear()
    statuses.clear()

    total = int(RATE * SECONDS)
    interval = 1.0 / RATE
    # The client's own pauses would count as the server's latency: no collections while
    # it measures (reference counting frees each request's objects), and a request's task
    # is let go once it is done rather than kept to the end. Keeping every task made a
    # full collection of tens of milliseconds fall at the same second of every run.
    gc.collect()
    gc.disable()
    running: set[asyncio.Task[None]] = set()
    per_second = max(1, round(RATE))
    steal_marks: list[float] = []
    start = time.perf_counter() + 0.05
    for n in range(total):
        if n % per_second == 0:
            steal_marks.append(steal_seconds() * 1000)
        due = start + n * interval
        # asyncio's timers wake up to a millisecond late: wake a millisecond early.
        delay = due - time.perf_counter() - 0.001
        if delay > 0:
            await asyncio.sleep(delay)
        customer = ID_FORMAT.format(rng.randrange(CUSTOMERS))
        task = asyncio.create_task(one(due, customer))
        running.add(task)
        task.add_done_callback(running.discard)
    while running:
        await asyncio.gather(*running)
    elapsed = time.perf_counter() - start
    steal_marks.append(steal_seconds() * 1000)
    gc.enable()
    ms = [v * 1000 for v in latencies]
    by_second: dict[int, list[float]] = collections.defaultdict(list)
    for due, value in zip(dues, ms, strict=True):
        by_second[int(due - start)].append(value)
    steal_by_second = [round(b - a) for a, b in itertools.pairwise(steal_marks)]
    tick_ms = TICK_SECONDS * 1000
    quiet = [
        k
        for k in sorted(by_second)
        if k < len(steal_by_second)
        and steal_by_second[k] <= tick_ms
        and (k == 0 or steal_by_second[k - 1] <= tick_ms)
    ]
    quiet_ms = [value for k in quiet for value in by_second[k]]
    print(
        json.dumps(
            {
                "requests": total,
                "offered_per_s": RATE,
                "achieved_per_s": round(total / elapsed, 1),
                "statuses": {str(k): v for k, v in sorted(statuses.items())},
                "p50_ms": round(percentile(ms, 50), 2),
                "p95_ms": round(percentile(ms, 95), 2),
                "p99_ms": round(percentile(ms, 99), 2),
                "max_ms": round(max(ms), 2),
                # Timed from when the client began each request instead of when it was
                # due, and how late the client itself began them.
                "p99_ms_from_start": round(percentile([v * 1000 for v in from_start], 99), 2),
                "client_late_p99_ms": round(percentile([v * 1000 for v in lateness], 99), 2),
                "client_late_max_ms": round(max(lateness) * 1000, 2),
                # Where the slow answers were: each second's p99, in order.
                "p99_ms_by_second": [
                    round(percentile(by_second[k], 99), 1) for k in sorted(by_second)
                ],
                # The hypervisor's take in each second; the quiet seconds (at most a
                # tick taken, then and the second before): how many, their requests' p99.
                "steal_ms_by_second": steal_by_second,
                "quiet_seconds": len(quiet),
                "p99_ms_quiet_seconds": round(percentile(quiet_ms, 99), 2) if quiet_ms else None,
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
