"""GET /v1/customers/{id} and its timeline: the customer view, answered by whichever
worker owns the key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.adapters.native import InputError
from streams.domain.customer import CustomerState
from streams.domain.single_view import single_customer_view
from streams.web.base import ApiView
from streams.web.owners import on_owner

MAX_TIMELINE = 200


def customer_view(state: CustomerState, now: datetime | None = None) -> dict[str, Any]:
    """The 360 view as JSON (shape: `streams.domain.single_view`). Ages, windowed counts,
    scores and alerts are relative to `now`, the current time unless given."""
    return single_customer_view(state, now or datetime.now(UTC))


class CustomerView(ApiView):
    async def get(self, request: Any, customer_id: str) -> Any:
        reads = self.parts.reads

        async def answer() -> Any:
            state = reads.customer_state(customer_id)
            if state is None:
                return self.json({"error": f"no customer {customer_id}"}, status=404)
            return self.json(customer_view(state))

        return await on_owner(self, self.hub.customers, customer_id, request, answer)


class CustomerTimeline(ApiView):
    async def get(self, request: Any, customer_id: str) -> Any:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            raise InputError("limit", "must be a whole number") from None
        if not 1 <= limit <= MAX_TIMELINE:
            raise InputError("limit", f"must be between 1 and {MAX_TIMELINE}")
        reads = self.parts.reads

        async def answer() -> Any:
            state = reads.customer_state(customer_id)
            if state is None:
                return self.json({"error": f"no customer {customer_id}"}, status=404)
            view = customer_view(state)
            return self.json(
                {
                    "customer_id": customer_id,
                    "merged_into": view.get("merged_into"),
                    "entries": view.get("timeline", [])[:limit],
                }
            )

        return await on_owner(self, self.hub.customers, customer_id, request, answer)
