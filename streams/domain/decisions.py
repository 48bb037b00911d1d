"""Decisions derived from customer state: suppressions and dial-list changes, and the
policy that derives them (`process`: evolve, interpret, decide)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from pydantic import AwareDatetime

from streams.domain.customer import (
    CustomerState,
    SuppressionRecord,
    TargetRecord,
    evolve,
    record_opt_out,
    record_response,
)
from streams.domain.events import (
    CampaignTarget,
    Interaction,
    Message,
    OfferResponse,
    OptOut,
)
from streams.domain.keywords import DEFAULT_KEYWORDS, SmsIntent, SmsKeywords
from streams.domain.model import (
    Channel,
    Direction,
    Fact,
    Int32,
    OfferResponseKind,
    SuppressionReason,
    campaign_key,
    to_millis,
)

# A fixed namespace makes suppression ids a function of their cause, so replays and
# redeliveries produce the same id and consumers can de-duplicate on it.
_SUPPRESSION_NS = uuid.UUID("6f1b7c52-3c1e-4d55-9a51-2b7d8e0c4a10")

POLICY_OFFER_RESPONSE = "offer-response/v1"
POLICY_SMS_REPLY = "sms-reply-correlation/v1"
POLICY_OPT_OUT = "opt-out/v1"


class Suppression(Fact):
    suppression_id: str
    campaign_id: str
    customer_id: str
    reason: SuppressionReason
    channels: tuple[Channel, ...] = ()
    source_event_id: str
    source_channel: Channel
    policy: str
    occurred_at: AwareDatetime
    decided_at: AwareDatetime

    @property
    def key(self) -> str:
        return campaign_key(self.campaign_id, self.customer_id)


class DialListEntry(Fact):
    campaign_id: str
    customer_id: str
    phone: str | None = None
    priority: Int32 = 0
    added_at: AwareDatetime
    source_id: str

    @property
    def key(self) -> str:
        return campaign_key(self.campaign_id, self.customer_id)


class DialListRemoval(Fact):
    """The customer leaves a campaign's dial list: a tombstone on the compacted topic."""

    campaign_id: str
    customer_id: str
    because: str

    @property
    def key(self) -> str:
        return campaign_key(self.campaign_id, self.customer_id)


Decision = Suppression | DialListEntry | DialListRemoval


@dataclass(frozen=True)
class ContactPolicy:
    """What the decisions depend on besides state: keywords and the response window."""

    keywords: SmsKeywords = field(default=DEFAULT_KEYWORDS)
    response_window: timedelta = timedelta(days=7)


@dataclass(frozen=True)
class Outcome:
    state: CustomerState
    decisions: tuple[Decision, ...]
    duplicate: bool = False


def suppression_id(source_event_id: str, campaign_id: str, reason: SuppressionReason) -> str:
    return str(uuid.uuid5(_SUPPRESSION_NS, f"{source_event_id}|{campaign_id}|{reason.value}"))


def process(
    state: CustomerState,
    fact: Interaction | CampaignTarget,
    policy: ContactPolicy,
    now: datetime,
) -> Outcome:
    """One step of the customer agent: fold the fact, read what it means, decide."""
    if isinstance(fact, Interaction) and state.has_seen(fact.event_id):
        return Outcome(state, (), duplicate=True)
    decided_at = to_millis(now)
    folded = evolve(state, fact)
    if folded is state:  # a target upload already applied, or an older one
        return Outcome(state, (), duplicate=True)
    suppressions: list[Suppression] = []
    if isinstance(fact, Interaction):
        folded, suppressions = _interpret(folded, fact, policy, decided_at)
    listed_before = state.dial_list_campaigns()
    because = fact.event_id if isinstance(fact, Interaction) else fact.upload_id
    dial_changes = dial_list_changes(
        listed_before, folded, because=because, suppressions=suppressions
    )
    return Outcome(folded, (*suppressions, *dial_changes))


def _interpret(
    state: CustomerState, event: Interaction, policy: ContactPolicy, decided_at: datetime
) -> tuple[CustomerState, list[Suppression]]:
    payload = event.payload
    if isinstance(payload, OfferResponse):
        return _suppress(
            state,
            event,
            [payload.campaign_id],
            _reason(payload.response),
            (),
            POLICY_OFFER_RESPONSE,
            decided_at,
        )
    if isinstance(payload, OptOut):
        return _suppress(
            state,
            event,
            _campaigns_in_play(state),
            SuppressionReason.OPTED_OUT,
            tuple(payload.channels),
            POLICY_OPT_OUT,
            decided_at,
        )
    if (
        isinstance(payload, Message)
        and event.channel is Channel.SMS
        and event.direction is Direction.INBOUND
    ):
        return _interpret_sms_reply(state, event, payload, policy, decided_at)
    return state, []


