"""GET /v1/customers/{id}: the customer view, answered by whichever worker owns the key."""

from __future__ import annotations

from typing import Any

from streams.app import app, customers
from streams.domain.customer import CustomerState
from streams.domain.model import Channel
from streams.web.base import ApiView


def customer_view(state: CustomerState) -> dict[str, Any]:
    view = state.model_dump(mode="json", exclude={"recent_event_ids"})
    view["dial_lists"] = sorted(state.dial_list_campaigns())
    view["suppressed_campaigns"] = sorted(
        {s.campaign_id for s in state.suppressions if s.covers(Channel.VOICE)}
    )
    return view


@app.page("/v1/customers/{customer_id}")
class CustomerView(ApiView):
    @app.table_route(table=customers, match_info="customer_id")  # type: ignore[arg-type]
    async def get(self, request: Any, customer_id: str) -> Any:
        state = customers.get(customer_id)
        if state is None:
            return self.json({"error": f"no customer {customer_id}"}, status=404)
        return self.json(customer_view(state))
