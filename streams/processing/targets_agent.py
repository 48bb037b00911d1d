"""The targets agent: campaign targets are keyed by campaign:customer; it re-keys each to
its customer, for the customer agent."""

from __future__ import annotations

from typing import Any

from faust.types import EventT

from streams.domain.events import CampaignTarget
from streams.processing.runtime import AgentBody, decode
from streams.wire.serialization import SerializationError


class TargetsAgent(AgentBody):
    async def run(self, stream: Any) -> None:
        await self.processing.handle_each(stream, self._rekey)

    async def _rekey(self, event: EventT) -> None:
        fact = decode(self.app, event)
        if not isinstance(fact, CampaignTarget):
            raise SerializationError(f"{type(fact).__name__} is not a CampaignTarget")
        topic = self.topics.customer_commands
        await self.processing.forward(topic, fact.customer_id.encode(), event.value, event)
