"""Tests for the suppression and dial-list rules, driven through `process`."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from streams.domain.customer import CustomerState
from streams.domain.decisions import (
    POLICY_OFFER_RESPONSE,
    POLICY_OPT_OUT,
    POLICY_SMS_REPLY,
    Decision,
    DialListEntry,
    DialListRemoval,
    ReplyRules,
    Suppression,
    process,
    suppression_id,
)
from streams.domain.events import (
    CampaignTarget,
    Complaint,
    ContactAttempt,
    Interaction,
    Message,
    OfferResponse,
    OptOut,
    Purchase,
)
from streams.domain.keywords import SmsKeywords
from streams.domain.model import Channel, Direction, OfferResponseKind, SuppressionReason
from tests import factories
from tests.factories import CUSTOMER, PHONE, T0, sms, target
from tests.factories import interaction as event

NOW = datetime(2026, 11, 23, 10, 5, 0, 123_456, tzinfo=UTC)
POLICY = ReplyRules()


# -- builders -----------------------------------------------------------------------


def offer(
    event_id: str, campaign_id: str, *, at: datetime = T0, channel: Channel = Channel.SMS
) -> Interaction:
    return factories.offer(
        event_id, campaign_id, at=at, channel=channel, offer_id=f"offer-{campaign_id}"
    )


class Customer:
    """One customer's state, stepped through `process` like the agent does."""

    def __init__(self, policy: ReplyRules = POLICY) -> None:
        self.state = CustomerState.new(CUSTOMER)
        self.policy = policy

    def apply(self, fact: Interaction | CampaignTarget, now: datetime = NOW) -> list[Decision]:
        outcome = process(self.state, fact, self.policy, now)
        if isinstance(fact, Interaction):
            assert not outcome.duplicate
        self.state = outcome.state
        return list(outcome.decisions)

    def apply_all(self, facts: Iterable[Interaction | CampaignTarget]) -> list[Decision]:
        decisions: list[Decision] = []
        for fact in facts:
            decisions.extend(self.apply(fact))
        return decisions

    @property
    def listed(self) -> set[str]:
        return set(self.state.dial_list_campaigns())


def suppressions(decisions: list[Decision]) -> list[Suppression]:
    return [d for d in decisions if isinstance(d, Suppression)]


def removals(decisions: list[Decision]) -> list[DialListRemoval]:
    return [d for d in decisions if isinstance(d, DialListRemoval)]


def entries(decisions: list[Decision]) -> list[DialListEntry]:
    return [d for d in decisions if isinstance(d, DialListEntry)]


def listed_customer(*campaigns: str) -> Customer:
    customer = Customer()
    for i, campaign_id in enumerate(campaigns):
        customer.apply(target(campaign_id, f"upload-{i}"))
    return customer


# -- SMS reply correlation ------------------------------------------------------------


