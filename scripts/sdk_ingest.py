"""The producer SDK's ingestion rate on one core: this process pins itself to one CPU,
then sends the same JSON events scripts/bench uses through `TouchlineProducer` (validation,
normalisation, Avro, CloudEvents headers, the idempotent producer, every record
acknowledged). Run by scripts/bench; prints the rate as JSON."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import ingest_event  # the same events as the HTTP ingestion run

from streams.config import Settings
from streams.kafka.producer import TouchlineProducer

BOOTSTRAP, COUNT = sys.argv[1], int(sys.argv[2])
CHUNK = 1000


async def main() -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    events = [ingest_event(i) for i in range(COUNT)]
    settings = Settings.from_env({"TOUCHLINE_BROKER": BOOTSTRAP})
    async with TouchlineProducer(settings=settings, source="/touchline/bench") as sdk:
        await sdk.send_many(events[:CHUNK])  # connections and metadata warm
        started = time.perf_counter()
        for at in range(0, COUNT, CHUNK):
            await sdk.send_many(events[at : at + CHUNK])
        elapsed = time.perf_counter() - started
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    print(json.dumps({"events_per_s": round(COUNT / elapsed), "cpus": len(cpus or [])}))


if __name__ == "__main__":
    asyncio.run(main())
