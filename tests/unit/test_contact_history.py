"""Contact history: counts over the last 7/30/90 days, repeat contacts, the preferred
channel, and the timeline of contacts across channels."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from streams.domain.contact_history import (
    CONTACT_DAYS,
    MAX_TIMELINE,
    ContactDays,
    count_day,
    epoch_day,
)
from streams.domain.customer import CustomerState, evolve
from streams.domain.events import (
    Call,
    Complaint,
    ContactAttempt,
    Delivery,
    Interaction,
    IvrSession,
    Message,
    OfferPresented,
    OfferResponse,
    OptOut,
    ProfileUpdate,
    Purchase,
)
from streams.domain.model import Channel, Direction, OfferResponseKind
from streams.domain.single_view import single_customer_view
from tests.factories import CUSTOMER, PHONE, interaction

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def contact(
    event_id: str,
    days_ago: float,
    *,
    channel: Channel = Channel.SMS,
    direction: Direction = Direction.INBOUND,
    payload: Any = None,
    **details: Any,
) -> Interaction:
    event = interaction(
        event_id,
        payload or Message(text="hello, my number is +905321234567"),
        at=NOW - timedelta(days=days_ago),
        channel=channel,
        direction=direction,
    )
    return event.model_copy(update=details) if details else event


def fold(*events: Interaction) -> CustomerState:
    state = CustomerState.new(CUSTOMER)
    for event in events:
        state = evolve(state, event)
    return state


def history(state: CustomerState) -> dict[str, Any]:
    found: dict[str, Any] = single_customer_view(state, NOW)["contact_history"]
    return found


class TestCountsOverTime:
    def test_counts_over_the_last_7_30_and_90_days(self) -> None:
        state = fold(
            contact("e1", 0.1),
            contact("e2", 3, direction=Direction.OUTBOUND),
            contact("e3", 10),
            contact("e4", 45),
            contact("e5", 200),  # counted in the totals, too old for the windows
            contact("e6", 2, channel=Channel.VOICE),
        )
        assert history(state)["channels"] == {
            "SMS": {
                "inbound": 4,
                "outbound": 1,
                "last_contact_at": "2026-12-01T09:36:00Z",
                "last_7d": 2,
                "last_30d": 3,
                "last_90d": 4,
            },
            "VOICE": {
                "inbound": 1,
                "outbound": 0,
                "last_contact_at": "2026-11-29T12:00:00Z",
                "last_7d": 1,
                "last_30d": 1,
                "last_90d": 1,
            },
        }

    def test_windows_move_with_now(self) -> None:
        state = fold(contact("e1", 5))
        later = single_customer_view(state, NOW + timedelta(days=3))["contact_history"]
        assert later["channels"]["SMS"]["last_7d"] == 0
        assert later["channels"]["SMS"]["last_30d"] == 1

    def test_days_are_bounded_to_90_whatever_the_order(self) -> None:
        days = [epoch_day(NOW) - n for n in (0, 50, 89, 90, 150)]
        forward, backward = ContactDays(), ContactDays()
        for day in days:
            forward = count_day(forward, day, inbound=True)
        for day in reversed(days):
            backward = count_day(backward, day, inbound=True)
        assert forward == backward
        assert forward.days == tuple(epoch_day(NOW) - n for n in (89, 50, 0))
        assert forward.days[-1] - forward.days[0] < CONTACT_DAYS

    def test_status_reports_are_not_contacts(self) -> None:
        state = fold(
            contact("e1", 1, direction=Direction.OUTBOUND),
            contact(
                "e2",
                1,
                direction=Direction.OUTBOUND,
                delivery=Delivery(message_id="e1", status="delivered"),
            ),
            contact(
                "e3",
                1,
                channel=Channel.VOICE,
                call=Call(call_id="CA1", status="ringing"),
            ),
        )
        assert history(state)["channels"]["SMS"]["last_7d"] == 1
        assert history(state)["channels"]["VOICE"]["last_7d"] == 0
        assert [e.event_id for e in state.timeline] == ["e1"]


class TestRepeatContacts:
    def test_an_inbound_contact_soon_after_another_is_a_repeat(self) -> None:
        state = fold(
            contact("e1", 10),
            contact("e2", 9.5, channel=Channel.VOICE),  # 12 hours later, another channel
            contact("e3", 6),  # 3.5 days later
            contact("e4", 5.9, direction=Direction.OUTBOUND),  # ours: not a repeat
            contact("e5", 1),  # 5 days after e3
        )
        assert (history(state)["repeat_24h"], history(state)["repeat_7d"]) == (1, 3)

    def test_a_first_contact_is_no_repeat(self) -> None:
        state = fold(contact("e1", 1, direction=Direction.OUTBOUND), contact("e2", 0.5))
        assert (history(state)["repeat_24h"], history(state)["repeat_7d"]) == (0, 0)


class TestPreferredChannel:
    def test_the_stated_preference_wins(self) -> None:
        state = fold(
            contact("e1", 1),
            contact("p1", 1, payload=ProfileUpdate(fields={"preferred_channel": "EMAIL"})),
        )
        assert history(state)["preferred_channel"] == {"channel": "EMAIL", "rule": "profile"}

    def test_else_the_channel_used_most_to_reach_us(self) -> None:
        state = fold(
            contact("e1", 1, channel=Channel.CHAT),
            contact("e2", 2, channel=Channel.VOICE),
            contact("e3", 3, channel=Channel.VOICE),
            contact("e4", 1, channel=Channel.SMS, direction=Direction.OUTBOUND),
            contact("e5", 2, channel=Channel.SMS, direction=Direction.OUTBOUND),
            contact("e6", 3, channel=Channel.SMS, direction=Direction.OUTBOUND),
        )
        assert history(state)["preferred_channel"] == {
            "channel": "VOICE",
            "rule": "most_inbound_90d",
        }

    def test_a_tie_goes_to_the_channel_used_last(self) -> None:
        state = fold(
            contact("e1", 3, channel=Channel.VOICE), contact("e2", 1, channel=Channel.CHAT)
        )
        assert history(state)["preferred_channel"]["channel"] == "CHAT"

    def test_without_contacts_there_is_none(self) -> None:
        state = fold(contact("e1", 1, direction=Direction.OUTBOUND))
        assert history(state)["preferred_channel"] == {"channel": None, "rule": "none"}


class TestTimeline:
    def test_entries_say_what_happened_without_personal_data(self) -> None:
        state = fold(
            contact("m1", 9, email="ayse@example.com"),
            contact("c1", 8, payload=Complaint(category="billing", severity="high", text="rude")),
            contact("b1", 7, payload=Purchase(amount=Decimal("120"), currency="TRY")),
            contact(
                "o1",
                6,
                direction=Direction.OUTBOUND,
                payload=OfferPresented(campaign_id="spring-loan"),
            ),
            contact(
                "r1",
                5,
                payload=OfferResponse(
                    campaign_id="spring-loan", response=OfferResponseKind.ACCEPTED
                ),
            ),
            contact(
                "v1",
                4,
                channel=Channel.IVR,
                payload=ContactAttempt(outcome="SELF_SERVICE"),
                ivr=IvrSession(session_id="s1", intent="card_blocked", account_masked="****1234"),
            ),
            contact(
                "v2",
                3,
                channel=Channel.VOICE,
                payload=ContactAttempt(outcome="ANSWERED"),
                call=Call(
                    call_id="CA1",
                    ani=PHONE,
                    status="completed",
                    duration_seconds=95,
                    agent_id="agent-7",
                ),
            ),
            contact("u1", 2, payload=ProfileUpdate(fields={"city": "Ankara", "name": "Ayşe"})),
            contact("x1", 1, payload=OptOut(channels=[Channel.SMS])),
            contact(
                "w1", 0.5, channel=Channel.WEB, metadata={"topic": "mortgage", "agent_id": "a-2"}
            ),
        )
        timeline = single_customer_view(state, NOW)["timeline"]
        assert [(e["event_id"], e["summary"], e["topic"], e["agent_id"]) for e in timeline] == [
            ("w1", "Message (inbound WEB)", "mortgage", "a-2"),
            ("x1", "Opt-out: SMS", None, None),
            ("u1", "Profile update: city, name", None, None),
            (
                "v2",
                "Contact attempt: ANSWERED (inbound VOICE); call completed, 95s",
                None,
                "agent-7",
            ),
            (
                "v1",
                "Contact attempt: SELF_SERVICE (inbound IVR); IVR intent card_blocked",
                "card_blocked",
                None,
            ),
            ("r1", "Offer accepted: spring-loan (inbound SMS)", None, None),
            ("o1", "Offer spring-loan (outbound SMS)", None, None),
            ("b1", "Purchase 120.00 TRY", None, None),
            ("c1", "Complaint: billing/high", "billing", None),
            ("m1", "Message (inbound SMS)", None, None),
        ]
        first = timeline[-1]
        assert first == {
            "event_id": "m1",
            "occurred_at": "2026-11-22T12:00:00Z",
            "channel": "SMS",
            "direction": "INBOUND",
            "payload_type": "Message",
            "campaign_id": None,
            "summary": "Message (inbound SMS)",
            "topic": None,
            "agent_id": None,
        }
        assert timeline[6]["campaign_id"] == "spring-loan"
        text = json.dumps(timeline, ensure_ascii=False)
        for personal in ("+90532", "ayse@", "hello", "rude", "Ankara", "Ayşe", "1234"):
            assert personal not in text

    def test_out_of_order_events_take_their_place_in_time(self) -> None:
        state = fold(contact("e2", 2), contact("e3", 1), contact("e1", 3), contact("e0", 3))
        assert [e.event_id for e in state.timeline] == ["e0", "e1", "e2", "e3"]

    def test_the_latest_are_kept(self) -> None:
        events = [contact(f"e{i:03}", 60 - i * 0.5) for i in range(MAX_TIMELINE + 10)]
        state = fold(*events, contact("old", 100))
        assert len(state.timeline) == MAX_TIMELINE
        assert state.timeline[0].event_id == "e010"
        assert state.timeline[-1].event_id == f"e{MAX_TIMELINE + 9:03}"
