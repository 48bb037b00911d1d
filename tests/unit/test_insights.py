"""Derived values and alerts: explainable point rules computed from the state and `now`."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from streams.domain.alerts import alerts
from streams.domain.customer import CustomerState, evolve
from streams.domain.events import (
    Complaint,
    Interaction,
    IvrSession,
    Message,
    OfferPresented,
    OfferResponse,
    OptOut,
    ProfileUpdate,
    Purchase,
)
from streams.domain.insights import churn_risk, upsell, value_tier
from streams.domain.model import Channel, Direction, OfferResponseKind
from streams.domain.single_view import single_customer_view
from tests.factories import CUSTOMER, interaction

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def ago(days: float) -> datetime:
    return NOW - timedelta(days=days)


def event(event_id: str, payload: Any, days_ago: float, **details: Any) -> Interaction:
    direction = details.pop("direction", Direction.INBOUND)
    channel = details.pop("channel", Channel.SMS)
    made = interaction(event_id, payload, at=ago(days_ago), direction=direction, channel=channel)
    return made.model_copy(update=details) if details else made


def purchase(
    event_id: str, days_ago: float, amount: str = "100", product: str = "card"
) -> Interaction:
    return event(
        event_id, Purchase(amount=Decimal(amount), currency="TRY", product=product), days_ago
    )


def complaint(event_id: str, days_ago: float, **metadata: str) -> Interaction:
    return event(
        event_id, Complaint(category="billing", severity="high"), days_ago, metadata=metadata
    )


def fold(*events: Interaction) -> CustomerState:
    state = CustomerState.new(CUSTOMER)
    for e in events:
        state = evolve(state, e)
    return state


def rules(reasons: tuple[Any, ...]) -> dict[str, int]:
    return {r.rule: r.points for r in reasons}


class TestValueTier:
    def test_a_new_customer_is_bronze_for_no_reason(self) -> None:
        tier = value_tier(CustomerState.new(CUSTOMER), NOW)
        assert (tier.tier, tier.points, tier.reasons) == ("BRONZE", 0, ())

    def test_a_loyal_big_spender_is_platinum_and_says_why(self) -> None:
        state = fold(
            purchase("b0", 4 * 365, "60000", "loan"),
            *(purchase(f"b{i}", 300 - i, "5000", f"p{i % 3}") for i in range(1, 10)),
            purchase("b10", 10),
        )
        tier = value_tier(state, NOW)
        assert tier.tier == "PLATINUM"
        assert rules(tier.reasons) == {
            "MANY_PURCHASES": 30,
            "LONG_TENURE": 25,
            "RECENT_PURCHASE": 15,
            "PRODUCT_BREADTH": 15,
            "HIGH_SPEND": 25,
        }
        assert tier.points == 110

    @pytest.mark.parametrize(
        ("purchases", "days_ago", "products", "tier"),
        [
            (1, 200, 1, "BRONZE"),  # no rule fires
            (3, 200, 1, "BRONZE"),  # SOME_PURCHASES 15
            (3, 10, 1, "SILVER"),  # + RECENT_PURCHASE 15 = 30
            (10, 10, 3, "GOLD"),  # MANY_PURCHASES 30 + RECENT_PURCHASE 15 + BREADTH 15 = 60
        ],
    )
    def test_thresholds(self, purchases: int, days_ago: int, products: int, tier: str) -> None:
        state = fold(
            *(purchase(f"b{i}", days_ago, "1", f"p{i % products}") for i in range(purchases))
        )
        assert value_tier(state, NOW).tier == tier

    def test_a_currency_without_a_threshold_is_not_judged(self) -> None:
        big = event("b1", Purchase(amount=Decimal("9999999"), currency="XAU"), 200)
        assert "HIGH_SPEND" not in rules(value_tier(fold(big), NOW).reasons)


class TestChurnRisk:
    def test_a_quiet_happy_customer_is_low_risk(self) -> None:
        state = fold(purchase("b1", 5), event("m1", Message(text="thanks"), 5))
        risk = churn_risk(state, NOW)
        assert risk.score == 0
        assert rules(risk.reasons) == {"RECENT_PURCHASE": -15}

    def test_an_unhappy_customer_is_high_risk_with_every_reason(self) -> None:
        state = fold(
            purchase("b1", 400),
            complaint("c1", 20),
            complaint("c2", 10),
            event("x1", OptOut(channels=[Channel.SMS]), 9),
            event("o1", OfferPresented(campaign_id="a"), 8, direction=Direction.OUTBOUND),
            event("o2", OfferPresented(campaign_id="b"), 8, direction=Direction.OUTBOUND),
            event("r1", OfferResponse(campaign_id="a", response=OfferResponseKind.DECLINED), 7),
            event("r2", OfferResponse(campaign_id="b", response=OfferResponseKind.DECLINED), 6),
            event("m1", Message(text="idiot"), 5),
            event("m2", Message(text="?"), 4.5),
            event("m3", Message(text="?"), 4),
            event("u1", ProfileUpdate(fields={"overdue_amount": "50"}), 3),
        )
        risk = churn_risk(state, NOW)
        assert rules(risk.reasons) == {
            "OPEN_COMPLAINT": 25,
            "REPEAT_COMPLAINTS": 20,
            "OPTED_OUT_SOME": 10,
            "MARKETING_WITHDRAWN": 10,
            "LAPSED_BUYER": 15,
            "REPEAT_CONTACTS": 10,
            "DECLINED_OFFERS": 10,
            "OVERDUE": 10,
            "ABUSIVE_LANGUAGE": 5,
        }
        assert risk.score == 100  # 115 points, clamped
        assert all(r.detail for r in risk.reasons)

    def test_silence_is_a_risk(self) -> None:
        state = fold(event("m1", Message(text="hi"), 120))
        assert rules(churn_risk(state, NOW).reasons) == {"INACTIVE": 15}


class TestUpsell:
    def test_an_engaged_customer_scores_high(self) -> None:
        state = fold(
            purchase("b1", 500),
            purchase("b2", 20),
            event("p1", ProfileUpdate(fields={"consent.SMS.marketing": "granted"}), 30),
            event("o1", OfferPresented(campaign_id="a"), 10, direction=Direction.OUTBOUND),
            event("r1", OfferResponse(campaign_id="a", response=OfferResponseKind.ACCEPTED), 9),
        )
        score = upsell(state, NOW)
        assert rules(score.reasons) == {
            "BASELINE": 20,
            "ACCEPTED_OFFER": 25,
            "RECENT_PURCHASE": 20,
            "TENURE": 10,
            "MARKETING_CONSENT": 15,
        }
        assert score.score == 90

    def test_open_complaints_and_debt_take_it_away(self) -> None:
        state = fold(
            purchase("b1", 20),
            complaint("c1", 2),
            event("u1", ProfileUpdate(fields={"overdue_amount": "50"}), 3),
        )
        score = upsell(state, NOW)
        assert rules(score.reasons)["OPEN_COMPLAINT"] == -30
        assert rules(score.reasons)["OVERDUE"] == -40
        assert score.score == 0

    def test_nobody_who_opted_out_of_everything_is_upsold(self) -> None:
        state = fold(purchase("b1", 1), event("x1", OptOut(channels=[]), 1))
        assert upsell(state, NOW).score == 0
        assert rules(upsell(state, NOW).reasons)["OPTED_OUT_ALL"] == -100


class TestAlerts:
    def codes(self, state: CustomerState) -> list[str]:
        return [a.code for a in alerts(state, NOW)]

    def test_no_alerts_for_a_quiet_customer(self) -> None:
        assert alerts(fold(purchase("b1", 3)), NOW) == []

    def test_two_complaints_in_30_days_mean_handle_with_care(self) -> None:
        state = fold(complaint("c1", 25, complaint_status="RESOLVED"), complaint("c2", 1))
        (care, open_one) = alerts(state, NOW)
        assert (care.code, care.severity) == ("HANDLE_WITH_CARE", "HIGH")
        assert care.message == "2 complaints in the last 30 days: handle with care"
        assert (open_one.code, open_one.severity) == ("OPEN_COMPLAINT", "MEDIUM")
        assert open_one.message == "1 open complaint (billing)"
        assert self.codes(fold(complaint("c1", 45), complaint("c2", 1))) == ["OPEN_COMPLAINT"]

    def test_three_calls_this_week_about_the_same_thing(self) -> None:
        def call(event_id: str, days_ago: float, intent: str) -> Interaction:
            return event(
                event_id,
                Message(text="..."),
                days_ago,
                channel=Channel.IVR,
                ivr=IvrSession(session_id=event_id, intent=intent),
            )

        state = fold(
            call("v1", 6, "Card_Blocked"), call("v2", 3, "card_blocked"), call("v3", 1, "balance")
        )
        assert self.codes(state) == []
        state = evolve(state, call("v4", 0.5, "card_blocked"))
        (alert,) = alerts(state, NOW)
        assert alert.code == "REPEAT_TOPIC"
        assert alert.message == "Contacted us 3 times in 7 days about Card_Blocked"
        # Two days on, the first call is more than a week ago.
        assert alerts(state, NOW + timedelta(days=2)) == []

    def test_every_alert_most_severe_first(self) -> None:
        state = fold(
            complaint("c1", 3),
            complaint("c2", 2),
            event("m1", Message(text="you moron"), 2, metadata={"topic": "billing"}),
            event(
                "u1",
                ProfileUpdate(fields={"overdue_amount": "50", "overdue_since": "2026-11-01"}),
                1,
            ),
            event("x1", OptOut(channels=[]), 1),
        )
        found = alerts(state, NOW)
        assert [(a.code, a.severity) for a in found] == [
            ("HANDLE_WITH_CARE", "HIGH"),
            ("OPTED_OUT_ALL", "HIGH"),
            ("OVERDUE_BALANCE", "HIGH"),
            ("REPEAT_TOPIC", "HIGH"),
            ("ABUSIVE_LANGUAGE", "MEDIUM"),
            ("OPEN_COMPLAINT", "MEDIUM"),
        ]
        overdue = next(a for a in found if a.code == "OVERDUE_BALANCE")
        assert overdue.message == "Overdue balance for 30 days"
        assert "50" not in " ".join(a.message for a in found)
        assert single_customer_view(state, NOW)["alerts"][0] == {
            "code": "HANDLE_WITH_CARE",
            "severity": "HIGH",
            "message": "2 complaints in the last 30 days: handle with care",
        }

    def test_old_abuse_is_forgiven(self) -> None:
        state = fold(event("m1", Message(text="idiot"), 400))
        assert self.codes(state) == []
        assert self.codes(fold(event("m1", Message(text="idiot"), 2))) == ["ABUSIVE_LANGUAGE"]