class TestSmsReplyCorrelation:
    def test_yes_suppresses_the_offered_campaign_only(self) -> None:
        customer = Customer()
        listed_a = customer.apply(target("A", "upload-a", priority=2))
        listed_b = customer.apply(target("B", "upload-b"))
        assert listed_a == [
            DialListEntry(
                campaign_id="A",
                customer_id=CUSTOMER,
                phone=PHONE,
                priority=2,
                added_at=T0,
                source_id="upload-a",
            )
        ]
        assert [(e.campaign_id, e.source_id) for e in entries(listed_b)] == [("B", "upload-b")]
        assert len(listed_b) == 1

        assert customer.apply(offer("offer-1", "A")) == []
        reply = sms("sms-1", " evet ")
        decisions = customer.apply(reply)

        expected_id = suppression_id("sms-1", "A", SuppressionReason.OFFER_ACCEPTED)
        assert decisions == [
            Suppression(
                suppression_id=expected_id,
                campaign_id="A",
                customer_id=CUSTOMER,
                reason=SuppressionReason.OFFER_ACCEPTED,
                channels=(),
                source_event_id="sms-1",
                source_channel=Channel.SMS,
                policy=POLICY_SMS_REPLY,
                occurred_at=reply.occurred_at,
                decided_at=NOW.replace(microsecond=123_000),
            ),
            DialListRemoval(campaign_id="A", customer_id=CUSTOMER, because=expected_id),
        ]
        assert decisions[0].key == decisions[1].key == f"A:{CUSTOMER}"
        assert customer.listed == {"B"}
        # The reply is recorded on the offer it answered.
        (answered,) = customer.state.offers
        assert answered.response is OfferResponseKind.ACCEPTED
        assert answered.response_event_id == "sms-1"

    def test_acceptance_covers_every_outbound_channel(self) -> None:
        customer = listed_customer("A")
        customer.apply_all([offer("o", "A"), sms("s", "YES")])
        for channel in (Channel.VOICE, Channel.SMS, Channel.EMAIL):
            assert customer.state.is_suppressed("A", channel)

    @pytest.mark.parametrize(
        ("text", "reason"),
        [
            ("НЕТ", SuppressionReason.OFFER_DECLINED),
            ("hayır", SuppressionReason.OFFER_DECLINED),
            ("HAYIR", SuppressionReason.OFFER_DECLINED),
            ("no", SuppressionReason.OFFER_DECLINED),
            ("نه", SuppressionReason.OFFER_DECLINED),
            ("ոչ", SuppressionReason.OFFER_DECLINED),
            ("بله", SuppressionReason.OFFER_ACCEPTED),
            ("Да", SuppressionReason.OFFER_ACCEPTED),
            ("այո", SuppressionReason.OFFER_ACCEPTED),
            ("Yes!", SuppressionReason.OFFER_ACCEPTED),
            ("y", SuppressionReason.OFFER_ACCEPTED),
        ],
    )
    def test_keywords(self, text: str, reason: SuppressionReason) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A"))
        decisions = customer.apply(sms("s", text))
        (suppression,) = suppressions(decisions)
        assert suppression.reason is reason
        assert suppression.campaign_id == "A"
        assert suppression.channels == ()
        assert suppression.policy == POLICY_SMS_REPLY
        assert [r.campaign_id for r in removals(decisions)] == ["A"]
        expected = (
            OfferResponseKind.ACCEPTED
            if reason is SuppressionReason.OFFER_ACCEPTED
            else OfferResponseKind.DECLINED
        )
        assert customer.state.offers[0].response is expected

    def test_the_most_recent_open_offer_is_answered(self) -> None:
        customer = listed_customer("A", "B")
        customer.apply(offer("offer-a", "A", at=T0))
        customer.apply(offer("offer-b", "B", at=T0 + timedelta(minutes=1)))

        first = customer.apply(sms("yes-1", "YES", at=T0 + timedelta(minutes=2)))
        assert [(s.campaign_id, s.source_event_id) for s in suppressions(first)] == [("B", "yes-1")]
        assert customer.listed == {"A"}

        # B is answered, so A is now the most recent offer still open.
        second = customer.apply(sms("yes-2", "YES", at=T0 + timedelta(minutes=3)))
        assert [(s.campaign_id, s.source_event_id) for s in suppressions(second)] == [
            ("A", "yes-2")
        ]
        assert customer.listed == set()

        # Nothing left open: a third answer decides nothing.
        assert customer.apply(sms("yes-3", "YES", at=T0 + timedelta(minutes=4))) == []

    def test_most_recent_means_presented_last_not_received_last(self) -> None:
        customer = listed_customer("A", "B")
        customer.apply(offer("offer-b", "B", at=T0 + timedelta(minutes=1)))
        customer.apply(offer("offer-a", "A", at=T0))  # arrives late
        decisions = customer.apply(sms("yes", "YES", at=T0 + timedelta(minutes=2)))
        assert [s.campaign_id for s in suppressions(decisions)] == ["B"]

    def test_an_offer_answered_explicitly_is_no_longer_open(self) -> None:
        customer = listed_customer("A", "B")
        customer.apply(offer("offer-a", "A", at=T0))
        customer.apply(offer("offer-b", "B", at=T0 + timedelta(minutes=1)))
        customer.apply(
            event(
                "web-answer",
                OfferResponse(campaign_id="B", response=OfferResponseKind.DECLINED),
                channel=Channel.WEB,
                at=T0 + timedelta(minutes=2),
            )
        )
        decisions = customer.apply(sms("yes", "EVET", at=T0 + timedelta(minutes=3)))
        (suppression,) = suppressions(decisions)
        assert suppression.campaign_id == "A"
        assert suppression.reason is SuppressionReason.OFFER_ACCEPTED

    def test_offer_outside_the_response_window_is_not_answered(self) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A", at=T0))
        late = T0 + POLICY.response_window + timedelta(seconds=1)
        assert POLICY.response_window == timedelta(days=7)
        assert customer.apply(sms("s", "YES", at=late)) == []
        assert customer.listed == {"A"}
        assert customer.state.offers[0].response is None

    def test_offer_inside_the_response_window_is_answered(self) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A", at=T0))
        in_time = T0 + timedelta(days=6, hours=23)
        (suppression,) = suppressions(customer.apply(sms("s", "YES", at=in_time)))
        assert suppression.campaign_id == "A"

    def test_response_window_is_configurable(self) -> None:
        customer = Customer(ReplyRules(response_window=timedelta(hours=1)))
        customer.apply_all([target("A", "u"), offer("o", "A", at=T0)])
        assert customer.apply(sms("s", "YES", at=T0 + timedelta(hours=2))) == []

    def test_an_expired_offer_stays_unanswered_when_the_open_one_is_taken(self) -> None:
        customer = listed_customer("A", "B")
        customer.apply(offer("offer-a", "A", at=T0 - timedelta(days=10)))
        customer.apply(offer("offer-b", "B", at=T0))
        (suppression,) = suppressions(customer.apply(sms("s", "YES", at=T0 + timedelta(days=1))))
        assert suppression.campaign_id == "B"
        assert customer.apply(sms("s2", "YES", at=T0 + timedelta(days=2))) == []
        assert customer.listed == {"A"}

    def test_email_offer_is_not_answered_by_an_sms_reply(self) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A", channel=Channel.EMAIL))
        assert customer.apply(sms("s", "YES")) == []
        assert customer.listed == {"A"}

    def test_sms_reply_skips_a_later_email_offer(self) -> None:
        customer = listed_customer("A", "B")
        customer.apply(offer("offer-a", "A", at=T0))
        customer.apply(offer("offer-b", "B", at=T0 + timedelta(minutes=1), channel=Channel.EMAIL))
        (suppression,) = suppressions(customer.apply(sms("s", "YES")))
        assert suppression.campaign_id == "A"

    def test_reply_before_the_offer_is_not_matched(self) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A", at=T0))
        assert customer.apply(sms("s", "YES", at=T0 - timedelta(seconds=1))) == []
        assert customer.listed == {"A"}

    def test_reply_without_any_offer_decides_nothing(self) -> None:
        customer = listed_customer("A")
        assert customer.apply(sms("s", "YES")) == []
        assert customer.listed == {"A"}

    @pytest.mark.parametrize("text", ["call me tomorrow", "yes but later", "", "👍", "ok"])
    def test_non_keyword_sms_decides_nothing(self, text: str) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A"))
        before = customer.state
        assert customer.apply(sms("s", text)) == []
        assert customer.listed == {"A"}
        assert customer.state.offers == before.offers
        assert customer.state.contacts["SMS"].inbound == 1  # still a contact

    def test_outbound_sms_is_not_a_reply(self) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A"))
        outbound = event("s", Message(text="YES"), direction=Direction.OUTBOUND)
        assert customer.apply(outbound) == []
        assert customer.listed == {"A"}

    @pytest.mark.parametrize("channel", [Channel.CHAT, Channel.MESSAGING, Channel.EMAIL])
    def test_keyword_on_another_channel_is_not_an_sms_reply(self, channel: Channel) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A"))
        reply = event("s", Message(text="YES"), channel=channel, at=T0 + timedelta(minutes=1))
        assert customer.apply(reply) == []
        assert customer.listed == {"A"}

    def test_custom_keywords(self) -> None:
        keywords = SmsKeywords.of(accept=["OUI"], decline=["NON"], opt_out=["ARRET"])
        customer = Customer(ReplyRules(keywords=keywords))
        customer.apply_all([target("A", "u"), offer("o", "A")])
        assert customer.apply(sms("s1", "YES")) == []
        (suppression,) = suppressions(customer.apply(sms("s2", "oui")))
        assert suppression.reason is SuppressionReason.OFFER_ACCEPTED

    def test_a_campaign_is_suppressed_once_for_the_same_reason(self) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o1", "A", at=T0))
        customer.apply(offer("o2", "A", at=T0 + timedelta(minutes=1)))
        first = customer.apply(sms("s1", "YES", at=T0 + timedelta(minutes=2)))
        assert len(suppressions(first)) == 1
        second = customer.apply(sms("s2", "YES", at=T0 + timedelta(minutes=3)))
        assert second == []
        assert all(o.response is OfferResponseKind.ACCEPTED for o in customer.state.offers)


