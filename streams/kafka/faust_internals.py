"""Every use of Faust's private internals, in one place. Faust offers no public way to do
these; each is pinned to faust-streaming 0.15.3 (pyproject.toml), and
tests/unit/test_faust_internals.py fails loudly when an upgrade moves one of them."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

from faust.types import TP, AppT, TableT
from yarl import URL

FAUST_VERSION = "0.15.3"


def set_table_serializers(table: TableT, key: Any, value: Any) -> None:
    """Give a table other key and value serializers than those Faust derived from its
    types. The changelog topic was already made with the old ones, and recovery decodes
    through it: make it again (`Table._new_changelog_topic`)."""
    table.key_serializer = key  # type: ignore[attr-defined]
    table.value_serializer = value  # type: ignore[attr-defined]
    table.changelog_topic = table._new_changelog_topic()  # type: ignore[attr-defined]


def is_recovered(app: AppT) -> bool:
    """Whether the table recovery of the latest assignment has completed
    (`app.tables.recovery.completed`, an attribute of no public interface)."""
    return bool(app.tables.recovery.completed.is_set())  # type: ignore[attr-defined]


async def tables_recovered(app: AppT, poll: float = 0.1) -> None:
    """Return once the table recovery of the latest assignment has completed."""
    while not is_recovered(app):
        await asyncio.sleep(poll)


def raw_values(table: TableT) -> Iterator[Any]:
    """The stored values of a RocksDB-backed table, raw and undecoded (the store's
    `_itervalues`); nothing for another store."""
    read = getattr(table.data, "_itervalues", None)
    return iter(()) if read is None else read()


def is_rocksdb(table: TableT) -> bool:
    return hasattr(table.data, "_dbs")


def stored_raw(table: TableT, partition: int, key: bytes) -> bytes | None:
    """The raw stored value of `key` in the RocksDB of `partition`, if that partition's
    database is open on this worker (the store's `_dbs`): a partition just revoked, or
    never assigned, reads as absent and is never opened for it."""
    db = table.data._dbs.get(partition)  # type: ignore[attr-defined]
    if db is None:
        return None
    raw: bytes | None = db.get(key)
    return raw


def owner_url(app: AppT, topic: str, partition: int) -> str:
    """The URL of the worker the assignor gave a partition (`assignor._tps_url`);
    KeyError while it is not assigned."""
    url: str = app.assignor._tps_url[TP(topic, partition)]  # type: ignore[attr-defined]
    return url


def same_worker(app: AppT, url: str) -> bool:
    """Whether a worker URL is this worker's, compared as Faust's router compares them
    (`router._urlident`)."""
    ident = app.router._urlident  # type: ignore[attr-defined]
    return bool(ident(URL(url)) == ident(URL(str(app.conf.canonical_url))))


async def producer_partitions(app: AppT, topic: str) -> set[int]:
    """The partitions of `topic`, as the app's producer knows them, asking the broker
    first if it does not (the aiokafka producer under Faust's: `_ensure_producer`)."""
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    partitions: set[int] = await producer.partitions_for(topic)
    return partitions
