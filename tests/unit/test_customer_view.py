"""The 360 view's JSON: what it always returned, plus the shaped single customer view."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given

from streams.domain.customer import CustomerState, evolve
from streams.domain.events import (
    CampaignTarget,
    Complaint,
    Interaction,
    Message,
    OfferPresented,
    OfferResponse,
    ProfileUpdate,
    Purchase,
)
from streams.domain.model import Channel, Direction, OfferResponseKind
from streams.domain.single_view import single_customer_view
from tests.factories import CUSTOMER, T0, interaction, target
from tests.unit.test_customer_state import PROPERTY, TEXTS, histories

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)

# What the view returned before the single customer view: none of it may go.
CONTRACT_KEYS = {
    "customer_id",
    "phones",
    "emails",
    "accounts",
    "first_seen_at",
    "last_seen_at",
    "contacts",
    "offers",
    "complaint_count",
    "last_complaint_at",
    "opted_out_channels",
    "opted_out_all",
    "purchase_count",
    "last_purchase_at",
    "targets",
    "suppressions",
    "events_applied",
    "contexts",
    "dial_lists",
    "suppressed_campaigns",
}
NEW_KEYS = {
    "identities",
    "profile",
    "purchases",
    "contact_history",
    "flags",
    "offers_by_campaign",
    "consents",
    "timeline",
    "insights",
    "alerts",
    "merged_into",
    "merges",
}


def fold(*facts: Interaction | CampaignTarget) -> CustomerState:
    state = CustomerState.new(CUSTOMER)
    for fact in facts:
        state = evolve(state, fact)
    return state


def customer() -> CustomerState:
    return fold(
        target("spring", "u1"),
        interaction("p1", ProfileUpdate(fields={"name": "Ayşe Yılmaz", "city": "İzmir"})),
        interaction(
            "o1",
            OfferPresented(campaign_id="spring", offer_id="o-1"),
            direction=Direction.OUTBOUND,
            at=T0 + timedelta(hours=1),
        ),
        interaction(
            "o2",
            OfferPresented(campaign_id="card"),
            direction=Direction.OUTBOUND,
            channel=Channel.EMAIL,
            at=T0 + timedelta(hours=2),
        ),
        interaction(
            "r1",
            OfferResponse(campaign_id="spring", response=OfferResponseKind.DECLINED),
            at=T0 + timedelta(hours=3),
        ),
        interaction(
            "c1",
            Complaint(category="billing", severity="high", text="call me on +905321234567"),
            at=T0 + timedelta(days=1),
        ),
        interaction(
            "b1",
            Purchase(amount=Decimal("120"), currency="TRY", product="card"),
            at=T0 + timedelta(days=2),
        ),
        interaction("m1", Message(text="my secret is 4242"), at=T0 + timedelta(days=3)),
    )


def test_the_view_keeps_what_it_returned_and_adds_the_single_customer_view() -> None:
    view = single_customer_view(customer(), NOW)
    assert set(view) >= CONTRACT_KEYS
    assert set(view) >= NEW_KEYS
    assert "recent_event_digests" not in view
    # The fold records the answer; suppressing is the policy's part (decisions.process).
    assert view["dial_lists"] == ["spring"]
    assert view["suppressed_campaigns"] == []
    assert view["offers"][0]["campaign_id"] == "spring"
    assert view["complaint_count"] == 1


def test_the_shape_of_each_part() -> None:
    view = single_customer_view(customer(), NOW)
    assert view["identities"] == {
        "phones": ["+905321234567"],
        "emails": [],
        "accounts": [],
        "devices": [],
        "social": [],
    }
    assert view["profile"]["name"] == "Ayşe Yılmaz"
    assert set(view["profile"]) == {
        "name",
        "birth_date",
        "age",
        "city",
        "country",
        "language",
        "preferred_channel",
        "form_of_address",
        "timezone",
        "extra",
    }
    assert set(view["purchases"]) == {"customer_since", "count", "totals", "last", "products"}
    history = view["contact_history"]
    assert set(history) == {"channels", "repeat_24h", "repeat_7d", "preferred_channel"}
    assert set(history["channels"]["SMS"]) == {
        "inbound",
        "outbound",
        "last_contact_at",
        "last_7d",
        "last_30d",
        "last_90d",
    }
    assert set(view["flags"]) == {"complaints", "abusive_language", "overdue"}
    assert set(view["flags"]["complaints"]) == {"count", "last_at", "open", "recent"}
    assert view["flags"]["abusive_language"] == {"count": 0, "last_at": None}
    assert view["flags"]["overdue"] is None
    assert set(view["insights"]) == {"value_tier", "churn_risk", "upsell"}
    assert set(view["insights"]["value_tier"]) >= {"tier", "reasons"}
    assert set(view["insights"]["churn_risk"]) == {"score", "reasons"}
    assert all(set(a) == {"code", "severity", "message"} for a in view["alerts"])
    assert view["alerts"][0]["code"] == "OPEN_COMPLAINT"
    assert [e["event_id"] for e in view["timeline"]] == ["m1", "b1", "c1", "r1", "o2", "o1", "p1"]


def test_offers_are_grouped_by_campaign() -> None:
    grouped = single_customer_view(customer(), NOW)["offers_by_campaign"]
    assert list(grouped) == ["card", "spring"]
    (spring,) = grouped["spring"]
    assert (spring["offer_id"], spring["response"], spring["response_event_id"]) == (
        "o-1",
        "DECLINED",
        "r1",
    )
    assert spring["presented_at"] == "2026-11-23T11:00:00Z"


def test_no_message_or_complaint_text_is_shown() -> None:
    text = json.dumps(single_customer_view(customer(), NOW), ensure_ascii=False)
    assert "4242" not in text and "call me" not in text


def test_datetimes_are_utc_iso_8601() -> None:
    view = single_customer_view(customer(), NOW)
    assert view["purchases"]["customer_since"] == "2026-11-25T10:00:00Z"
    assert view["flags"]["complaints"]["last_at"] == "2026-11-24T10:00:00Z"
    assert view["contact_history"]["channels"]["SMS"]["last_contact_at"] == "2026-11-26T10:00:00Z"


def _walk(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return [v for item in value.values() for v in _walk(item)]
    if isinstance(value, list):
        return [v for item in value for v in _walk(item)]
    return [value]


@PROPERTY
@given(history=histories())
def test_any_customer_has_a_json_view(history: list[Interaction | CampaignTarget]) -> None:
    state = fold(*history)
    view = single_customer_view(state, NOW)
    assert json.loads(json.dumps(view)) == view
    assert all(v is None or isinstance(v, str | int | float | bool) for v in _walk(view))
    scores = view["insights"]
    assert 0 <= scores["churn_risk"]["score"] <= 100
    assert 0 <= scores["upsell"]["score"] <= 100
    # The timeline never holds what a customer wrote.
    written = {
        f.payload.text
        for f in history
        if isinstance(f, Interaction) and isinstance(f.payload, Message)
    }
    summaries = " ".join(e["summary"] for e in view["timeline"])
    assert not any(text in summaries for text in written & set(TEXTS) if len(text) > 3)