# -- opt-outs ---------------------------------------------------------------------------


class TestOptOut:
    @pytest.mark.parametrize("text", ["STOP", "stop", "İPTAL", "iptal", "СТОП", "لغو"])
    def test_stop_opts_out_of_sms_for_campaigns_in_play(self, text: str) -> None:
        customer = listed_customer("A", "B")
        customer.apply(offer("o", "C"))  # offered but not targeted: also in play
        stop = sms("stop", text)
        decisions = customer.apply(stop)

        assert removals(decisions) == []
        assert entries(decisions) == []
        assert {s.campaign_id for s in suppressions(decisions)} == {"A", "B", "C"}
        for suppression in suppressions(decisions):
            assert suppression.reason is SuppressionReason.OPTED_OUT
            assert suppression.channels == (Channel.SMS,)
            assert suppression.policy == POLICY_OPT_OUT
            assert suppression.source_event_id == "stop"
            assert suppression.source_channel is Channel.SMS
        assert customer.state.opted_out_of(Channel.SMS)
        assert not customer.state.opted_out_of(Channel.VOICE)
        # Still callable: an SMS opt-out says nothing about voice.
        assert customer.listed == {"A", "B"}
        # And the offer is not answered by the STOP.
        assert customer.state.offers[0].response is None

    def test_stop_with_nothing_in_play_still_records_the_opt_out(self) -> None:
        customer = Customer()
        assert customer.apply(sms("stop", "STOP")) == []
        assert customer.state.opted_out_of(Channel.SMS)

    def test_stop_twice_suppresses_once(self) -> None:
        customer = listed_customer("A")
        assert len(suppressions(customer.apply(sms("s1", "STOP")))) == 1
        assert customer.apply(sms("s2", "STOP")) == []

    @pytest.mark.parametrize(
        "channels", [[], [Channel.VOICE], [Channel.SMS, Channel.VOICE]], ids=str
    )
    def test_opt_out_covering_voice_removes_from_the_dial_list(
        self, channels: list[Channel]
    ) -> None:
        customer = listed_customer("A", "B")
        opt_out = event("opt", OptOut(channels=channels), channel=Channel.WEB)
        decisions = customer.apply(opt_out)

        sups = suppressions(decisions)
        assert {s.campaign_id for s in sups} == {"A", "B"}
        assert all(s.reason is SuppressionReason.OPTED_OUT for s in sups)
        assert all(s.channels == tuple(channels) for s in sups)
        assert all(s.policy == POLICY_OPT_OUT and s.source_channel is Channel.WEB for s in sups)
        by_campaign = {s.campaign_id: s.suppression_id for s in sups}
        assert sorted((r.campaign_id, r.because) for r in removals(decisions)) == [
            ("A", by_campaign["A"]),
            ("B", by_campaign["B"]),
        ]
        assert customer.listed == set()
        assert customer.state.opted_out_of(Channel.VOICE)

    def test_opt_out_of_another_channel_keeps_the_dial_list(self) -> None:
        customer = listed_customer("A")
        decisions = customer.apply(event("opt", OptOut(channels=[Channel.EMAIL])))
        (suppression,) = suppressions(decisions)
        assert suppression.channels == (Channel.EMAIL,)
        assert removals(decisions) == []
        assert customer.listed == {"A"}

    def test_target_after_an_opt_out_of_everything_is_not_listed(self) -> None:
        customer = Customer()
        assert customer.apply(event("opt", OptOut(channels=[]))) == []
        # Not listed, and said so: a tombstone restates it (an idempotent no-op).
        assert customer.apply(target("A", "u")) == [
            DialListRemoval(campaign_id="A", customer_id=CUSTOMER, because="u")
        ]
        assert customer.listed == set()


