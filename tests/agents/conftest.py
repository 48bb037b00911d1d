"""Set-up for the Faust agent tests: the project's app on the in-memory table store.

`streams.app` reads its settings and opens its table store when it is imported, so the
environment is set here, when pytest loads this file, before any test module imports it.
"""

from __future__ import annotations

import atexit
import os
import shutil
import sys
import tempfile
import uuid
from typing import Any

import pytest

# Imported by something collected earlier: its settings are not ours to change any more.
_IMPORTED_TOO_EARLY = "streams.app" in sys.modules

_WORK_DIR = tempfile.mkdtemp(prefix="touchline-agent-tests-")
atexit.register(shutil.rmtree, _WORK_DIR, ignore_errors=True)
os.environ["TOUCHLINE_STORE"] = "memory://"
os.environ["TOUCHLINE_APP_ID"] = f"touchline-agent-test-{uuid.uuid4().hex[:8]}"
os.environ["TOUCHLINE_WORKER_DIR"] = os.path.join(_WORK_DIR, "worker")
os.environ["TOUCHLINE_DATA_DIR"] = os.path.join(_WORK_DIR, "data")
# Nothing listens on the discard port: a test that reached for a broker would fail fast.
os.environ["TOUCHLINE_BROKER"] = "127.0.0.1:9"
for _name in (
    "TOUCHLINE_SCHEMA_REGISTRY_URL",
    "TOUCHLINE_RESPONSE_WINDOW_DAYS",
    "TOUCHLINE_SMS_ACCEPT_KEYWORDS",
    "TOUCHLINE_SMS_DECLINE_KEYWORDS",
    "TOUCHLINE_SMS_OPTOUT_KEYWORDS",
):
    os.environ.pop(_name, None)

from streams.agents import partition_order, state_cache  # noqa: E402
from streams.app import app, customers, identities, names, schedules  # noqa: E402


@pytest.fixture(scope="session")
def test_app() -> Any:
    """The project's Faust app, finalized for in-memory testing (Faust testing guide)."""
    if _IMPORTED_TOO_EARLY or app.conf.store.scheme != "memory":
        pytest.fail(
            "streams.app was imported before tests/agents/conftest.py configured it "
            f"(store {app.conf.store}); run the agent tests in their own session or make "
            "sure nothing collected earlier imports streams.app"
        )
    app.finalize()
    app.flow_control.resume()
    # The policy and DNC books read their topics in a worker; here they stay empty (the
    # default policy) and are ready at once.
    from streams.policy_book import dnc_book, policy_book

    policy_book.mark_ready()
    dnc_book.mark_ready()
    return app


@pytest.fixture(autouse=True)
def empty_tables(test_app: Any) -> Any:
    """Each test starts from empty tables: the memory store lives as long as the app."""
    yield
    for table in (customers, identities, names, schedules):
        table.data.clear()
    state_cache.clear()


@pytest.fixture(autouse=True)
def fresh_outbox(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A delivery failure in a test raises (`Undeliverable`) instead of ending the test
    process, as it ends a worker; and nothing unsettled outlives its test."""
    # A fresh outbox each test: a settle left waiting by a failed test must not hold up
    # the next one.
    from streams import agents
    from streams.delivery import Outbox

    monkeypatch.setattr(agents, "outbox", Outbox(agents._produce, on_undeliverable=_no_stop))
    # `test_context` numbers records across partitions, so offsets jump within one: the
    # order of a partition's records is tested on its own (tests/unit/test_partition_order).
    monkeypatch.setattr(partition_order, "admit", _every_record)
    yield


def _no_stop(reason: str) -> None:
    """The test goes on; the outbox raises `Undeliverable` instead."""


async def _every_record(topic: str, partition: int, offset: int) -> bool:
    return True
