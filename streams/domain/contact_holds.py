"""The contact rules applied to the dial list: which campaigns the rules hold a customer
off, the suppressions and lifts that announce each change, the audit of every decision,
and when the rules must be asked again without any new event.

The dial list and the dispatch-time check (`GET /v1/contact-check`) read the same rules
(`contact_rules.check`) on the same facts, for VOICE: a targeted customer is on a
campaign's dial list exactly when the check allows calling them now. Every change is an
event on `touchline.suppressions.v1`: SUPPRESSED with the rule, reason, policy version and
`until`, and LIFTED when it ends, whether a new event ended it or the time did (a DNC
entry expired, a cooldown ran out, quiet hours are over)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from streams.domain.campaign_policy import (
    CampaignPolicy,
    DoNotContactEntry,
    QuietHours,
    default_policy,
)
from streams.domain.contact_facts import facts_from_state, identity_keys
from streams.domain.contact_rules import ContactDecision, ContactFacts, check, customer_zone
from streams.domain.customer import CustomerState, DecisionRecord, PolicyHold
from streams.domain.model import Channel, Fact, KeptMillis, SuppressionAction, to_millis

DIAL_LIST_CHANNEL = Channel.VOICE
MAX_DECISIONS = 100
POLICY_NAME = "contact-policy"

_HOLD_NS = uuid.UUID("a3e1f0c2-77b4-4c1d-9e55-0d6b2f8c1a94")
_DECISION_NS = uuid.UUID("c6f2b8e0-1d3a-4b7f-a2c9-5e8d7f1b0a36")


class ContactRecheck(Fact):
    """Ask the rules about a customer again at `at`, with no new event. A command on the
    customer-commands topic, so a replay of the log asks at the same moments."""

    customer_id: str
    at: KeptMillis
    reason: str  # wake-up, policy or dnc

    @property
    def check_id(self) -> str:
        return f"recheck:{self.reason}:{self.at.isoformat()}"


@dataclass(frozen=True)
class PolicyInputs:
    """What the rules need besides the customer: each campaign's policy and the
    do-not-contact entries for a customer's identities."""

    policy_for: Callable[[str], CampaignPolicy] = default_policy
    dnc_for: Callable[[Iterable[str]], list[DoNotContactEntry]] = lambda keys: []

    def facts(self, state: CustomerState) -> ContactFacts:
        return self.with_dnc(facts_from_state(state))

    def with_dnc(self, facts: ContactFacts) -> ContactFacts:
        """`facts` of a state (`facts_from_state` without DNC matches) with the entries
        matching the customer's identities now."""
        matches = self.dnc_for(identity_keys(facts))
        if not matches:
            return facts
        return facts.model_copy(update={"dnc_matches": tuple(matches)})


@dataclass(frozen=True)
class Change:
    """A hold starts or ends, for the suppression topic."""

    action: SuppressionAction
    hold: PolicyHold
    decided_at: datetime
    source_event_id: str


def contact_check(
    facts: ContactFacts | None,
    customer_id: str,
    campaign_id: str,
    channel: Channel,
    inputs: PolicyInputs,
    now: datetime,
) -> ContactDecision:
    """May `customer_id` be contacted on `channel` for `campaign_id` at `now`? `facts` are
    those of the customer's state without DNC matches (`facts_from_state(state)`, as
    stored with it), None for a customer without one."""
    if facts is None:
        facts = ContactFacts(customer_id=customer_id)
    return check(inputs.with_dnc(facts), inputs.policy_for(campaign_id), channel, now)


def campaigns_in_play(state: CustomerState) -> list[str]:
    """Campaigns the dial list can hold the customer on: targeted ones."""
    return sorted({t.campaign_id for t in state.targets})


