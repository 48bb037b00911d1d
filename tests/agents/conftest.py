"""Set-up for the Faust agent tests: a hub built by the app factory on the in-memory
table store (tests/agents/app_under_test.py), finalized as Faust's testing guide says."""

from __future__ import annotations

from typing import Any

import pytest

from streams.processing.outbox import Outbox
from tests.agents.app_under_test import agents, app


@pytest.fixture(scope="session")
def test_app() -> Any:
    app.finalize()
    app.flow_control.resume()
    # The policy and DNC books read their topics in a worker; here they stay empty (the
    # default policy) and are ready at once.
    app.policy_book.mark_ready()
    app.dnc_book.mark_ready()
    return app


@pytest.fixture(autouse=True)
def empty_tables(test_app: Any) -> Any:
    """Each test starts from empty tables: the memory store lives as long as the app."""
    yield
    for table in (app.customers, app.identities, app.names, app.schedules):
        table.data.clear()
    agents.state_cache.clear()


@pytest.fixture(autouse=True)
def fresh_outbox(monkeypatch: pytest.MonkeyPatch) -> Any:
    """A delivery failure in a test raises (`Undeliverable`) instead of ending the test
    process, as it ends a worker; and nothing unsettled outlives its test."""
    # A fresh outbox each test: a settle left waiting by a failed test must not hold up
    # the next one.
    monkeypatch.setattr(agents, "outbox", Outbox(agents._produce, on_undeliverable=_no_stop))
    # `test_context` numbers records across partitions, so offsets jump within one: the
    # order of a partition's records is tested on its own (tests/unit/test_partition_order).
    monkeypatch.setattr(agents.partition_order, "admit", _every_record)
    yield


def _no_stop(reason: str) -> None:
    """The test goes on; the outbox raises `Undeliverable` instead."""


async def _every_record(topic: str, partition: int, offset: int) -> bool:
    return True
