"""The customer agent sends a screen pop for a call assigned to an agent, once, after its
decisions; Faust `test_context` on the in-memory store, the producer mocked."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest.mock import AsyncMock, Mock

import pytest

from streams.domain.events import Call, ContactAttempt, Interaction
from streams.domain.model import Channel
from streams.domain.screen_pop import ScreenPop
from streams.wire import cloudevents, topics
from tests.agents.app_under_test import agents, app
from tests.agents.test_agents import _delivered, put_on_owner
from tests.factories import CUSTOMER, T0, interaction

serializer = app.serializer


@pytest.fixture
def sends(test_app: Any, monkeypatch: pytest.MonkeyPatch) -> AsyncMock:
    mock = AsyncMock(name="producer.send", side_effect=lambda *a, **k: _delivered())
    monkeypatch.setattr(test_app.producer, "send", mock)
    monkeypatch.setattr(test_app.producer, "send_soon", Mock(name="producer.send_soon"))
    return mock


def call(event_id: str, status: str, agent_id: str | None = "agent-7") -> Interaction:
    event = interaction(event_id, ContactAttempt(outcome="answered"), channel=Channel.VOICE)
    return event.model_copy(update={"call": Call(call_id="CA1", status=status, agent_id=agent_id)})


async def fold(events: list[Interaction]) -> None:
    async with agents.customer_agent.test_context() as tested:
        tested.original_channel = agents.app.topic(topics.INTERACTIONS)
        for event in events:
            await put_on_owner(tested, serializer.encode_model(event), CUSTOMER.encode())
            for _ in range(10):
                await asyncio.sleep(0)
            await agents.outbox.settle()
        assert tested._crash_reason is None


def pops(sends: AsyncMock) -> list[Any]:
    return [c.args for c in sends.call_args_list if c.args[0] == agents.topics.screen_pops]


async def test_a_connected_call_pops_once_and_a_ringing_one_not(sends: AsyncMock) -> None:
    answered = call("CA1:in-progress", "in-progress")
    await fold([call("CA1:ringing", "ringing"), answered, answered])  # the last: a duplicate
    (sent,) = pops(sends)
    topic, key, value, _partition, _timestamp, headers = sent
    assert topic == f"{agents.settings.app_id}-screen-pops"
    assert key == b"agent-7"
    assert serializer.decode_model(value) == ScreenPop(
        agent_id="agent-7",
        customer_id=CUSTOMER,
        event_id="CA1:in-progress",
        channel=Channel.VOICE,
        occurred_at=T0,
        call_id="CA1",
    )
    assert cloudevents.as_dict(headers)["ce_type"] == "touchline.screen-pop"


async def test_no_agent_no_pop(sends: AsyncMock) -> None:
    await fold([call("CA2:in-progress", "in-progress", agent_id=None)])
    assert pops(sends) == []
