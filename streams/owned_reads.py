"""Reads for the HTTP API of what a worker owns: which worker owns a table key, and a
customer's state read from its partition's store in one look-up.

Both sit on every view and contact check. Faust's own look-up of a table key outside a
stream event does not know the key's partition, so it asks every partition's RocksDB,
twice (whether the key is there, then its value); and its routing raises an exception
when the key is local, the common case."""

from __future__ import annotations

from faust.types import TP
from faust.types import TableT as Table
from yarl import URL

from streams import agents
from streams.app import app, customers, serializer
from streams.domain.contact_facts import facts_from_state
from streams.domain.contact_rules import ContactFacts
from streams.domain.customer import CustomerState
from streams.state_codec import decode_contact_facts, decode_state

# Keys hashed to their partition, per changelog topic: the producer's hash (murmur2) is
# pure Python, and each view and check asks for it twice. A dictionary of strings and
# integers only, which the garbage collector does not track; emptied when it is full.
# (A changelog keeps its partition count: Faust's tables require it.)
_KEPT_PARTITIONS = 200_000
_partitions: dict[str, dict[str, int]] = {}
_is_here: dict[str, bool] = {}  # a worker's URL: whether it is this worker


def key_partition(table: Table, key: str) -> int:
    """The partition of `key` in `table`'s changelog, as the producer hashes it (keys are
    their raw UTF-8 bytes in every table: see streams.app)."""
    topic = table.changelog_topic.get_topic_name()
    known = _partitions.setdefault(topic, {})
    partition = known.get(key)
    if partition is None:
        if len(known) >= _KEPT_PARTITIONS:
            known.clear()
        partition = app.producer.key_partition(topic, key.encode()).partition
        known[key] = partition
    return partition


def owner_url(table: Table, key: str) -> str:
    """The URL of the worker that owns `key` in `table` (KeyError while the key's
    partition is not assigned): the worker the assignor gives the key's partition, as
    `app.router.key_store` finds it, without hashing the key again."""
    topic = table.changelog_topic.get_topic_name()
    url: str = app.assignor._tps_url[TP(topic, key_partition(table, key))]  # type: ignore[attr-defined]
    return url


def is_this_worker(url: str) -> bool:
    """Whether a worker's URL is this worker's, compared as Faust's router compares them."""
    here = _is_here.get(url)
    if here is None:
        ident = app.router._urlident  # type: ignore[attr-defined]
        here = _is_here[url] = bool(ident(URL(url)) == ident(app.conf.canonical_url))
    return here


def customer_state(customer_id: str) -> CustomerState | None:
    """The state of a customer this worker owns (see `owner_url`), or None."""
    raw = _stored(customer_id)
    if isinstance(raw, bytes):
        return decode_state(raw, serializer)
    return raw


def contact_facts(customer_id: str) -> ContactFacts | None:
    """What the contact rules read of a customer this worker owns (without DNC matches),
    or None."""
    raw = _stored(customer_id)
    if isinstance(raw, bytes):
        return decode_contact_facts(raw, serializer)
    return None if raw is None else facts_from_state(raw)


def _stored(customer_id: str) -> bytes | CustomerState | None:
    """The stored value, undecoded; decoded by Faust if the store is not RocksDB (a
    dictionary then, in tests). A state whose write still waits for the delivery of its
    decisions (streams.delivery) is the newer one: the reads see it already."""
    pending: CustomerState | None = agents.outbox.pending(customers, customer_id)
    if pending is not None:
        return pending
    db_for = getattr(customers.data, "_db_for_partition", None)
    if db_for is None:
        state: CustomerState | None = customers.get(customer_id)
        return state
    raw: bytes | None = db_for(key_partition(customers, customer_id)).get(customer_id.encode())
    return raw
