"""Reads for the HTTP API of what a worker owns: which worker owns a table key, and a
customer's state read from its partition's store in one look-up.

Both sit on every view and contact check. Faust's own look-up of a table key outside a
stream event does not know the key's partition, so it asks every partition's RocksDB,
twice (whether the key is there, then its value); and its routing raises an exception
when the key is local, the common case."""

from __future__ import annotations

from faust.types import TableT as Table

from streams.app import app, customers, serializer
from streams.domain.contact_facts import facts_from_state
from streams.domain.contact_rules import ContactFacts
from streams.domain.customer import CustomerState
from streams.state_codec import decode_contact_facts, decode_state

_here: tuple[str, int] | None = None


def owned_here(table: Table, key: str) -> bool:
    """Whether this worker owns `key` in `table` (KeyError while it is not assigned),
    compared as Faust's router compares the URLs of workers."""
    global _here
    ident = app.router._urlident  # type: ignore[attr-defined]
    if _here is None:
        _here = ident(app.conf.canonical_url)
    return bool(ident(app.router.key_store(table.name, key)) == _here)


def customer_state(customer_id: str) -> CustomerState | None:
    """The state of a customer this worker owns (see `owned_here`), or None."""
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
    dictionary then, in tests)."""
    db_for = getattr(customers.data, "_db_for_partition", None)
    if db_for is None:
        state: CustomerState | None = customers.get(customer_id)
        return state
    key = customer_id.encode()
    topic = customers.changelog_topic.get_topic_name()
    raw: bytes | None = db_for(app.producer.key_partition(topic, key).partition).get(key)
    return raw
