"""Flags: complaints with their status, and abusive language (counted, never kept)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from streams.domain.customer import CustomerState, evolve
from streams.domain.events import Complaint, Interaction, Message
from streams.domain.flags import (
    DEFAULT_ABUSE_LEXICON,
    ENV_ABUSIVE_WORDS,
    MAX_COMPLAINTS,
    AbuseLexicon,
)
from streams.domain.model import Channel, Direction
from streams.domain.single_view import single_customer_view
from tests.factories import CUSTOMER, T0, interaction

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def complaint(
    event_id: str,
    *,
    at: datetime = T0,
    category: str = "billing",
    severity: str = "high",
    complaint_id: str | None = None,
    status: str | None = None,
) -> Interaction:
    metadata = {}
    if complaint_id:
        metadata["complaint_id"] = complaint_id
    if status:
        metadata["complaint_status"] = status
    event = interaction(
        event_id,
        Complaint(category=category, severity=severity, text="they charged me twice"),
        at=at,
    )
    return event.model_copy(update={"metadata": metadata})


def fold(*events: Interaction, lexicon: AbuseLexicon = DEFAULT_ABUSE_LEXICON) -> CustomerState:
    state = CustomerState.new(CUSTOMER)
    for event in events:
        state = evolve(state, event, lexicon=lexicon)
    return state


def flags(state: CustomerState) -> dict[str, object]:
    found: dict[str, object] = single_customer_view(state, NOW)["flags"]
    return found


class TestComplaints:
    def test_complaints_are_listed_newest_first_without_their_text(self) -> None:
        state = fold(
            complaint("e1", at=T0),
            complaint("e2", at=T0 + timedelta(days=1), category="service", severity="low"),
        )
        shown = flags(state)["complaints"]
        assert shown == {
            "count": 2,
            "last_at": "2026-11-24T10:00:00Z",
            "open": 2,
            "recent": [
                {
                    "complaint_id": "e2",
                    "at": "2026-11-24T10:00:00Z",
                    "category": "service",
                    "severity": "low",
                    "channel": "SMS",
                    "status": "OPEN",
                    "status_at": "2026-11-24T10:00:00Z",
                },
                {
                    "complaint_id": "e1",
                    "at": "2026-11-23T10:00:00Z",
                    "category": "billing",
                    "severity": "high",
                    "channel": "SMS",
                    "status": "OPEN",
                    "status_at": "2026-11-23T10:00:00Z",
                },
            ],
        }
        assert "charged" not in state.model_dump_json()

    def test_a_resolution_closes_the_complaint_without_counting_another(self) -> None:
        state = fold(
            complaint("e1", complaint_id="K-1"),
            complaint("e2", at=T0 + timedelta(days=2), complaint_id="K-1", status="resolved"),
        )
        (record,) = state.complaints
        assert (record.status, record.status_event_id) == ("RESOLVED", "e2")
        assert record.opened_at == T0
        assert state.complaint_count == 1
        assert state.last_complaint_at == T0  # the resolution is not a complaint
        assert flags(state)["complaints"]["open"] == 0  # type: ignore[index]

    def test_the_outcome_does_not_depend_on_delivery_order(self) -> None:
        events = [
            complaint("e1", complaint_id="K-1", category="billing"),
            complaint("e2", at=T0 + timedelta(days=1), complaint_id="K-1", status="RESOLVED"),
            complaint("e3", at=T0 + timedelta(days=3), complaint_id="K-1", status="OPEN"),
        ]
        states = [fold(*order) for order in itertools.permutations(events)]
        assert all(s.complaints == states[0].complaints for s in states)
        assert all(s.complaint_count == 1 for s in states)
        (record,) = states[0].complaints
        assert (record.status, record.opened_at, record.category) == ("OPEN", T0, "billing")

    def test_a_complaint_resolved_at_once_is_counted_and_not_open(self) -> None:
        state = fold(complaint("e1", status="RESOLVED"))
        assert state.complaint_count == 1
        assert flags(state)["complaints"]["open"] == 0  # type: ignore[index]

    def test_recent_complaints_are_bounded(self) -> None:
        events = [
            complaint(f"e{i:02}", at=T0 + timedelta(hours=i)) for i in range(MAX_COMPLAINTS + 3)
        ]
        state = fold(*events)
        assert len(state.complaints) == MAX_COMPLAINTS
        assert state.complaints[0].complaint_id == "e03"
        assert state.complaint_count == MAX_COMPLAINTS + 3


class TestAbusiveLanguage:
    @pytest.mark.parametrize(
        "text",
        [
            "You IDIOTS, fix it",
            "shut   up!",
            "Aptalsınız!!",  # Turkish inflects: a prefix entry
            "SALAK",
            "serefsiz",  # typed without Turkish letters
            "Ты идиот?",
            "ДУРАК",
            "احمق",
            "بي‌شعور",  # Arabic yeh and a zero-width non-joiner
            "خفه   شو",
            "Դու ապուշ ես",
        ],
    )
    def test_abusive_words_in_many_languages_are_found(self, text: str) -> None:
        assert DEFAULT_ABUSE_LEXICON.matches(text)

    @pytest.mark.parametrize(
        "text",
        ["", "Thank you!", "I need a new card", "Classic assessment", "mal kabul", "STOP"],
    )
    def test_ordinary_messages_are_not(self, text: str) -> None:
        assert not DEFAULT_ABUSE_LEXICON.matches(text)

    def test_only_a_count_and_a_moment_are_kept(self) -> None:
        later = T0 + timedelta(hours=2)
        state = fold(
            interaction("m1", Message(text="you idiot")),
            interaction("m2", Message(text="thanks")),
            interaction("m3", Message(text="ИДИОТЫ"), at=later),
        )
        assert flags(state)["abusive_language"] == {
            "count": 2,
            "last_at": "2026-11-23T12:00:00Z",
        }
        assert "idiot" not in state.model_dump_json().lower()

    def test_only_inbound_messages_count(self) -> None:
        outbound = interaction("m1", Message(text="idiot"), direction=Direction.OUTBOUND)
        assert fold(outbound).abusive_count == 0

    def test_every_channel_counts(self) -> None:
        chat = interaction("m1", Message(text="idiot"), channel=Channel.CHAT)
        assert fold(chat).abusive_count == 1

    def test_the_word_list_is_configurable(self) -> None:
        lexicon = AbuseLexicon.from_env({ENV_ABUSIVE_WORDS: "banana*, rotten egg"})
        assert lexicon.matches("BANANAS!") and lexicon.matches("you rotten  egg")
        assert not lexicon.matches("idiot")
        assert fold(interaction("m1", Message(text="bananas")), lexicon=lexicon).abusive_count == 1
        assert AbuseLexicon.from_env({ENV_ABUSIVE_WORDS: " "}) is DEFAULT_ABUSE_LEXICON
        with pytest.raises(ValueError, match=ENV_ABUSIVE_WORDS):
            AbuseLexicon.from_env({ENV_ABUSIVE_WORDS: "ok, !!"})

    def test_an_empty_list_checks_nothing(self) -> None:
        state = fold(interaction("m1", Message(text="idiot")), lexicon=AbuseLexicon())
        assert state.abusive_count == 0