# -- explicit responses -----------------------------------------------------------------


class TestOfferResponse:
    @pytest.mark.parametrize(
        "channel", [Channel.WEB, Channel.VOICE, Channel.BRANCH, Channel.SMS, Channel.MOBILE_APP]
    )
    @pytest.mark.parametrize(
        ("response", "reason"),
        [
            (OfferResponseKind.ACCEPTED, SuppressionReason.OFFER_ACCEPTED),
            (OfferResponseKind.DECLINED, SuppressionReason.OFFER_DECLINED),
        ],
    )
    def test_response_suppresses_its_campaign(
        self, channel: Channel, response: OfferResponseKind, reason: SuppressionReason
    ) -> None:
        customer = listed_customer("A", "B")
        answer = event("answer", OfferResponse(campaign_id="A", response=response), channel=channel)
        decisions = customer.apply(answer)
        (suppression,) = suppressions(decisions)
        assert suppression.campaign_id == "A"
        assert suppression.reason is reason
        assert suppression.channels == ()
        assert suppression.source_event_id == "answer"
        assert suppression.source_channel is channel
        assert suppression.policy == POLICY_OFFER_RESPONSE
        assert [(r.campaign_id, r.because) for r in removals(decisions)] == [
            ("A", suppression.suppression_id)
        ]
        assert customer.listed == {"B"}

    def test_response_for_an_untargeted_campaign_suppresses_without_dial_list_change(
        self,
    ) -> None:
        customer = listed_customer("B")
        decisions = customer.apply(
            event("answer", OfferResponse(campaign_id="A", response=OfferResponseKind.ACCEPTED))
        )
        assert [s.campaign_id for s in suppressions(decisions)] == ["A"]
        assert removals(decisions) == entries(decisions) == []
        # A later upload for A is refused by the suppression, and restates it.
        assert customer.apply(target("A", "late-upload")) == [
            DialListRemoval(campaign_id="A", customer_id=CUSTOMER, because="late-upload")
        ]
        assert customer.listed == {"B"}

    @pytest.mark.parametrize(
        "payload",
        [
            Complaint(category="billing", severity="high"),
            ContactAttempt(campaign_id="A", outcome="NO_ANSWER"),
            Purchase(amount=Decimal("10"), currency="TRY"),
            Message(text="YES"),
        ],
        ids=lambda p: p.type,
    )
    def test_other_payloads_decide_nothing(self, payload: Any) -> None:
        customer = listed_customer("A")
        assert customer.apply(event("x", payload, channel=Channel.VOICE)) == []
        assert customer.listed == {"A"}


