"""Delivery before memory: what an event causes reaches Kafka before the state that
remembers the event is stored, and before the event's offset may be committed.

Why: a customer state that records an event is also what makes a redelivered copy of
that event a duplicate. If that state were stored (in RocksDB and on its changelog) while
the suppression it decided still sat in the producer's buffer, a crash would lose the
suppression for good: the redelivered event is then a duplicate and decides nothing.

So the agents hand every record they produce, every table write and every finished
event to one `Outbox`. Records go to the producer at once (no added latency). The table
writes and the acknowledgements wait until every record sent before them is delivered,
a batch at a time (one broker round trip per batch, not per event). Faust commits only
acknowledged offsets, so:

- a crash before delivery loses nothing: no state was stored and no offset committed, so
  the event comes back and decides again (decision ids are derived from their cause, and
  the dial list is compacted, so a repeat is harmless);
- a crash after delivery but before the state write repeats the decisions, never loses
  them; consumers de-duplicate by id.

Reads of a table go through `Outbox.get`, which sees the writes still waiting: an agent
reads its own writes. After a rebalance everything waiting is dropped, unstored and
unacknowledged: Faust seeks back to the committed offsets and the events come again.

A record the producer gives up on (after its own retries: Faust's producer request
timeout, 20 minutes by default) stops the worker at once, as a crash would. Skipping it
would commit past a decision that was never published; retrying it here could reorder it
behind later records of its key. A restarted worker starts again from the committed
offsets."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

# The exit status of a worker stopped because the broker would not take a record.
EXIT_UNDELIVERABLE = 70

_DELETED = object()


class Undeliverable(BaseException):
    """Raised where `on_undeliverable` returns (it does not in a worker: see
    `stop_worker`). A BaseException, so no handler takes it for bad input."""


Send = Callable[[str, bytes | None, bytes | None, float | None, Any], Awaitable[Any]]


@dataclass
class _Batch:
    generation: int
    deliveries: list[Awaitable[Any]] = field(default_factory=list)
    # (the context of the event that caused it, table, key, value): Faust picks a table
    # write's partition from the event being processed, a context variable.
    writes: list[tuple[contextvars.Context, Any, Any, Any]] = field(default_factory=list)
    finished: list[Callable[[], Any]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.finished)


def stop_worker(reason: str) -> None:
    """End the process now, without flushing or committing anything: the same outcome
    as a crash, which the delivery order above is built to survive."""
    log.critical("stopping the worker: %s", reason)
    logging.shutdown()
    os._exit(EXIT_UNDELIVERABLE)


def _write(table: Any, key: Any, value: Any) -> None:
    if value is not _DELETED:
        table[key] = value
    elif key in table:
        del table[key]


class Outbox:
    """Records in flight, and the table writes and acknowledgements waiting on them."""

    def __init__(
        self,
        send: Send,
        *,
        batch_size: int = 500,
        linger: float = 0.005,
        held_topics: Collection[str] = (),
        on_undeliverable: Callable[[str], None] = stop_worker,
    ) -> None:
        self._send = send
        self.batch_size = batch_size
        self.linger = linger
        # Test hook: records for these topics are never sent (a broker that does not take
        # them), so a test can kill the worker while decisions are undelivered.
        self._held = frozenset(held_topics)
        self._on_undeliverable = on_undeliverable
        self._generation = 0
        self._batch = _Batch(self._generation)
        self._staged: dict[tuple[int, Any], Any] = {}
        self._settling = asyncio.Lock()
        self._timers: set[asyncio.Task[None]] = set()  # held, so none is dropped half-way
        self._settle_due = False

    async def send(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        timestamp: float | None = None,
        headers: Any = None,
    ) -> None:
        """Send a record now; whatever is written or finished after it waits for it."""
        if topic in self._held:
            self._batch.deliveries.append(asyncio.get_running_loop().create_future())
            return
        try:
            delivery = await self._send(topic, key, value, timestamp, headers)
        except Exception as exc:  # the producer refused outright: same as undelivered
            reason = f"send to {topic} failed: {type(exc).__name__}: {exc}"
            self._on_undeliverable(reason)
            raise Undeliverable(reason) from exc
        self._batch.deliveries.append(delivery)

    def put(self, table: Any, key: Any, value: Any) -> None:
        """Write `table[key] = value` once everything sent so far is delivered."""
        self._staged[(id(table), key)] = value
        self._batch.writes.append((contextvars.copy_context(), table, key, value))

    def delete(self, table: Any, key: Any) -> None:
        self._staged[(id(table), key)] = _DELETED
        self._batch.writes.append((contextvars.copy_context(), table, key, _DELETED))

    def get(self, table: Any, key: Any) -> Any:
        """`table[key]` as it will be once everything waiting is written (None if absent)."""
        value = self._staged.get((id(table), key))
        if value is None:
            return table.get(key)
        return None if value is _DELETED else value

    def pending(self, table: Any, key: Any) -> Any:
        """The value a waiting write gives `table[key]`, None if no write is waiting: the
        API's reads see a decision's state as soon as the decision is published."""
        value = self._staged.get((id(table), key))
        return None if value is _DELETED else value

    def finished(self, acknowledge: Callable[[], Any]) -> None:
        """An event is handled: acknowledge it once its records and writes are settled."""
        self._batch.finished.append(acknowledge)

    async def pace(self) -> None:
        """Called after each event: settle now when the batch is full, else soon."""
        if len(self._batch) >= self.batch_size:
            await self.settle()
        elif not self._settle_due:
            self._settle_due = True
            timer = asyncio.get_running_loop().create_task(self._settle_soon())
            self._timers.add(timer)
            timer.add_done_callback(self._timers.discard)

    async def _settle_soon(self) -> None:
        await asyncio.sleep(self.linger)
        # Due no more from here: an event handled while this settle waits for deliveries
        # schedules the next one, so the last events of a burst never wait for more.
        self._settle_due = False
        await self.settle()

    async def settle(self) -> None:
        """Wait for the deliveries of the current batch, then write and acknowledge it.
        Batches settle one at a time, in order; on return, everything handled before the
        call is settled."""
        batch = self._batch
        if not batch.deliveries and not batch.writes and not batch.finished:
            async with self._settling:
                return  # nothing new: once the settle in progress is done, all is settled
        self._batch = _Batch(self._generation)
        async with self._settling:
            if batch.deliveries:
                results = await asyncio.gather(*batch.deliveries, return_exceptions=True)
                failed = next((r for r in results if isinstance(r, BaseException)), None)
                if failed is not None:
                    reason = f"a record was not delivered: {type(failed).__name__}: {failed}"
                    self._on_undeliverable(reason)
                    raise Undeliverable(reason) from failed
            if batch.generation != self._generation:
                return  # partitions moved meanwhile: the events come again
            for context, table, key, value in batch.writes:
                context.run(_write, table, key, value)
                staged_key = (id(table), key)
                if self._staged.get(staged_key) is value:
                    del self._staged[staged_key]
            for acknowledge in batch.finished:
                acknowledge()

    def drop(self) -> None:
        """Partitions are being revoked: forget everything not yet settled, unstored and
        unacknowledged (a settle in progress finds its generation gone and stops)."""
        self._generation += 1
        self._batch = _Batch(self._generation)
        self._staged.clear()