def _interpret_sms_reply(
    state: CustomerState,
    event: Interaction,
    message: Message,
    policy: ContactPolicy,
    decided_at: datetime,
) -> tuple[CustomerState, list[Suppression]]:
    intent = policy.keywords.classify(message.text)
    if intent is SmsIntent.OPT_OUT:
        state = record_opt_out(state, (Channel.SMS,))
        return _suppress(
            state,
            event,
            _campaigns_in_play(state),
            SuppressionReason.OPTED_OUT,
            (Channel.SMS,),
            POLICY_OPT_OUT,
            decided_at,
        )
    if intent is None:
        return state, []
    offer = state.open_offer(Channel.SMS, event.occurred_at, policy.response_window.total_seconds())
    if offer is None:
        return state, []
    response = (
        OfferResponseKind.ACCEPTED if intent is SmsIntent.ACCEPT else OfferResponseKind.DECLINED
    )
    state = record_response(state, offer.campaign_id, response, event, offer)
    return _suppress(
        state, event, [offer.campaign_id], _reason(response), (), POLICY_SMS_REPLY, decided_at
    )


def _reason(response: OfferResponseKind) -> SuppressionReason:
    if response is OfferResponseKind.ACCEPTED:
        return SuppressionReason.OFFER_ACCEPTED
    return SuppressionReason.OFFER_DECLINED


def _campaigns_in_play(state: CustomerState) -> list[str]:
    """Campaigns an opt-out must be announced for: targeted or offered ones."""
    seen: dict[str, None] = {}
    for t in state.targets:
        seen[t.campaign_id] = None
    for o in state.offers:
        seen[o.campaign_id] = None
    return list(seen)


def _suppress(
    state: CustomerState,
    event: Interaction,
    campaigns: list[str],
    reason: SuppressionReason,
    channels: tuple[Channel, ...],
    policy: str,
    decided_at: datetime,
) -> tuple[CustomerState, list[Suppression]]:
    decisions: list[Suppression] = []
    records = list(state.suppressions)
    for campaign_id in campaigns:
        already = any(
            s.campaign_id == campaign_id and s.reason == reason and s.channels == channels
            for s in records
        )
        if already:
            continue
        suppression = Suppression(
            suppression_id=suppression_id(event.event_id, campaign_id, reason),
            campaign_id=campaign_id,
            customer_id=state.customer_id,
            reason=reason,
            channels=channels,
            source_event_id=event.event_id,
            source_channel=event.channel,
            policy=policy,
            occurred_at=event.occurred_at,
            decided_at=decided_at,
        )
        decisions.append(suppression)
        records.append(
            SuppressionRecord(
                suppression_id=suppression.suppression_id,
                campaign_id=campaign_id,
                reason=reason,
                channels=channels,
                source_event_id=event.event_id,
                decided_at=decided_at,
            )
        )
    return state.model_copy(update={"suppressions": tuple(records)}), decisions


def dial_list_changes(
    listed_before: dict[str, TargetRecord],
    state: CustomerState,
    *,
    because: str,
    suppressions: list[Suppression],
) -> list[DialListEntry | DialListRemoval]:
    """The dial list is derived: targets minus suppressions. Emit only what changed; a
    removal names the suppression that caused it, else `because` (the fact's id)."""
    listed_after = {} if state.merged_into is not None else state.dial_list_campaigns()
    changes: list[DialListEntry | DialListRemoval] = []
    for campaign_id, target in listed_after.items():
        if listed_before.get(campaign_id) != target:
            changes.append(
                DialListEntry(
                    campaign_id=campaign_id,
                    customer_id=state.customer_id,
                    phone=target.phone or (state.phones[0] if state.phones else None),
                    priority=target.priority,
                    added_at=target.uploaded_at,
                    source_id=target.upload_id,
                )
            )
    cause = {s.campaign_id: s.suppression_id for s in suppressions}
    for campaign_id in listed_before.keys() - listed_after.keys():
        changes.append(
            DialListRemoval(
                campaign_id=campaign_id,
                customer_id=state.customer_id,
                because=cause.get(campaign_id) or because,
            )
        )
    return changes
