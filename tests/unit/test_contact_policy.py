"""The contact rules applied to the dial list: holds, suppressions and lifts, the audit,
wake-ups, and deterministic replay (no event loop, no broker)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from streams.domain.campaign_policy import CampaignPolicy, DoNotContactEntry, QuietHours
from streams.domain.contact_holds import PolicyInputs, contact_check
from streams.domain.contact_rules import ContactFacts
from streams.domain.customer import CustomerState
from streams.domain.decisions import (
    DialListEntry,
    DialListRemoval,
    Outcome,
    ReplyRules,
    Suppression,
    process,
    recheck,
)
from streams.domain.events import (
    CampaignTarget,
    Complaint,
    Interaction,
    OfferResponse,
    Purchase,
)
from streams.domain.model import Channel, OfferResponseKind, SuppressionAction, SuppressionReason
from streams.wire.serialization import AvroSerializer
from streams.wire.state_codec import decode_contact_facts, encode_state
from tests.factories import CUSTOMER, PHONE, target
from tests.factories import interaction as event

AVRO = AvroSerializer()

EVENTS = ReplyRules()
# 10:00 UTC is 13:00 in Istanbul, where +90 numbers live: inside the 08:00-21:00 window.
DAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
CAMPAIGN = "spring-loan"


def inputs(
    policy: CampaignPolicy | None = None, dnc: Iterable[DoNotContactEntry] = ()
) -> PolicyInputs:
    entries = {e.key: e for e in dnc}
    return PolicyInputs(
        policy_for=lambda c: policy if policy is not None else CampaignPolicy(campaign_id=c),
        dnc_for=lambda keys: [entries[k] for k in keys if k in entries],
    )


def run(
    facts: list[tuple[Interaction | CampaignTarget, datetime]], given: PolicyInputs
) -> tuple[CustomerState, list[Outcome]]:
    state, outcomes = CustomerState.new(CUSTOMER), []
    for fact, at in facts:
        outcome = process(state, fact, EVENTS, at, given)
        state = outcome.state
        outcomes.append(outcome)
    return state, outcomes


def suppressions(outcome: Outcome) -> list[Suppression]:
    return [d for d in outcome.decisions if isinstance(d, Suppression)]


def listed(outcome: Outcome) -> list[str]:
    return [d.campaign_id for d in outcome.decisions if isinstance(d, DialListEntry)]


def unlisted(outcome: Outcome) -> list[str]:
    return [d.campaign_id for d in outcome.decisions if isinstance(d, DialListRemoval)]


def stored_facts(state: CustomerState) -> ContactFacts:
    return decode_contact_facts(encode_state(state), AVRO)


def dnc(expires_at: datetime | None) -> DoNotContactEntry:
    return DoNotContactEntry(kind="phone", value=PHONE, expires_at=expires_at, list_id="bank")


class TestDoNotContact:
    def test_a_listed_number_keeps_the_customer_off_the_list_until_it_expires(self) -> None:
        expiry = DAY + timedelta(days=3)
        given = inputs(dnc=[dnc(expiry)])
        state, (outcome,) = run([(target(CAMPAIGN, "u1", at=DAY), DAY)], given)
        assert listed(outcome) == []
        (held,) = suppressions(outcome)
        assert held.action is SuppressionAction.SUPPRESSED
        assert held.reason is SuppressionReason.DO_NOT_CONTACT
        assert held.until == expiry
        assert held.rule == "do-not-contact"
        assert held.channels == (Channel.VOICE,)
        assert state.dial_list_campaigns() == {}
        assert state.wake_at == expiry

        # Nothing happens before then; at the expiry the hold lifts by itself.
        assert recheck(state, given, expiry - timedelta(hours=1), "early").state.holds
        lifted = recheck(state, given, expiry, "recheck:wake-up")
        (lift,) = suppressions(lifted)
        assert lift.action is SuppressionAction.LIFTED
        assert lift.suppression_id != held.suppression_id
        assert listed(lifted) == [CAMPAIGN]
        assert lifted.state.holds == ()
        assert CAMPAIGN in lifted.state.dial_list_campaigns()

    def test_the_check_and_the_list_agree(self) -> None:
        given = inputs(dnc=[dnc(DAY + timedelta(days=1))])
        state, _ = run([(target(CAMPAIGN, "u1", at=DAY), DAY)], given)
        # The check reads the facts stored with the state, the list works them out.
        check = contact_check(stored_facts(state), CUSTOMER, CAMPAIGN, Channel.VOICE, given, DAY)
        assert not check.allowed
        assert check.next_allowed_at == DAY + timedelta(days=1)
        assert CAMPAIGN not in state.dial_list_campaigns()
        after = recheck(state, given, DAY + timedelta(days=1), "w").state
        later = DAY + timedelta(days=1, minutes=1)
        allowed = contact_check(
            stored_facts(after), CUSTOMER, CAMPAIGN, Channel.VOICE, given, later
        )
        assert allowed.allowed
        assert CAMPAIGN in after.dial_list_campaigns()


class TestQuietHours:
    def test_quiet_hours_take_the_customer_off_and_put_them_back_at_eight(self) -> None:
        given = inputs()
        state, (first,) = run([(target(CAMPAIGN, "u1", at=DAY), DAY)], given)
        assert listed(first) == [CAMPAIGN]
        # The window closes at 21:00 in Istanbul, 18:00 UTC: the rules ask again then.
        closes = datetime(2026, 11, 23, 18, 0, tzinfo=UTC)
        assert state.wake_at == closes
        night = recheck(state, given, closes, "recheck:wake-up")
        assert unlisted(night) == [CAMPAIGN]
        (quiet,) = suppressions(night)
        assert quiet.reason is SuppressionReason.QUIET_HOURS
        opens = datetime(2026, 11, 24, 5, 0, tzinfo=UTC)  # 08:00 in Istanbul
        assert quiet.until == opens
        morning = recheck(night.state, given, opens, "recheck:wake-up")
        assert listed(morning) == [CAMPAIGN]
        assert [s.action for s in suppressions(morning)] == [SuppressionAction.LIFTED]

    def test_the_same_moment_is_night_in_istanbul_and_afternoon_in_new_york(self) -> None:
        moment = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)  # 23:00 Istanbul, 15:00 New York
        given = inputs()
        istanbul, _ = run([(target(CAMPAIGN, "u1", at=moment), moment)], given)
        new_york, _ = run(
            [(target(CAMPAIGN, "u1", at=moment, phone="+12125550143"), moment)], given
        )
        assert CAMPAIGN not in istanbul.dial_list_campaigns()
        assert CAMPAIGN in new_york.dial_list_campaigns()

    def test_a_policy_without_quiet_hours_never_holds(self) -> None:
        given = inputs(
            CampaignPolicy(campaign_id=CAMPAIGN, version=2, quiet_hours=QuietHours(enabled=False))
        )
        night = datetime(2026, 11, 23, 23, 0, tzinfo=UTC)
        state, (outcome,) = run([(target(CAMPAIGN, "u1", at=night), night)], given)
        assert listed(outcome) == [CAMPAIGN]
        assert state.wake_at is None


class TestCooldownsAndConversions:
    def test_a_declined_offer_lifts_after_its_cooldown(self) -> None:
        policy = CampaignPolicy(campaign_id=CAMPAIGN, version=3, response_cooldown_days=30)
        given = inputs(policy)
        declined = event(
            "no-1",
            OfferResponse(campaign_id=CAMPAIGN, response=OfferResponseKind.DECLINED),
            at=DAY,
        )
        state, (_, answer) = run([(target(CAMPAIGN, "u1", at=DAY), DAY), (declined, DAY)], given)
        assert unlisted(answer) == [CAMPAIGN]
        (announced,) = suppressions(answer)  # announced once, by the event
        assert announced.reason is SuppressionReason.OFFER_DECLINED
        assert state.holds[0].until == DAY + timedelta(days=30)
        assert state.holds[0].policy_version == 3
        back = recheck(state, given, DAY + timedelta(days=30), "recheck:wake-up")
        assert listed(back) == [CAMPAIGN]
        assert suppressions(back)[0].action is SuppressionAction.LIFTED
        assert all(s.lifted_at is not None for s in back.state.suppressions)

    def test_an_accepted_offer_holds_for_good(self) -> None:
        accepted = event(
            "yes-1",
            OfferResponse(campaign_id=CAMPAIGN, response=OfferResponseKind.ACCEPTED),
            at=DAY,
        )
        state, _ = run([(target(CAMPAIGN, "u1", at=DAY), DAY), (accepted, DAY)], inputs())
        assert state.holds[0].until is None
        later = recheck(state, inputs(), DAY + timedelta(days=400), "w")
        assert CAMPAIGN not in later.state.dial_list_campaigns()

    def test_a_complaint_holds_marketing_for_the_cooldown(self) -> None:
        complaint = event("c-1", Complaint(category="billing", severity="high"), at=DAY)
        state, (_, outcome) = run(
            [(target(CAMPAIGN, "u1", at=DAY), DAY), (complaint, DAY)], inputs()
        )
        assert unlisted(outcome) == [CAMPAIGN]
        (hold,) = state.holds
        assert hold.rule == "complaint-cooldown"
        assert hold.until == DAY + timedelta(days=30)

    def test_a_customer_who_bought_the_product_is_not_called(self) -> None:
        policy = CampaignPolicy(campaign_id=CAMPAIGN, version=1, product="personal-loan")
        bought = event(
            "p-1", Purchase(amount=Decimal("1"), currency="TRY", product="personal-loan"), at=DAY
        )
        state, _ = run([(target(CAMPAIGN, "u1", at=DAY), DAY), (bought, DAY)], inputs(policy))
        assert state.holds[0].rule == "already-converted"
        assert CAMPAIGN not in state.dial_list_campaigns()


class TestAudit:
    def test_every_decision_is_recorded_with_rule_cause_version_and_time(self) -> None:
        policy = CampaignPolicy(campaign_id=CAMPAIGN, version=7)
        given = inputs(policy, dnc=[dnc(DAY + timedelta(days=2))])
        state, _ = run([(target(CAMPAIGN, "u1", at=DAY), DAY)], given)
        (record,) = state.decision_log
        assert record.kind == "SUPPRESSED"
        assert record.rule == "do-not-contact"
        assert record.source_event_id == "u1"
        assert record.policy_version == 7
        assert record.decided_at == DAY
        assert record.detail is not None and PHONE not in record.detail
        after = recheck(state, given, DAY + timedelta(days=2), "recheck:wake-up:x").state
        assert [r.kind for r in after.decision_log] == ["SUPPRESSED", "LIFTED", "LISTED"]
        assert after.decision_log[-1].source_event_id == "recheck:wake-up:x"


def test_replaying_the_log_with_the_same_policies_decides_the_same_bytes() -> None:
    """The decisions are a function of the log: rebuilding state from the same events at
    the same log times, with the same policy versions, gives byte-identical records."""
    avro = AVRO
    policy = CampaignPolicy(campaign_id=CAMPAIGN, version=4, response_cooldown_days=10)
    log: list[tuple[Interaction | CampaignTarget, datetime]] = [
        (target(CAMPAIGN, "u1", at=DAY), DAY),
        (target("card", "u2", at=DAY), DAY + timedelta(minutes=1)),
        (
            event(
                "no-1",
                OfferResponse(campaign_id=CAMPAIGN, response=OfferResponseKind.DECLINED),
                at=DAY + timedelta(hours=1),
            ),
            DAY + timedelta(hours=1, seconds=2),
        ),
        (
            event("c-1", Complaint(category="service", severity="low"), at=DAY),
            DAY + timedelta(hours=2),
        ),
    ]

    def decided(given: PolicyInputs) -> list[bytes]:
        state, outcomes = run(log, given)
        wake = recheck(state, given, state.wake_at or DAY, "recheck:wake-up")
        return [
            avro.encode_model(d)
            for o in (*outcomes, wake)
            for d in o.decisions
            if not isinstance(d, DialListRemoval)
        ]

    first = decided(inputs(policy, dnc=[dnc(DAY + timedelta(days=5))]))
    again = decided(inputs(policy, dnc=[dnc(DAY + timedelta(days=5))]))
    assert first and first == again
    other_version = decided(
        inputs(policy.model_copy(update={"version": 5}), dnc=[dnc(DAY + timedelta(days=5))])
    )
    assert other_version != first  # the version is part of every decision
