"""Running the Faust worker: topics first, then agents, tables and the web API."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import Path

import faust


def run_worker(loglevel: str = "warning") -> None:
    """Run in the foreground until SIGINT/SIGTERM; returns after a clean shutdown."""
    from streams import agents
    from streams.app import app, settings
    from streams.kafka.admin import ensure_topics
    from streams.web import (  # noqa: F401
        agent_desktop,
        campaigns,
        channels,
        contact,
        customers,
        health,
        identities,
        interactions,
        policies,
        publishing,
        sendgrid,
        twilio,
    )

    Path(str(app.conf.datadir)).mkdir(parents=True, exist_ok=True)
    internal = (
        agents.IDENTITY_TOPIC,
        agents.CUSTOMER_COMMANDS_TOPIC,
        agents.SCREEN_POPS_TOPIC,
        agents.NAME_INDEX_TOPIC,
    )
    replication = int(os.environ.get("TOUCHLINE_REPLICATION_FACTOR", "1"))
    asyncio.run(
        ensure_topics(settings.bootstrap_servers, settings.partitions, internal, replication)
    )
    logging.getLogger("streams").setLevel(logging.INFO)
    worker = faust.Worker(app, loglevel=loglevel, quiet=True, redirect_stdouts=False)
    # The terminal spinner sets the root logger to DEBUG so it can spin on every record:
    # every debug call in aiokafka then builds a LogRecord. Not worth a tenth of the CPU.
    worker.spinner = None
    worker.execute_from_commandline()
