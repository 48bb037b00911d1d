"""The customer agents: fold interactions, campaign targets and commands into each
customer's state, and send the decisions the state change makes."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from faust.types import EventT

from streams import metrics
from streams.domain.contact_holds import ContactRecheck
from streams.domain.customer import CustomerState
from streams.domain.decisions import Decision, process, recheck
from streams.domain.events import CampaignTarget, Interaction
from streams.domain.name_index import index_updates, summary_of
from streams.domain.resolution import (
    Command,
    ProfileMerge,
    ProfileUnmerge,
    identity_links,
    on_merge,
    on_unmerge,
    redirected,
    routing_identity,
)
from streams.domain.screen_pop import screen_pop_for
from streams.processing.runtime import AgentBody, decode, key_of, log_time
from streams.processing.wake_ups import encode_schedule, schedule_of
from streams.wire import outgoing, topics
from streams.wire.serialization import SerializationError

if TYPE_CHECKING:
    from streams.processing.runtime import Processing

log = logging.getLogger(__name__)

_applied = metrics.events.labels(agent="customer", outcome="applied")
_duplicates = metrics.events.labels(agent="customer", outcome="duplicate")


class CustomerAgent(AgentBody):
    """Both customer agents (the interaction log and the customer commands) run this."""

    def __init__(self, processing: Processing) -> None:
        super().__init__(processing)
        self.state_cache = processing.state_cache
        self.locks = processing.customer_locks
        self.policy_inputs = processing.policy_inputs

    async def run(self, stream: Any) -> None:
        # Decisions read the campaign policies and the DNC list: never decide without them.
        await self.app.policy_book.ready()
        await self.app.dnc_book.ready()
        await self.processing.handle_each(stream, self._fold)

    async def _fold(self, event: EventT) -> None:
        fact = decode(self.app, event)
        if isinstance(fact, ProfileMerge | ProfileUnmerge):
            await self._route_or_command(event, fact)
        elif isinstance(fact, ContactRecheck):
            await self._recheck(event, fact)
        elif isinstance(fact, Interaction | CampaignTarget):
            await self._route_or_apply(event, fact)
        else:
            raise SerializationError(
                f"{type(fact).__name__} does not belong on {event.message.topic}"
            )

    async def _route_or_apply(self, event: EventT, fact: Interaction | CampaignTarget) -> None:
        key = key_of(event)
        customer_id = (
            fact.customer_id if isinstance(fact, CampaignTarget) else fact.customer.customer_id
        )
        processing = self.processing
        if customer_id is None:
            assert isinstance(fact, Interaction)
            identity = routing_identity(fact, self.app.identity_guard)
            await processing.forward(self.topics.identity, identity.encode(), event.value, event)
            metrics.events.labels(agent="customer", outcome="to_identity").inc()
            return
        if (
            key != customer_id
            or processing.owner_partition(key.encode()) != event.message.partition
        ):
            # Keyed by something else, or put on a partition that does not own the
            # customer (a producer with another partitioner): move it to the owner, never
            # apply it here.
            await processing.forward(
                self.topics.customer_commands, customer_id.encode(), event.value, event
            )
            metrics.events.labels(agent="customer", outcome="rekeyed").inc()
            return
        await self.apply(customer_id, fact, log_time(event, self.processing.clock))

    async def apply(
        self, customer_id: str, fact: Interaction | CampaignTarget, now: datetime | None = None
    ) -> None:
        async with self.locks.hold(customer_id):
            await self._apply_locked(customer_id, fact, now or self.processing.clock())

    async def _apply_locked(
        self, customer_id: str, fact: Interaction | CampaignTarget, now: datetime
    ) -> None:
        state = self.state_cache.get(customer_id) or CustomerState.new(customer_id)
        survivor = redirected(customer_id, state)
        if survivor is not None:
            # Merged into another profile: the event belongs to the survivor now.
            await self.send_command_for(survivor, _for_customer(fact, survivor), now.timestamp())
            metrics.events.labels(agent="customer", outcome="redirected").inc()
            return
        outcome = process(state, fact, self.app.reply_rules, now, self.policy_inputs)
        if outcome.duplicate:
            # Seen already. A redelivery after a crash can find its state in the local
            # store while its changelog record was lost with the process: store it once
            # more, so the changelog (what another worker or a wiped store recovers from)
            # has it too.
            self.outbox.put(self.app.customers, customer_id, state)
            _duplicates.inc()
            return
        source = fact.event_id if isinstance(fact, Interaction) else fact.upload_id
        # Whatever is sent here is delivered before the state is stored
        # (streams.processing.outbox): until then a redelivered event decides again
        # (decision ids are deterministic).
        send, serializer = self.processing.send, self.app.serializer
        for link in identity_links(state, outcome.state, self.app.identity_guard, source):
            await send(outgoing.identity_link(serializer, self.topics.identity, link))
        await self.send_decisions(outcome.decisions)
        pop = screen_pop_for(fact, customer_id) if isinstance(fact, Interaction) else None
        if pop is not None:
            await send(outgoing.screen_pop(serializer, self.topics.screen_pops, pop))
        await self._index_names(state, outcome.state)
        self.store(customer_id, outcome.state, state)
        _applied.inc()

    def store(self, customer_id: str, state: CustomerState, before: CustomerState | None) -> None:
        app, outbox = self.app, self.outbox
        outbox.put(app.customers, customer_id, state)
        self.state_cache.put(customer_id, state)
        self.processing.wake_ups.track(state)
        schedule = schedule_of(state)
        if schedule != schedule_of(before):
            if schedule is None:
                if outbox.get(app.schedules, customer_id) is not None:
                    outbox.delete(app.schedules, customer_id)
            else:
                outbox.put(app.schedules, customer_id, encode_schedule(schedule))

    async def send_decisions(self, decisions: Iterable[Decision]) -> None:
        for decision in decisions:
            await self.processing.send(outgoing.decision(self.app.serializer, decision))
            metrics.decisions.labels(kind=type(decision).__name__).inc()

    async def _recheck(self, event: EventT, command: ContactRecheck) -> None:
        """Ask the contact rules again about a customer, at the moment the command names."""
        if key_of(event) != command.customer_id:
            await self.send_command_for(command.customer_id, command)
            return
        async with self.locks.hold(command.customer_id):
            state = self.state_cache.get(command.customer_id)
            if state is None or state.merged_into is not None:
                return
            outcome = recheck(state, self.policy_inputs, command.at, command.check_id)
            if outcome.state is state:
                metrics.events.labels(agent="customer", outcome="recheck_unchanged").inc()
                return
            await self.send_decisions(outcome.decisions)
            self.store(command.customer_id, outcome.state, state)
            metrics.events.labels(agent="customer", outcome="rechecked").inc()

    async def _index_names(self, before: CustomerState | None, after: CustomerState) -> None:
        for update in index_updates(summary_of(before), summary_of(after)):
            summary = update.summary.as_json() if update.summary else None
            value = json.dumps({"customer_id": update.customer_id, "summary": summary}).encode()
            await self.outbox.send(self.topics.name_index, update.token.encode(), value)

    async def send_command_for(
        self, customer_id: str, command: Any, timestamp: float | None = None
    ) -> None:
        topic = topics.INTERACTIONS if isinstance(command, Interaction) else None
        value = self.app.serializer.encode_model(command, topic)
        await self.outbox.send(
            self.topics.customer_commands, customer_id.encode(), value, timestamp=timestamp
        )

    async def _route_or_command(self, event: EventT, command: Command) -> None:
        if key_of(event) != command.target_id:
            await self.send_command_for(command.target_id, command)
            return
        async with self.locks.hold(command.target_id):
            state = self.state_cache.get(command.target_id)
            now = self.processing.clock()
            if isinstance(command, ProfileMerge):
                step = on_merge(state, command, self.app.identity_guard, now)
            else:
                step = on_unmerge(state, command, now)
            kind = type(command).__name__
            if step.note is not None:
                log.info("%s %s %s: %s", kind, command.step.value, command.target_id, step.note)
            # As for events, what is sent is delivered before the state is stored.
            for link in step.links:
                await self.processing.send(
                    outgoing.identity_link(self.app.serializer, self.topics.identity, link)
                )
            await self.send_decisions(step.decisions)
            for onward in step.commands:
                await self.send_command_for(onward.target_id, onward)
            if step.state is not None:
                await self._index_names(state, step.state)
                self.store(command.target_id, step.state, state)
            metrics.events.labels(
                agent="customer", outcome=f"{kind}.{command.step.value}.{step.note or 'applied'}"
            ).inc()


def _for_customer(
    fact: Interaction | CampaignTarget, customer_id: str
) -> Interaction | CampaignTarget:
    if isinstance(fact, CampaignTarget):
        return fact.model_copy(update={"customer_id": customer_id})
    return fact.model_copy(
        update={"customer": fact.customer.model_copy(update={"customer_id": customer_id})}
    )
