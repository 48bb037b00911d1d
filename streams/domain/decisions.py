"""Decisions derived from customer state: suppressions and dial-list changes, and the
policy that derives them (`process`: evolve, interpret, decide)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from pydantic import AwareDatetime

from streams.domain.contact_holds import (
    DIAL_LIST_CHANNEL,
    POLICY_NAME,
    Change,
    PolicyInputs,
    decision_id,
    reconcile,
    record_decisions,
)
from streams.domain.customer import (
    CustomerState,
    DecisionRecord,
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
from streams.domain.flags import DEFAULT_ABUSE_LEXICON, AbuseLexicon
from streams.domain.keywords import DEFAULT_KEYWORDS, SmsIntent, SmsKeywords
from streams.domain.model import (
    Channel,
    Direction,
    Fact,
    Int32,
    OfferResponseKind,
    SuppressionAction,
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


class _AboutCampaignCustomer(Protocol):
    campaign_id: str
    customer_id: str


class _KeyedByCampaign:
    """A decision about one customer in one campaign: keyed by both on Kafka."""

    @property
    def key(self: _AboutCampaignCustomer) -> str:
        return campaign_key(self.campaign_id, self.customer_id)


class Suppression(_KeyedByCampaign, Fact):
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
    action: SuppressionAction = SuppressionAction.SUPPRESSED
    until: AwareDatetime | None = None
    rule: str | None = None
    policy_version: Int32 | None = None


class DialListEntry(_KeyedByCampaign, Fact):
    campaign_id: str
    customer_id: str
    phone: str | None = None
    priority: Int32 = 0
    added_at: AwareDatetime
    source_id: str


class DialListRemoval(_KeyedByCampaign, Fact):
    """The customer leaves a campaign's dial list: a tombstone on the compacted topic."""

    campaign_id: str
    customer_id: str
    because: str


Decision = Suppression | DialListEntry | DialListRemoval


@dataclass(frozen=True)
class ReplyRules:
    """How a customer's replies are read, besides their state: the SMS keywords, the
    window in which a reply answers an offer, and the abuse lexicon. (Not to be confused
    with a campaign's contact policy, `streams.domain.campaign_policy`.)"""

    keywords: SmsKeywords = field(default=DEFAULT_KEYWORDS)
    response_window: timedelta = timedelta(days=7)
    abuse_lexicon: AbuseLexicon = field(default=DEFAULT_ABUSE_LEXICON)


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
    policy: ReplyRules,
    now: datetime,
    inputs: PolicyInputs | None = None,
) -> Outcome:
    """One step of the customer agent: fold the fact, read what it means, decide. With
    `inputs` (the campaign policies and do-not-contact lists) the contact rules decide the
    dial list too (`streams.domain.contact_holds`)."""
    if isinstance(fact, Interaction) and state.has_seen(fact.event_id):
        return Outcome(state, (), duplicate=True)
    decided_at = to_millis(now)
    folded = evolve(state, fact, lexicon=policy.abuse_lexicon)
    if folded is state:  # a target upload already applied, or an older one
        return Outcome(state, (), duplicate=True)
    suppressions: list[Suppression] = []
    if isinstance(fact, Interaction):
        folded, suppressions = _interpret(folded, fact, policy, decided_at)
    because = fact.event_id if isinstance(fact, Interaction) else fact.upload_id
    channel = fact.channel if isinstance(fact, Interaction) else Channel.OTHER
    uploaded = fact.campaign_id if isinstance(fact, CampaignTarget) else None
    return _settle(state, folded, suppressions, inputs, decided_at, because, channel, uploaded)


def recheck(state: CustomerState, inputs: PolicyInputs, at: datetime, because: str) -> Outcome:
    """Ask the contact rules again at `at` with no new event: holds end by themselves
    (a DNC entry expired, a cooldown ran out, quiet hours are over), or begin (quiet hours
    begin), or a new policy version or DNC entry changed the answer."""
    return _settle(state, state, [], inputs, to_millis(at), because, Channel.OTHER)


