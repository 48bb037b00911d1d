"""Keeping a reader of the broker running: restarted after a failure, with a backoff."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

log = logging.getLogger(__name__)


async def keep_running(run: Callable[[], Awaitable[object]], what: str) -> None:
    """Run `run` for ever. A failure (a lost connection to the broker) restarts it after
    1 s, doubling to 30 s while it keeps failing; one that ran well for a minute starts
    the backoff anew. It never takes the worker down."""
    loop = asyncio.get_running_loop()
    delay = 1.0
    while True:
        started = loop.time()
        try:
            await run()
        except Exception as exc:
            if loop.time() - started > 60:
                delay = 1.0
            log.warning("%s reader stopped (%s); again in %.0f s", what, type(exc).__name__, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
