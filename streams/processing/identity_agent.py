"""The identity agent: links identities to customers, and resolves events that came
without a customer id."""

from __future__ import annotations

from typing import Any

from faust.types import EventT

from streams import metrics
from streams.domain.events import Interaction
from streams.domain.links import IdentityLink, anonymous_customer_id
from streams.domain.resolution import fallback_identity, on_link
from streams.processing.runtime import AgentBody, decode, key_of
from streams.wire import topics
from streams.wire.serialization import SerializationError


class IdentityAgent(AgentBody):
    async def run(self, stream: Any) -> None:
        await self.processing.handle_each(stream, self._resolve)

    async def _resolve(self, event: EventT) -> None:
        fact = decode(self.app, event)
        identity = key_of(event)
        if isinstance(fact, IdentityLink):
            await self._link(identity, fact)
        elif isinstance(fact, Interaction):
            await self._route(identity, fact, event)
        else:
            raise SerializationError(
                f"{type(fact).__name__} does not belong on {self.topics.identity}"
            )

    async def _link(self, identity: str, link: IdentityLink) -> None:
        processing = self.processing
        new_holder, merge = on_link(processing.holder_of(identity), link, processing.clock())
        if merge is not None:
            await processing.customers.send_command_for(merge.target_id, merge)
            metrics.events.labels(agent="identity", outcome="merge_requested").inc()
        if new_holder is not None:
            # Even when unchanged: as for customer states, a redelivered link restores a
            # changelog record that a crash may have lost.
            self.outbox.put(self.app.identities, identity, new_holder)

    async def _route(self, identity: str, fact: Interaction, event: EventT) -> None:
        processing = self.processing
        customer_id = self.processing.holder_of(identity)
        if customer_id is None:
            onward = fallback_identity(identity, fact)
            if onward is not None:
                await processing.forward(self.topics.identity, onward.encode(), event.value, event)
                return
            customer_id = anonymous_customer_id(identity)
            self.outbox.put(self.app.identities, identity, customer_id)
        resolved = fact.model_copy(
            update={"customer": fact.customer.model_copy(update={"customer_id": customer_id})}
        )
        value = self.app.serializer.encode_model(resolved, topics.INTERACTIONS)
        await processing.forward(self.topics.customer_commands, customer_id.encode(), value, event)
