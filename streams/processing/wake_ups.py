"""When each customer this worker owns must be asked the contact rules again without any
new event: a hold ends (a DNC entry expires, a cooldown is over, quiet hours end) or quiet
hours begin. A heap in memory, filled from the states the worker stores and, after a
rebalance, from the small `schedules` table (customer → when and which campaigns), which
is read far quicker than the customer states themselves."""

from __future__ import annotations

import heapq
import json
from datetime import UTC, datetime

from streams.domain.customer import CustomerState

Schedule = tuple[datetime | None, tuple[str, ...]]


def schedule_of(state: CustomerState | None) -> Schedule | None:
    """When the rules want asking again and which campaigns target the customer; None for
    a customer on no dial list with nothing to wake for (most customers)."""
    if state is None or state.merged_into is not None:
        return None
    campaigns = tuple(sorted({t.campaign_id for t in state.targets}))
    if state.wake_at is None and not campaigns:
        return None
    return state.wake_at, campaigns


def encode_schedule(schedule: Schedule) -> bytes:
    at, campaigns = schedule
    millis = None if at is None else int(at.timestamp() * 1000)
    return json.dumps({"wake_at": millis, "campaigns": list(campaigns)}).encode()


def decode_schedule(raw: bytes) -> Schedule:
    data = json.loads(raw)
    millis = data.get("wake_at")
    at = None if millis is None else datetime.fromtimestamp(millis / 1000, UTC)
    return at, tuple(str(c) for c in data.get("campaigns", ()))


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

    def _index(self, customer_id: str, campaigns: frozenset[str]) -> None:
        known = self._campaigns.get(customer_id, frozenset())
        if campaigns == known:
            return
        for campaign_id in known - campaigns:
            self._targeted.get(campaign_id, set()).discard(customer_id)
        for campaign_id in campaigns - known:
            self._targeted.setdefault(campaign_id, set()).add(customer_id)
        if campaigns:
            self._campaigns[customer_id] = campaigns
        else:
            self._campaigns.pop(customer_id, None)

    def track(self, state: CustomerState) -> None:
        """Remember when `state` wants asking again (its `wake_at`), replacing any earlier
        wish; a state that wants nothing is forgotten."""
        wake_at, campaigns = schedule_of(state) or (None, ())
        self.track_schedule(state.customer_id, wake_at, campaigns)

    def track_schedule(
        self, customer_id: str, at: datetime | None, campaigns: tuple[str, ...]
    ) -> None:
        self._index(customer_id, frozenset(campaigns))
        known = self._due_at.get(customer_id)
        if at == known:
            return
        if at is None:
            del self._due_at[customer_id]  # its heap entry is skipped when popped
            return
        self._due_at[customer_id] = at
        heapq.heappush(self._heap, (at, customer_id))

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
