"""Screen pop decisions (pure), the ScreenPop record on the wire, and its Kafka record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.domain.events import Call, ContactAttempt, Interaction, Message
from streams.domain.model import Channel, Direction
from streams.domain.screen_pop import NOT_CONNECTED_STATUSES, ScreenPop, screen_pop_for
from streams.wire import cloudevents, outgoing
from streams.wire.serialization import MODELS, AvroSerializer
from tests.factories import CUSTOMER, interaction

AT = datetime(2026, 11, 23, 10, 15, 0, 123456, tzinfo=UTC)


def voice(
    status: str = "in-progress", agent_id: str | None = "agent-7", **call: object
) -> Interaction:
    event = interaction(
        "CA1:" + status,
        ContactAttempt(outcome="answered"),
        channel=Channel.VOICE,
        at=AT,
    )
    return event.model_copy(
        update={
            "call": Call(call_id="CA1", status=status, agent_id=agent_id, **call),  # type: ignore[arg-type]
            "context_token": "ctx_1",
        }
    )


def chat(metadata: dict[str, str]) -> Interaction:
    event = interaction("chat-1", Message(text="hello"), channel=Channel.CHAT, at=AT)
    return event.model_copy(update={"metadata": metadata})


def test_a_connected_call_pops_its_agents_screen() -> None:
    pop = screen_pop_for(voice(), CUSTOMER)
    assert pop == ScreenPop(
        agent_id="agent-7",
        customer_id=CUSTOMER,
        event_id="CA1:in-progress",
        channel=Channel.VOICE,
        occurred_at=datetime(2026, 11, 23, 10, 15, 0, 123000, tzinfo=UTC),
        call_id="CA1",
        context_token="ctx_1",
    )


def test_the_customer_is_the_resolved_one_not_the_reference() -> None:
    pop = screen_pop_for(voice(), "c-resolved")
    assert pop is not None and pop.customer_id == "c-resolved"


@pytest.mark.parametrize("status", sorted(NOT_CONNECTED_STATUSES))
def test_a_call_not_yet_or_never_connected_pops_nothing(status: str) -> None:
    assert screen_pop_for(voice(status), CUSTOMER) is None
    assert screen_pop_for(voice(status.upper()), CUSTOMER) is None


@pytest.mark.parametrize("status", ["in-progress", "completed", "answered", "connected"])
def test_every_other_status_pops(status: str) -> None:
    assert screen_pop_for(voice(status), CUSTOMER) is not None


def test_a_call_without_an_agent_pops_nothing() -> None:
    assert screen_pop_for(voice(agent_id=None), CUSTOMER) is None
    assert screen_pop_for(voice(agent_id="   "), CUSTOMER) is None


def test_an_overlong_agent_id_is_no_agent() -> None:
    assert screen_pop_for(voice(agent_id="a" * 201), CUSTOMER) is None


def test_a_chat_names_its_agent_in_metadata() -> None:
    pop = screen_pop_for(chat({"agent_id": " agent-9 "}), CUSTOMER)
    assert pop is not None
    assert (pop.agent_id, pop.channel, pop.call_id) == ("agent-9", Channel.CHAT, None)
    assert screen_pop_for(chat({"queue": "cards"}), CUSTOMER) is None


def test_the_call_record_wins_over_metadata() -> None:
    event = voice().model_copy(update={"metadata": {"agent_id": "other"}})
    pop = screen_pop_for(event, CUSTOMER)
    assert pop is not None and pop.agent_id == "agent-7"


@pytest.mark.parametrize("channel", [c for c in Channel if c not in (Channel.VOICE, Channel.CHAT)])
def test_other_channels_never_pop(channel: Channel) -> None:
    event = voice().model_copy(update={"channel": channel, "metadata": {"agent_id": "agent-7"}})
    assert screen_pop_for(event, CUSTOMER) is None


def test_an_outbound_call_connected_to_an_agent_pops() -> None:
    event = voice().model_copy(update={"direction": Direction.OUTBOUND})
    assert screen_pop_for(event, CUSTOMER) is not None


def test_screen_pop_round_trips_in_avro() -> None:
    serializer = AvroSerializer()
    assert MODELS["touchline.ScreenPop"] is ScreenPop
    pop = screen_pop_for(voice(), CUSTOMER)
    assert pop is not None
    data = serializer.encode_model(pop)
    assert data[:2] == b"\xc3\x01"
    assert serializer.decode_model(data) == pop
    minimal = pop.model_copy(update={"call_id": None, "context_token": None})
    assert serializer.decode_model(serializer.encode_model(minimal)) == minimal


def test_screen_pop_record_is_keyed_by_agent_with_cloudevents_headers() -> None:
    serializer = AvroSerializer()
    pop = screen_pop_for(voice(), CUSTOMER)
    assert pop is not None
    record = outgoing.screen_pop(serializer, "touchline-screen-pops", pop)
    assert (record.topic, record.key) == ("touchline-screen-pops", b"agent-7")
    assert record.value is not None and serializer.decode_model(record.value) == pop
    headers = cloudevents.as_dict(record.headers)
    assert headers["ce_specversion"] == "1.0"
    assert headers["ce_type"] == "touchline.screen-pop"
    assert headers["ce_subject"] == CUSTOMER
    assert headers["ce_id"] == "CA1:in-progress:screen-pop:agent-7"
    assert headers["ce_time"] == "2026-11-23T10:15:00.123000Z"
    assert headers["content-type"] == "application/avro"
