"""Screen pop: which agent's desktop should show which customer, decided from one interaction.

A VOICE or CHAT interaction that names the agent the contact is with pops that agent's
screen. The agent is `call.agent_id` (CTI: Twilio, Amazon Connect, any dialler) or, for
chat platforms that carry no call record, `metadata["agent_id"]`.

The rule is deliberately simple: a contact that names an agent pops, unless its call status
says the agent does not have it. That is the case while the call is still being set up
(`queued`, `initiated`, `ringing`) and for calls that never connected (`busy`, `no-answer`,
`canceled`, `failed`). Every other status (`in-progress`, `answered`, `completed`, or any
vendor word we do not know) pops: a contact trace record that arrives only after the call
(Amazon Connect) still shows the agent whom they just spoke to. Repeated events for one call
give one pop each; the desktop recognises the same call by `call_id`.
"""

from __future__ import annotations

from streams.domain.events import Interaction, NonEmpty
from streams.domain.model import Channel, Fact, KeptMillis

SCREEN_POP_CHANNELS = frozenset({Channel.VOICE, Channel.CHAT})

# Call statuses (Twilio's words, lower case) that say the agent does not have the contact.
NOT_CONNECTED_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "busy", "no-answer", "canceled", "failed"}
)

AGENT_METADATA_KEY = "agent_id"
MAX_AGENT_ID = 200


class ScreenPop(Fact):
    """Show this customer on this agent's desktop, because of this event."""

    agent_id: NonEmpty
    customer_id: NonEmpty
    event_id: NonEmpty
    channel: Channel
    occurred_at: KeptMillis
    call_id: str | None = None
    context_token: str | None = None


def agent_for(event: Interaction) -> str | None:
    """The agent the contact is assigned to, if the event says so."""
    agent = event.call.agent_id if event.call is not None else None
    agent = agent or event.metadata.get(AGENT_METADATA_KEY)
    agent = (agent or "").strip()
    # Longer than any agent id: not one (refusing it would dead-letter the whole event).
    return agent if 0 < len(agent) <= MAX_AGENT_ID else None


def screen_pop_for(event: Interaction, customer_id: str) -> ScreenPop | None:
    """The pop `event` causes for `customer_id` (already resolved), or None."""
    if event.channel not in SCREEN_POP_CHANNELS:
        return None
    agent_id = agent_for(event)
    if agent_id is None:
        return None
    call = event.call
    if call is not None and call.status.strip().lower() in NOT_CONNECTED_STATUSES:
        return None
    return ScreenPop(
        agent_id=agent_id,
        customer_id=customer_id,
        event_id=event.event_id,
        channel=event.channel,
        occurred_at=event.occurred_at,
        call_id=call.call_id if call is not None else None,
        context_token=event.context_token,
    )
