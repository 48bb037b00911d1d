"""Fixtures of the tests on the real broker (the broker itself: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from tests.hub import Api, HubWorker
from tests.integration.adapter_contract import InteractionLog


@pytest.fixture(scope="module")
async def interaction_log(topics_ready: str) -> AsyncIterator[InteractionLog]:
    """Everything on the interaction log, read in the background, by event id."""
    log = InteractionLog(topics_ready)
    await log.start()
    try:
        yield log
    finally:
        await log.stop()


@pytest.fixture
async def api(
    request: pytest.FixtureRequest, worker: HubWorker, http: aiohttp.ClientSession
) -> AsyncIterator[Api]:
    """A client of the module's `worker`, with the module's API_KEY if it has one."""
    yield Api(http, worker.url, getattr(request.module, "API_KEY", None))
