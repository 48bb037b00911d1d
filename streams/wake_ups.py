"""When each customer this worker owns must be asked the contact rules again without any
new event: a hold ends (a DNC entry expires, a cooldown is over, quiet hours end) or quiet
hours begin. A heap in memory, filled from the states the worker stores and, after a
rebalance, from its table."""

from __future__ import annotations

import heapq
from datetime import datetime

from streams.domain.customer import CustomerState


class WakeUps:
    def __init__(self) -> None:
        self._heap: list[tuple[datetime, str]] = []
        self._due_at: dict[str, datetime] = {}
        # Which of this worker's customers each campaign targets: a new policy version
        # concerns exactly them.
        self._targeted: dict[str, set[str]] = {}
        self._campaigns: dict[str, frozenset[str]] = {}

    def targeted(self, campaign_id: str) -> list[str]:
        return sorted(self._targeted.get(campaign_id, ()))

    def _index(self, state: CustomerState) -> None:
        campaigns = frozenset(t.campaign_id for t in state.targets)
        if state.merged_into is not None:
            campaigns = frozenset()
        known = self._campaigns.get(state.customer_id, frozenset())
        if campaigns == known:
            return
        for campaign_id in known - campaigns:
            self._targeted.get(campaign_id, set()).discard(state.customer_id)
        for campaign_id in campaigns - known:
            self._targeted.setdefault(campaign_id, set()).add(state.customer_id)
        self._campaigns[state.customer_id] = campaigns

    def track(self, state: CustomerState) -> None:
        """Remember when `state` wants asking again (its `wake_at`), replacing any earlier
        wish; a state that wants nothing is forgotten."""
        self._index(state)
        at = state.wake_at if state.merged_into is None else None
        known = self._due_at.get(state.customer_id)
        if at == known:
            return
        if at is None:
            del self._due_at[state.customer_id]  # its heap entry is skipped when popped
            return
        self._due_at[state.customer_id] = at
        heapq.heappush(self._heap, (at, state.customer_id))

    def due(self, now: datetime) -> list[tuple[str, datetime]]:
        """The customers due by `now`, each once, with the moment they were due."""
        found: list[tuple[str, datetime]] = []
        while self._heap and self._heap[0][0] <= now:
            at, customer_id = heapq.heappop(self._heap)
            if self._due_at.get(customer_id) == at:
                del self._due_at[customer_id]
                found.append((customer_id, at))
        return found

    def clear(self) -> None:
        self._heap.clear()
        self._due_at.clear()
        self._targeted.clear()
        self._campaigns.clear()

    def __len__(self) -> int:
        return len(self._due_at)
