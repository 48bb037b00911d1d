"""Reads for the HTTP API of what a worker owns: which worker owns a table key, and a
customer's state read from its partition's store in one look-up.

Both sit on every view and contact check. Faust's own look-up of a table key outside a
stream event does not know the key's partition, so it asks every partition's RocksDB,
twice (whether the key is there, then its value); and its routing raises an exception
when the key is local, the common case.

Every use of Faust's internals goes through `streams.kafka.faust_internals`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from faust.types import TableT as Table

from streams.domain.contact_facts import facts_from_state
from streams.domain.contact_rules import ContactFacts
from streams.domain.customer import CustomerState
from streams.kafka import faust_internals
from streams.wire.state_codec import decode_contact_facts, decode_state

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp

# Keys hashed to their partition are kept per changelog topic: the producer's hash
# (murmur2) is pure Python, and each view and check asks for it twice. A dictionary of
# strings and integers only, which the garbage collector does not track; emptied when it
# is full. (A changelog keeps its partition count: Faust's tables require it.)
KEPT_PARTITIONS = 200_000


class OwnedReads:
    """The owner look-ups and owned reads of one app's tables."""

    def __init__(self, app: TouchlineApp) -> None:
        self.app = app
        self.partitions: dict[str, dict[str, int]] = {}  # changelog → key → partition
        self.is_here: dict[str, bool] = {}  # a worker's URL: whether it is this worker
        self.with_metadata: set[str] = set()  # changelogs whose partitions the producer knows

    # -- which worker owns a key ------------------------------------------------------

    async def ensure_partition_metadata(self, table: Table) -> None:
        """Routing hashes the key with the producer's metadata of the table's changelog,
        which the producer only has once it has written there: fetch it first (once: a
        changelog keeps its partition count)."""
        topic = table.changelog_topic.get_topic_name()
        if topic in self.with_metadata:
            return
        await faust_internals.producer_partitions(self.app, topic)
        self.with_metadata.add(topic)

    def key_partition(self, table: Table, key: str) -> int:
        """The partition of `key` in `table`'s changelog, as the producer hashes it (keys
        are their raw UTF-8 bytes in every table: see streams.processing.app)."""
        topic = table.changelog_topic.get_topic_name()
        known = self.partitions.setdefault(topic, {})
        partition = known.get(key)
        if partition is None:
            if len(known) >= KEPT_PARTITIONS:
                known.clear()
            partition = self.app.producer.key_partition(topic, key.encode()).partition
            known[key] = partition
        return partition

    def owner_url(self, table: Table, key: str) -> str:
        """The URL of the worker that owns `key` in `table` (KeyError while the key's
        partition is not assigned): the worker the assignor gives the key's partition, as
        `app.router.key_store` finds it, without hashing the key again. Call
        `ensure_partition_metadata` first."""
        topic = table.changelog_topic.get_topic_name()
        return faust_internals.owner_url(self.app, topic, self.key_partition(table, key))

    def is_this_worker(self, url: str) -> bool:
        """Whether a worker's URL is this worker's, compared as Faust's router compares
        them."""
        here = self.is_here.get(url)
        if here is None:
            here = self.is_here[url] = faust_internals.same_worker(self.app, url)
        return here

    # -- a customer this worker owns --------------------------------------------------

    def customer_state(self, customer_id: str) -> CustomerState | None:
        """The state of a customer this worker owns (see `owner_url`), or None."""
        raw = self._stored(customer_id)
        if isinstance(raw, bytes):
            return decode_state(raw, self.app.serializer)
        return raw

    def contact_facts(self, customer_id: str) -> ContactFacts | None:
        """What the contact rules read of a customer this worker owns (without DNC
        matches), or None."""
        raw = self._stored(customer_id)
        if isinstance(raw, bytes):
            return decode_contact_facts(raw, self.app.serializer)
        return None if raw is None else facts_from_state(raw)

    def _stored(self, customer_id: str) -> bytes | CustomerState | None:
        """The stored value, undecoded; decoded by Faust if the store is not RocksDB (a
        dictionary then, in tests). A state whose write still waits for the delivery of
        its decisions (streams.processing.outbox) is the newer one: the reads see it
        already."""
        customers = self.app.customers
        pending: CustomerState | None = self.app.processing.outbox.pending(customers, customer_id)
        if pending is not None:
            return pending
        if not faust_internals.is_rocksdb(customers):
            state: CustomerState | None = customers.get(customer_id)
            return state
        return faust_internals.stored_raw(
            customers, self.key_partition(customers, customer_id), customer_id.encode()
        )