# -- the dial list ------------------------------------------------------------------------


class TestDialList:
    def test_a_target_that_does_not_list_restates_it_whatever_came_first(self) -> None:
        """An entry published before a crash, from a state never stored, is overwritten
        when the upload and the acceptance are decided again in the other order."""
        customer = Customer()
        customer.apply_all([offer("o", "A"), sms("s", "YES")])
        decided = customer.apply(target("A", "upload"))
        assert entries(decided) == []
        assert [(r.key, r.because) for r in removals(decided)] == [(f"A:{CUSTOMER}", "upload")]
        assert customer.listed == set()

    def test_target_uploaded_after_the_suppression_stays_off_the_list(self) -> None:
        customer = listed_customer("A")
        customer.apply_all([offer("o", "A"), sms("s", "YES")])
        assert customer.listed == set()
        later = T0 + timedelta(days=1)
        assert customer.apply(target("A", "reupload", priority=5, at=later)) == [
            DialListRemoval(campaign_id="A", customer_id=CUSTOMER, because="reupload")
        ]
        assert customer.listed == set()
        # The re-upload is still recorded: it is a fact, only the decision excludes it.
        recorded = customer.state.target("A")
        assert recorded is not None and recorded.upload_id == "reupload"

    def test_reupload_with_a_new_priority_emits_a_new_entry(self) -> None:
        customer = listed_customer("A", "B")
        later = T0 + timedelta(hours=1)
        decisions = customer.apply(target("A", "upload-2", priority=9, at=later))
        assert decisions == [
            DialListEntry(
                campaign_id="A",
                customer_id=CUSTOMER,
                phone=PHONE,
                priority=9,
                added_at=later,
                source_id="upload-2",
            )
        ]
        assert customer.listed == {"A", "B"}

    def test_identical_reupload_emits_nothing(self) -> None:
        customer = listed_customer("A")
        assert customer.apply(target("A", "upload-0")) == []

    def test_entry_falls_back_to_a_known_phone(self) -> None:
        customer = Customer()
        customer.apply(sms("hello", "hello"))
        no_phone = CampaignTarget(
            campaign_id="A", customer_id=CUSTOMER, uploaded_at=T0, upload_id="u"
        )
        (entry,) = entries(customer.apply(no_phone))
        assert entry.phone == PHONE

    def test_an_sms_opt_out_does_not_close_open_offers(self) -> None:
        customer = listed_customer("A")
        customer.apply(offer("o", "A"))
        assert removals(customer.apply(sms("stop", "STOP", at=T0 + timedelta(minutes=1)))) == []
        # The SMS offer is still open; a YES typed afterwards still counts.
        decisions = customer.apply(sms("yes", "YES", at=T0 + timedelta(minutes=2)))
        assert [r.campaign_id for r in removals(decisions)] == ["A"]


