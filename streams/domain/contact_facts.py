"""What the contact rules read of a customer: `ContactFacts` built from the state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from streams.domain.campaign_policy import Purpose
from streams.domain.contact_rules import (
    MAX_CONTACT_MOMENTS,
    CampaignResponse,
    ConsentRecord,
    ContactFacts,
    ContactMoment,
)
from streams.domain.customer import CustomerState
from streams.domain.model import Channel, Direction

_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_PURPOSES = {p.value for p in Purpose}
_CHANNELS = {c.value: c for c in Channel}


# The version of what `facts_from_state` makes of a state, stored with every state so the
# contact check reads the facts instead of working them out (`streams.wire.state_codec`). Raise
# it whenever the facts made of the same state would change (another field, another
# reading of one): stored facts of another version are then worked out again.
FACTS_VERSION = 1

FactsSource = CustomerState | ContactFacts


def identity_keys(state: FactsSource) -> list[str]:
    """The keys do-not-contact entries are matched on: `phone:+90...`, `email:...`."""
    return [f"phone:{p}" for p in state.phones] + [f"email:{e}" for e in state.emails]


def facts_from_state(state: CustomerState) -> ContactFacts:
    """The facts of `state` the rules read, but for its DNC matches, which depend on the
    lists at the time of asking (`PolicyInputs.with_dnc`). Outbound contacts are kept per
    day, so each counts as made at the end of its day (UTC): a frequency cap then holds
    up to a day longer than the exact moments would, never shorter."""
    # Everything here comes from a validated state, in whole milliseconds: the records are
    # built without validating them again (the check runs on every dial attempt).
    moments: list[ContactMoment] = []
    for channel_name, days in state.contact_days.items():
        channel = _CHANNELS.get(channel_name, Channel.OTHER)
        for day, outbound in zip(days.days, days.outbound, strict=True):
            if not outbound:
                continue
            moment = ContactMoment.model_construct(
                at=_EPOCH + (day + 1) * _DAY - _MILLISECOND,
                channel=channel,
                direction=Direction.OUTBOUND,
            )
            moments.extend([moment] * outbound)
    moments.sort(key=lambda m: (m.at, m.channel.value))
    responses = tuple(
        CampaignResponse.model_construct(
            campaign_id=o.campaign_id, response=o.response, at=o.responded_at
        )
        for o in state.offers
        if o.response is not None and o.responded_at is not None
    )
    consents = tuple(
        ConsentRecord.model_construct(
            channel=c.channel, purpose=Purpose(c.purpose), granted=c.granted, at=c.at
        )
        for c in state.consents
        if c.purpose in _PURPOSES
    )
    return ContactFacts(
        customer_id=state.customer_id,
        phones=state.phones,
        emails=state.emails,
        timezone=state.profile.value("timezone"),
        consents=consents,
        opted_out_channels=state.opted_out_channels,
        opted_out_all=state.opted_out_all,
        offer_responses=responses,
        contact_moments=tuple(moments[-MAX_CONTACT_MOMENTS:]),
        last_complaint_at=state.last_complaint_at,
        products=state.products,
    )
