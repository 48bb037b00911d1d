"""The customer agent's working set: recent states kept decoded, and one lock per
customer being folded."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from streams.domain.customer import CustomerState

if TYPE_CHECKING:
    from streams.processing.runtime import Processing


class StateCache:
    """The latest state of recently seen customers, so a busy customer's state is not read
    back and decoded from RocksDB on every event. Emptied on every rebalance: another
    worker may have changed a customer while its partition was away."""

    def __init__(self, processing: Processing, capacity: int = 50_000) -> None:
        self.processing = processing
        self.capacity = capacity
        self._states: dict[str, CustomerState] = {}

    def get(self, customer_id: str) -> CustomerState | None:
        state = self._states.get(customer_id)
        if state is None:
            processing = self.processing
            state = processing.outbox.get(processing.app.customers, customer_id)
            if state is not None:
                self.put(customer_id, state)
        return state

    def put(self, customer_id: str, state: CustomerState) -> None:
        if len(self._states) >= self.capacity and customer_id not in self._states:
            self._states.clear()  # cheap and safe: the table and the outbox are the truth
        self._states[customer_id] = state

    def clear(self) -> None:
        self._states.clear()


class CustomerLocks:
    """One lock per customer while anyone holds or waits for it. Both customer agents may
    hold events for one customer, and the sends in between yield to the loop: without it,
    two events could fold into the same old state and one update would be lost."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[asyncio.Lock, list[int]]] = {}

    @contextlib.asynccontextmanager
    async def hold(self, customer_id: str) -> AsyncIterator[None]:
        entry = self._entries.get(customer_id)
        if entry is None:
            entry = self._entries[customer_id] = (asyncio.Lock(), [0])
        lock, users = entry
        users[0] += 1
        try:
            async with lock:
                yield
        finally:
            users[0] -= 1
            if users[0] == 0:
                del self._entries[customer_id]

    def __len__(self) -> int:
        return len(self._entries)
