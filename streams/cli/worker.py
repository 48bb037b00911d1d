"""Running the Faust worker: topics first, then agents, tables and the web API."""

from __future__ import annotations

import asyncio
import gc
import logging
from pathlib import Path

import faust

from streams import logs
from streams.app import create_app
from streams.config import Settings
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaAccessError, KafkaConnection


class _Worker(faust.Worker):
    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        # mode has just replaced the root logger's handlers: redact what they write.
        logs.install()

    async def on_startup_finished(self) -> None:
        await super().on_startup_finished()
        settle_garbage_collector()


def settle_garbage_collector() -> None:
    """Move every object alive now out of the collector's sight, and collect young
    objects less often: what an event or a request allocates is freed by reference
    counting, not by collections. Done before the worker starts (modules, schemas) and
    once its tables are recovered (Faust's services too: about 100,000 objects). A full
    collection walks every object it sees, each time: they took 30 to 150 ms of the
    event loop here, while requests waited, and during recovery a fifth of the time
    (100,000 customers recovered in 41 s instead of 52 s)."""
    gc.collect()
    gc.freeze()
    young, middle, old = gc.get_threshold()
    gc.set_threshold(max(young, 7000), middle, old)


def run_worker(settings: Settings, loglevel: str = "warning") -> None:
    """Run a hub for `settings` in the foreground until SIGINT/SIGTERM; returns after a
    clean shutdown."""
    logs.install()  # what logs before the worker sets up its handlers (the last resort)
    app = create_app(settings)
    Path(str(app.conf.datadir)).mkdir(parents=True, exist_ok=True)
    # Every internal topic and table changelog exists before the first record is
    # processed: a changelog Faust had yet to create made the first writes fail.
    changelogs = tuple(table.changelog_topic.get_topic_name() for table in app.tables.values())
    internal = (*app.internal_topics, *changelogs)
    try:
        asyncio.run(
            ensure_topics(
                KafkaConnection.of(settings),
                settings.partitions,
                internal,
                settings.replication_factor,
            )
        )
    except KafkaAccessError as exc:
        # Refused credentials or TLS: exit at once (status 1), saying why; never retry.
        raise SystemExit(f"touchline: {exc}") from None
    logging.getLogger("streams").setLevel(logging.INFO)
    worker = _Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    # The terminal spinner sets the root logger to DEBUG so it can spin on every record:
    # every debug call in aiokafka then builds a LogRecord. Not worth a tenth of the CPU.
    worker.spinner = None
    settle_garbage_collector()  # and again once the tables are recovered
    worker.execute_from_commandline()
