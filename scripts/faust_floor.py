"""The floor under the hub's throughput: a bare Faust agent that writes each record, as
it comes, to a RocksDB table (so a changelog record per event, like the customer agent),
with no decoding and no rules. Run by scripts/bench on the same records; prints its rate."""

from __future__ import annotations

import os
import sys
import time

import faust

TOPIC, EXPECTED, BOOTSTRAP, DATA = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
RESULT = os.path.join(DATA, "floor-rate.txt")

app = faust.App(
    f"floor-{os.getpid()}",
    broker=f"kafka://{BOOTSTRAP}",
    store="rocksdb://",
    datadir=os.path.join(DATA, "floor"),
    consumer_auto_offset_reset="earliest",
    web_enabled=False,
    table_standby_replicas=0,
)
source = app.topic(
    TOPIC, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
)
table = app.Table("floor", default=None, key_type=bytes, value_type=bytes)
seen = {"count": 0, "low": 0.0}


@app.agent(source)
async def floor(stream):  # type: ignore[no-untyped-def]
    low, high = int(EXPECTED * 0.1), int(EXPECTED * 0.9)
    async for event in stream.events():
        table[event.key] = event.value
        seen["count"] += 1
        if seen["count"] == low:
            seen["low"] = time.perf_counter()
        elif seen["count"] == high:
            rate = (high - low) / (time.perf_counter() - seen["low"])
            with open(RESULT, "w") as out:
                out.write(f"{rate:.0f}\n")


if __name__ == "__main__":
    worker = faust.Worker(app, loglevel="warning", quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker.execute_from_commandline()
