"""GET /v1/customers/{id}: the customer view, answered by whichever worker owns the key."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.app import app, customers
from streams.domain.customer import CustomerState
from streams.domain.single_view import single_customer_view
from streams.web import identities  # noqa: F401  (its fixed /v1/customers/... paths first)
from streams.web.base import ApiView


def customer_view(state: CustomerState, now: datetime | None = None) -> dict[str, Any]:
    """The 360 view as JSON (shape: `streams.domain.single_view`). Ages, windowed counts,
    scores and alerts are relative to `now`, the current time unless given."""
    return single_customer_view(state, now or datetime.now(UTC))


async def _ensure_partition_metadata() -> None:
    """Table routing hashes the key with the producer's metadata of the changelog topic,
    which the producer only has once it has written there: fetch it before routing."""
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    await producer.partitions_for(customers.changelog_topic.get_topic_name())


class CustomerView(ApiView):
    @app.table_route(table=customers, match_info="customer_id")  # type: ignore[arg-type]
    async def _routed(self, request: Any, customer_id: str) -> Any:
        state = customers.get(customer_id)
        if state is None:
            return self.json({"error": f"no customer {customer_id}"}, status=404)
        return self.json(customer_view(state))

    async def get(self, request: Any, customer_id: str) -> Any:
        await _ensure_partition_metadata()
        return await self._routed(request, customer_id)  # type: ignore[call-arg]


app.page("/v1/customers/{customer_id}")(CustomerView)
