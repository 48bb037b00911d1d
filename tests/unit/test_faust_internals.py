"""The private parts of Faust that `streams.kafka.faust_internals` uses are still there,
in the form it uses them. An upgrade of the pinned version that moves one fails here,
loudly, instead of silently in a worker."""

from __future__ import annotations

import importlib.metadata
import inspect
from pathlib import Path

import faust
import pytest
from faust.app.router import Router
from faust.assignor.partition_assignor import PartitionAssignor
from faust.stores import rocksdb
from faust.tables.base import Collection
from faust.tables.recovery import Recovery
from faust.transport.drivers import aiokafka as faust_aiokafka

from streams.app import create_app
from streams.config import Settings
from streams.kafka import faust_internals


def test_the_pinned_faust_is_the_one_installed() -> None:
    assert importlib.metadata.version("faust-streaming") == faust_internals.FAUST_VERSION
    pinned = Path(__file__).resolve().parents[2].joinpath("pyproject.toml").read_text()
    assert f'"faust-streaming=={faust_internals.FAUST_VERSION}"' in pinned


def test_every_private_member_used_is_still_there() -> None:
    assert callable(Collection._new_changelog_topic)
    assert callable(rocksdb.Store._itervalues)
    assert "self._dbs = {}" in inspect.getsource(rocksdb.Store.__init__)
    assert "_tps_url" in inspect.getsource(PartitionAssignor.__init__)
    assert callable(Router._urlident)
    assert callable(faust_aiokafka.Producer._ensure_producer)
    assert "completed" in inspect.getsource(Recovery.__init__)


@pytest.fixture
def app(tmp_path: Path) -> faust.App:
    settings = Settings.from_env(
        {
            "TOUCHLINE_STORE": "memory://",
            "TOUCHLINE_BROKER": "127.0.0.1:9",
            "TOUCHLINE_DATA_DIR": str(tmp_path),
            "TOUCHLINE_APP_ID": "internals-test",
        }
    )
    return create_app(settings, web=False)


def test_tables_get_raw_keys_and_a_changelog_made_with_them(app: faust.App) -> None:
    for table in (app.customers, app.identities, app.names, app.schedules):
        assert table.key_serializer == "raw"
        assert table.changelog_topic.key_serializer == "raw"
    assert app.identities.changelog_topic.value_serializer == "raw"


def test_routing_helpers_answer_as_the_router_does(app: faust.App) -> None:
    assert faust_internals.same_worker(app, str(app.conf.canonical_url))
    assert not faust_internals.same_worker(app, "http://elsewhere.example:6066")
    with pytest.raises(KeyError):
        faust_internals.owner_url(app, "internals-test-customers-changelog", 0)


def test_a_store_other_than_rocksdb_has_no_raw_values(app: faust.App) -> None:
    assert not faust_internals.is_rocksdb(app.customers)
    assert list(faust_internals.raw_values(app.customers)) == []
