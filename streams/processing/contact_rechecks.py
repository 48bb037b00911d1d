"""Asking the contact rules again without a new event: when a customer's hold ends (or
quiet hours begin), and when a new policy version or DNC entry concerns them. Each
recheck is a command on the customer-commands topic, so the log says when and why."""

from __future__ import annotations

from typing import TYPE_CHECKING

from streams import metrics
from streams.domain.contact_holds import ContactRecheck, customers_to_recheck

if TYPE_CHECKING:
    from streams.processing.customer_agent import CustomerAgent
    from streams.processing.runtime import Processing


class ContactRechecks:
    def __init__(self, processing: Processing, customers: CustomerAgent) -> None:
        self.processing = processing
        self.customers = customers
        self._changed_campaigns: set[str] = set()
        self._changed_identities: set[str] = set()
        processing.app.policy_book.listeners.append(self._changed_campaigns.add)
        processing.app.dnc_book.listeners.append(self._changed_identities.add)

    async def wake_customers(self) -> None:
        """Every second: the customers whose holds end now, and those a changed policy or
        DNC entry concerns, get a recheck command each."""
        processing = self.processing
        if not processing.app.policy_book.is_ready:
            return
        now = processing.clock()
        for customer_id, at in processing.wake_ups.due(now):
            command = ContactRecheck(customer_id=customer_id, at=at, reason="wake-up")
            await self.customers.send_command_for(customer_id, command)
            metrics.events.labels(agent="customer", outcome="wake_up").inc()
        campaigns, identities = list(self._changed_campaigns), list(self._changed_identities)
        self._changed_campaigns.clear()
        self._changed_identities.clear()
        found = customers_to_recheck(
            campaigns, identities, processing.wake_ups.targeted, processing.holder_of
        )
        for customer_id, reason in found:
            command = ContactRecheck(customer_id=customer_id, at=now, reason=reason)
            await self.customers.send_command_for(customer_id, command)
            metrics.events.labels(agent="customer", outcome=f"recheck_{reason}").inc()