def reconcile(
    state: CustomerState, inputs: PolicyInputs, now: datetime, source_event_id: str
) -> tuple[CustomerState, list[Change]]:
    """Ask the rules about every targeted campaign at `now`; start and end holds to match,
    and set when to ask again. Pure: the same state, inputs and moment give the same
    result (the agent passes the log's own timestamp as `now`)."""
    if state.merged_into is not None or not (state.targets or state.holds or state.wake_at):
        return state, []  # on no dial list, held off none: nothing to ask (the common case)
    now = to_millis(now)
    facts = inputs.facts(state)
    current = {h.campaign_id: h for h in state.holds}
    holds: list[PolicyHold] = []
    changes: list[Change] = []
    wake: list[datetime] = []
    for campaign_id in campaigns_in_play(state):
        policy = inputs.policy_for(campaign_id)
        decision = check(facts, policy, DIAL_LIST_CHANNEL, now)
        held = current.pop(campaign_id, None)
        if decision.allowed:
            if held is not None:
                changes.append(Change(SuppressionAction.LIFTED, held, now, source_event_id))
            closes = window_closes(policy.quiet_hours, customer_zone(facts), now)
            if policy.quiet_hours_cover(DIAL_LIST_CHANNEL) and closes is not None:
                wake.append(closes)
            continue
        reason = decision.reasons[0]
        hold = PolicyHold(
            campaign_id=campaign_id,
            rule=reason.rule.value,
            code=reason.code.value,
            reason=reason.suppression_reason,
            detail=reason.detail,
            until=decision.next_allowed_at,
            since=now,
            policy_version=decision.policy_version,
            source_event_id=source_event_id,
            suppression_id=_hold_id(campaign_id, reason.code.value, source_event_id),
        )
        if held is not None and (held.rule, held.code, held.until, held.policy_version) == (
            hold.rule,
            hold.code,
            hold.until,
            hold.policy_version,
        ):
            hold = held  # the same hold still holds: nothing to announce
        elif held is not None and held.rule == hold.rule and held.code == hold.code:
            hold = held.model_copy(
                update={"until": hold.until, "policy_version": hold.policy_version}
            )
        else:
            if held is not None:
                changes.append(Change(SuppressionAction.LIFTED, held, now, source_event_id))
            changes.append(Change(SuppressionAction.SUPPRESSED, hold, now, source_event_id))
        holds.append(hold)
        if hold.until is not None:
            wake.append(hold.until)
    # Holds of campaigns no longer targeted end with the target.
    for held in current.values():
        changes.append(Change(SuppressionAction.LIFTED, held, now, source_event_id))
    # A suppression the event itself already announced (an answered offer, an opt-out)
    # is not announced twice; its end is.
    announced = {
        (s.campaign_id, s.reason) for s in state.suppressions if s.covers(DIAL_LIST_CHANNEL)
    }
    changes = [
        c
        for c in changes
        if c.action is SuppressionAction.LIFTED
        or (c.hold.campaign_id, c.hold.reason) not in announced
    ]
    lifted = {c.hold.campaign_id for c in changes if c.action is SuppressionAction.LIFTED}
    suppressions = state.suppressions
    if lifted:
        # An event-driven suppression (an answered offer, an opt-out) ends when the rules
        # that derive it no longer forbid: a declined offer's cooldown is over.
        suppressions = tuple(
            s.model_copy(update={"lifted_at": now})
            if s.campaign_id in lifted and s.lifted_at is None and s.covers(DIAL_LIST_CHANNEL)
            else s
            for s in suppressions
        )
    wake_at = min((w for w in wake if w > now), default=None)
    if (
        tuple(holds) == state.holds
        and wake_at == state.wake_at
        and not changes
        and suppressions is state.suppressions
    ):
        return state, []
    updated = state.model_copy(
        update={
            "holds": tuple(holds),
            "wake_at": wake_at,
            "suppressions": suppressions,
        }
    )
    return updated, changes


def window_closes(window: QuietHours, zone: ZoneInfo, now: datetime) -> datetime | None:
    """The next moment after `now` the contact window closes in `zone` (quiet hours
    begin), on the zone's own clock."""
    if not window.enabled:
        return None
    local_day = now.astimezone(zone).date()
    for offset in range(3):
        moment = _local(local_day + timedelta(days=offset), window.end, zone)
        if moment > now:
            return to_millis(moment)
    return None


def _local(day: date, at: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, at).replace(tzinfo=zone)


def _hold_id(campaign_id: str, code: str, source_event_id: str) -> str:
    return str(uuid.uuid5(_HOLD_NS, f"{source_event_id}|{campaign_id}|{code}"))


def record_decisions(state: CustomerState, records: Iterable[DecisionRecord]) -> CustomerState:
    """Append to the audit, keeping the latest MAX_DECISIONS; one decision is kept once."""
    known = {r.decision_id for r in state.decision_log}
    new = [r for r in records if r.decision_id not in known]
    if not new:
        return state
    return state.model_copy(update={"decision_log": (*state.decision_log, *new)[-MAX_DECISIONS:]})


def decision_id(*parts: str) -> str:
    return str(uuid.uuid5(_DECISION_NS, "|".join(parts)))


def customers_to_recheck(
    changed_campaigns: Iterable[str],
    changed_identities: Iterable[str],
    targeted_by: Callable[[str], Iterable[str]],
    holder_of: Callable[[str], str | None],
) -> list[tuple[str, str]]:
    """(customer, reason) of the customers a new policy version or DNC entry concerns:
    those a changed campaign targets (`policy`), and those holding a changed identity
    (`dnc`), each once, the policy first."""
    found: dict[str, str] = {}
    for campaign_id in changed_campaigns:
        for customer_id in targeted_by(campaign_id):
            found.setdefault(customer_id, "policy")
    for identity in changed_identities:
        holder = holder_of(identity)
        if holder is not None:
            found.setdefault(holder, "dnc")
    return sorted(found.items())
