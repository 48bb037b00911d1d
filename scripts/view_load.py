"""Open-loop load on GET /v1/customers/{id}: requests start on a fixed schedule (so a slow
answer cannot hold the next one back and hide its own delay), each timed from the moment it
was due. Runs pinned to the last core, away from the worker; prints one JSON line.

usage: view_load.py URL RATE SECONDS CUSTOMERS ID_FORMAT [PATH]
PATH is a template with {id} (default /v1/customers/{id})."""

from __future__ import annotations

import asyncio
import json
import os
import random
import sys
import time

import aiohttp

URL, RATE, SECONDS, CUSTOMERS, ID_FORMAT = (
    sys.argv[1],
    float(sys.argv[2]),
    float(sys.argv[3]),
    int(sys.argv[4]),
    sys.argv[5],
)
PATH = sys.argv[6] if len(sys.argv) > 6 else "/v1/customers/{id}"


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


async def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[-1]})
    rng = random.Random(7)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    connector = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def one(due: float, customer: str) -> None:
            try:
                async with session.get(URL + PATH.format(id=customer)) as response:
                    await response.read()
                    statuses[response.status] = statuses.get(response.status, 0) + 1
            except aiohttp.ClientError:
                statuses[0] = statuses.get(0, 0) + 1
            latencies.append(time.perf_counter() - due)

        # Warm the connection pool and the worker's code paths; not measured.
        for _ in range(50):
            await one(time.perf_counter(), ID_FORMAT.format(rng.randrange(CUSTOMERS)))
        latencies.clear()
        statuses.clear()

        total = int(RATE * SECONDS)
        interval = 1.0 / RATE
        start = time.perf_counter() + 0.05
        tasks = []
        for n in range(total):
            due = start + n * interval
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            customer = ID_FORMAT.format(rng.randrange(CUSTOMERS))
            tasks.append(asyncio.create_task(one(due, customer)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    ms = [v * 1000 for v in latencies]
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
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main())