def _settle(
    before: CustomerState,
    folded: CustomerState,
    suppressions: list[Suppression],
    inputs: PolicyInputs | None,
    decided_at: datetime,
    because: str,
    channel: Channel,
    uploaded: str | None = None,
) -> Outcome:
    if inputs is not None:
        # Every decision names the policy version in force for its campaign.
        suppressions = [
            s.model_copy(update={"policy_version": inputs.policy_for(s.campaign_id).version})
            if s.policy_version is None
            else s
            for s in suppressions
        ]
        folded, changes = reconcile(folded, inputs, decided_at, because)
        suppressions = [
            *suppressions,
            *(_announce(c, folded.customer_id, channel) for c in changes),
        ]
    listed_before = before.dial_list_campaigns()
    dial_changes = dial_list_changes(
        listed_before, folded, because=because, suppressions=suppressions, uploaded=uploaded
    )
    decisions = (*suppressions, *dial_changes)
    # A removal of someone who was not listed restates, changes nothing: not audited.
    changed = [
        d
        for d in decisions
        if not (isinstance(d, DialListRemoval) and d.campaign_id not in listed_before)
    ]
    if changed:
        folded = record_decisions(folded, (_audit(d, because, decided_at, folded) for d in changed))
    return Outcome(folded, decisions)


def _announce(change: Change, customer_id: str, channel: Channel) -> Suppression:
    hold = change.hold
    lifted = change.action is SuppressionAction.LIFTED
    return Suppression(
        suppression_id=decision_id(hold.suppression_id, "lifted", change.source_event_id)
        if lifted
        else hold.suppression_id,
        campaign_id=hold.campaign_id,
        customer_id=customer_id,
        reason=hold.reason,
        channels=(DIAL_LIST_CHANNEL,),
        source_event_id=change.source_event_id,
        source_channel=channel,
        policy=f"{POLICY_NAME}/{hold.rule}",
        occurred_at=change.decided_at,
        decided_at=change.decided_at,
        action=change.action,
        until=None if lifted else hold.until,
        rule=hold.rule,
        policy_version=hold.policy_version,
    )


def _audit(
    decision: Decision, because: str, decided_at: datetime, state: CustomerState
) -> DecisionRecord:
    if isinstance(decision, Suppression):
        detail = next(
            (h.detail for h in state.holds if h.suppression_id == decision.suppression_id),
            None,
        )
        return DecisionRecord(
            decision_id=decision.suppression_id,
            kind=decision.action.value,
            campaign_id=decision.campaign_id,
            rule=decision.rule or decision.policy,
            reason=decision.reason.value,
            channels=decision.channels,
            source_event_id=decision.source_event_id,
            policy_version=decision.policy_version,
            decided_at=decision.decided_at,
            until=decision.until,
            detail=detail,
        )
    if isinstance(decision, DialListEntry):
        return DecisionRecord(
            decision_id=decision_id("listed", decision.campaign_id, because),
            kind="LISTED",
            campaign_id=decision.campaign_id,
            rule="dial-list",
            channels=(DIAL_LIST_CHANNEL,),
            source_event_id=because,
            decided_at=decided_at,
        )
    return DecisionRecord(
        decision_id=decision_id("unlisted", decision.campaign_id, because),
        kind="UNLISTED",
        campaign_id=decision.campaign_id,
        rule="dial-list",
        channels=(DIAL_LIST_CHANNEL,),
        source_event_id=decision.because,
        decided_at=decided_at,
    )


def _interpret(
    state: CustomerState, event: Interaction, policy: ReplyRules, decided_at: datetime
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
    policy: ReplyRules,
    decided_at: datetime,
) -> tuple[CustomerState, list[Suppression]]:
    intent = policy.keywords.classify(message.text)
    if intent is SmsIntent.OPT_OUT:
        state = record_opt_out(state, (Channel.SMS,), event)
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
    uploaded: str | None = None,
) -> list[DialListEntry | DialListRemoval]:
    """The dial list is derived: targets minus suppressions. Emit what changed; a
    removal names the suppression that caused it, else `because` (the fact's id).

    A target upload for campaign `uploaded` that does not list the customer says so with
    a removal even when they were not listed: an entry published before a crash, from a
    state that was never stored, must not outlive the state that replaced it (the
    upload and the reply that suppresses it can be decided again in the other order)."""
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
    unlisted = listed_before.keys() - listed_after.keys()
    if uploaded is not None and uploaded not in listed_after:
        unlisted.add(uploaded)
    for campaign_id in sorted(unlisted):
        changes.append(
            DialListRemoval(
                campaign_id=campaign_id,
                customer_id=state.customer_id,
                because=cause.get(campaign_id) or because,
            )
        )
    return changes
