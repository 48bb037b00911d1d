"""GET /v1/customers/{id}: the customer view, answered by whichever worker owns the key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.app import app, customers
from streams.domain.customer import CustomerState
from streams.domain.single_view import single_customer_view
from streams.owned_reads import customer_state

# Imported first: its fixed /v1/customers/... paths must be routed before {customer_id}.
from streams.web import identities
from streams.web.base import ApiView


def customer_view(state: CustomerState, now: datetime | None = None) -> dict[str, Any]:
    """The 360 view as JSON (shape: `streams.domain.single_view`). Ages, windowed counts,
    scores and alerts are relative to `now`, the current time unless given."""
    return single_customer_view(state, now or datetime.now(UTC))


class CustomerView(ApiView):
    async def get(self, request: Any, customer_id: str) -> Any:
        async def answer() -> Any:
            state = customer_state(customer_id)
            if state is None:
                return self.json({"error": f"no customer {customer_id}"}, status=404)
            return self.json(customer_view(state))

        return await identities.on_owner(self, customers, customer_id, request, answer)


app.page("/v1/customers/{customer_id}")(CustomerView)
