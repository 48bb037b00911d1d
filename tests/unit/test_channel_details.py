"""How the optional channel details fold into customer state: delivery statuses, calls in
progress, click-to-chat contexts and the tokens later contacts present."""

from __future__ import annotations

from datetime import timedelta

from streams.domain.customer import (
    MAX_CONTEXTS,
    CustomerState,
    counts_as_contact,
    evolve,
    new_identities,
)
from streams.domain.decisions import ReplyRules, process
from streams.domain.events import (
    Call,
    ContactAttempt,
    ContactContext,
    Delivery,
    Interaction,
    Message,
    Visit,
)
from streams.domain.links import resolving_identities
from streams.domain.model import Channel, Direction, SuppressionReason
from tests.factories import CUSTOMER, PHONE, T0, interaction, offer, sms


def status(message_id: str, value: str, minutes: int = 1) -> Interaction:
    return interaction(
        f"{message_id}:{value}",
        ContactAttempt(outcome=value),
        at=T0 + timedelta(minutes=minutes),
        direction=Direction.OUTBOUND,
    ).model_copy(update={"delivery": Delivery(message_id=message_id, status=value)})


def call(call_id: str, call_status: str) -> Interaction:
    return interaction(
        f"{call_id}:{call_status}",
        ContactAttempt(outcome=call_status),
        channel=Channel.VOICE,
    ).model_copy(update={"call": Call(call_id=call_id, status=call_status)})


def context_event(token: str, event_id: str = "web-1") -> Interaction:
    return interaction(
        event_id,
        ContactAttempt(outcome="call_requested"),
        channel=Channel.WEB,
    ).model_copy(
        update={
            "context": ContactContext(
                token=token,
                requested="call",
                latitude=41.0,
                longitude=29.0,
                visits=[Visit(location="/loans"), Visit(location="/loans/apply")],
            )
        }
    )


def fold(*facts: Interaction) -> CustomerState:
    state = CustomerState.new(CUSTOMER)
    for fact in facts:
        state = evolve(state, fact)
    return state


# -- delivery statuses ---------------------------------------------------------------------


def test_a_status_lands_on_the_offer_it_reports_on_and_is_not_a_contact() -> None:
    state = fold(offer("SM1", "loan"), status("SM1", "sent"), status("SM1", "delivered", 2))
    assert state.offers[0].delivery_status == "delivered"
    assert state.contacts["SMS"].outbound == 1


def test_a_failure_is_not_overwritten_by_a_late_success_report() -> None:
    state = fold(offer("SM1", "loan"), status("SM1", "undelivered", 2), status("SM1", "sent", 1))
    assert state.offers[0].delivery_status == "undelivered"


def test_a_status_of_an_unknown_message_changes_no_offer() -> None:
    state = fold(offer("SM1", "loan"), status("SM-other", "failed"))
    assert state.offers[0].delivery_status is None


def test_a_reply_does_not_answer_an_offer_that_never_arrived() -> None:
    policy = ReplyRules()
    state = fold(offer("SM1", "loan"), status("SM1", "failed"))
    outcome = process(state, sms("SM-in", "YES"), policy, T0 + timedelta(minutes=10))
    assert not any(
        getattr(d, "reason", None) is SuppressionReason.OFFER_ACCEPTED for d in outcome.decisions
    )
    delivered = fold(offer("SM1", "loan"), status("SM1", "delivered"))
    outcome = process(delivered, sms("SM-in", "YES"), policy, T0 + timedelta(minutes=10))
    assert any(
        getattr(d, "reason", None) is SuppressionReason.OFFER_ACCEPTED for d in outcome.decisions
    )


# -- calls -----------------------------------------------------------------------------------


def test_a_call_counts_once_when_it_ends_not_while_it_rings() -> None:
    assert not counts_as_contact(call("CA1", "ringing"))
    assert not counts_as_contact(call("CA1", "in-progress"))
    assert counts_as_contact(call("CA1", "completed"))
    state = fold(call("CA1", "initiated"), call("CA1", "ringing"), call("CA1", "completed"))
    assert state.contacts["VOICE"].inbound == 1


def test_an_event_without_details_is_a_contact() -> None:
    assert counts_as_contact(sms("SM-in", "hello"))


# -- contexts and tokens -------------------------------------------------------------------


def test_a_context_is_kept_with_where_the_customer_was() -> None:
    state = fold(context_event("ctx_a"))
    (context,) = state.contexts
    assert (context.token, context.requested, context.channel) == ("ctx_a", "call", Channel.WEB)
    assert context.locations == ("/loans", "/loans/apply")
    assert (context.latitude, context.longitude) == (41.0, 29.0)


def test_a_contact_presenting_the_token_is_joined_to_its_context_once() -> None:
    chat = interaction("chat-1", Message(text="hi"), channel=Channel.CHAT).model_copy(
        update={"context_token": "ctx_a"}
    )
    state = fold(context_event("ctx_a"), chat, chat)
    assert state.contexts[0].joined_event_ids == ("chat-1",)


def test_a_token_of_no_known_context_joins_nothing() -> None:
    chat = interaction("chat-1", Message(text="hi")).model_copy(update={"context_token": "ctx_z"})
    state = fold(context_event("ctx_a"), chat)
    assert state.contexts[0].joined_event_ids == ()


def test_only_the_latest_contexts_are_kept() -> None:
    events = [context_event(f"ctx_{i}", f"web-{i}") for i in range(MAX_CONTEXTS + 2)]
    state = fold(*events)
    assert [c.token for c in state.contexts] == [f"ctx_{i}" for i in range(2, MAX_CONTEXTS + 2)]


def test_new_identities_include_context_tokens_and_new_numbers() -> None:
    before = fold(sms("SM-1", "hello"))
    after = evolve(before, context_event("ctx_a"))
    assert new_identities(before, after) == [("context", "ctx_a")]
    assert new_identities(CustomerState.new(CUSTOMER), before) == [("phone", PHONE)]


def test_a_presented_token_is_tried_before_the_callers_number() -> None:
    event = interaction("CA1", ContactAttempt(outcome="answered"), customer_id=None).model_copy(
        update={"context_token": "ctx_a"}
    )
    assert resolving_identities(event) == ["context:ctx_a", f"phone:{PHONE}"]
    assert resolving_identities(sms("SM-1", "hi")) == [f"phone:{PHONE}"]