# -- suppression ids --------------------------------------------------------------------


class TestSuppressionIds:
    def test_same_cause_gives_the_same_id(self) -> None:
        def run(now: datetime) -> list[Suppression]:
            customer = listed_customer("A")
            customer.apply(offer("o", "A"))
            return suppressions(customer.apply(sms("s", "YES"), now=now))

        (first,) = run(NOW)
        (second,) = run(NOW + timedelta(hours=3))  # decided later, e.g. on replay
        assert first.suppression_id == second.suppression_id
        assert first.suppression_id == suppression_id("s", "A", SuppressionReason.OFFER_ACCEPTED)

    def test_ids_differ_by_campaign(self) -> None:
        customer = listed_customer("A", "B", "C")
        decisions = customer.apply(event("opt", OptOut(channels=[])))
        ids = [s.suppression_id for s in suppressions(decisions)]
        assert len(ids) == 3
        assert len(set(ids)) == 3

    def test_ids_differ_by_event_and_reason(self) -> None:
        ids = {
            suppression_id("e1", "A", SuppressionReason.OFFER_ACCEPTED),
            suppression_id("e2", "A", SuppressionReason.OFFER_ACCEPTED),
            suppression_id("e1", "A", SuppressionReason.OFFER_DECLINED),
            suppression_id("e1", "B", SuppressionReason.OFFER_ACCEPTED),
        }
        assert len(ids) == 4

    def test_ids_are_uuids(self) -> None:
        value = suppression_id("e1", "A", SuppressionReason.OPTED_OUT)
        assert str(uuid.UUID(value)) == value
