"""The screen-pop stream without a broker: SSE framing and the fan-out to subscribers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime

import pytest

from streams.domain.model import Channel
from streams.domain.screen_pop import ScreenPop
from streams.views.screen_pops import ScreenPopFanout, ScreenPopReader, SubscriptionClosed
from streams.web import sse
from streams.wire.serialization import AvroSerializer

AT = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)


def pop(agent_id: str = "agent-7", event_id: str = "e-1", customer_id: str = "c-42") -> ScreenPop:
    return ScreenPop(
        agent_id=agent_id,
        customer_id=customer_id,
        event_id=event_id,
        channel=Channel.VOICE,
        occurred_at=AT,
        call_id="CA1",
    )


def parse(stream: bytes) -> list[dict[str, str]]:
    """A reader of text/event-stream as the WHATWG spec has browsers read it."""
    events: list[dict[str, str]] = []
    current: dict[str, str] = {}
    data: list[str] = []
    for line in stream.decode().replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        if line == "":
            if data:
                events.append({**current, "data": "\n".join(data)})
            current, data = {}, []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if name == "data":
            data.append(value)
        else:
            current[name] = value
    return events


# -- framing ----------------------------------------------------------------------------


def test_event_frame_is_exact() -> None:
    frame = sse.event("screen-pop", {"customer_id": "c-42", "n": 1}, event_id="e-1")
    assert frame == b'event: screen-pop\nid: e-1\ndata: {"customer_id":"c-42","n":1}\n\n'


def test_event_without_id() -> None:
    assert sse.event("ready", {}) == b"event: ready\ndata: {}\n\n"


def test_json_data_stays_on_one_line_even_with_line_breaks_inside() -> None:
    frame = sse.event("screen-pop", {"summary": "line one\nline two\r\nthree", "name": "Ayşe"})
    assert frame.count(b"\n") == 3  # event line, data line, blank line
    (event,) = parse(frame)
    assert json.loads(event["data"]) == {"summary": "line one\nline two\r\nthree", "name": "Ayşe"}
    assert "Ayşe".encode() in frame  # UTF-8, as the format requires


def test_names_and_ids_cannot_inject_fields() -> None:
    frame = sse.event("pop\ndata: forged", {"ok": True}, event_id="e-1\r\nevent: other")
    (event,) = parse(frame)
    assert event["event"] == "pop data: forged"
    assert event["id"] == "e-1  event: other"
    assert json.loads(event["data"]) == {"ok": True}


def test_comment_and_retry_frames() -> None:
    assert sse.comment("heartbeat") == b": heartbeat\n\n"
    assert sse.comment("a\nb") == b": a b\n\n"
    assert sse.retry(2000) == b"retry: 2000\n\n"
    assert parse(sse.comment("heartbeat") + sse.retry(5)) == []


def test_a_stream_of_frames_parses_back() -> None:
    stream = (
        sse.retry(2000)
        + sse.comment("heartbeat")
        + sse.event("ready", {"agent_id": "agent-7"})
        + sse.event("screen-pop", pop().model_dump(mode="json"), event_id="e-1")
    )
    ready, popped = parse(stream)
    assert ready["event"] == "ready"
    assert popped["event"] == "screen-pop" and popped["id"] == "e-1"
    assert ScreenPop.model_validate(json.loads(popped["data"])) == pop()


# -- fan-out ----------------------------------------------------------------------------


async def test_a_pop_reaches_every_browser_of_its_agent_and_no_other() -> None:
    fanout = ScreenPopFanout()
    with (
        fanout.subscribe("agent-7") as first,
        fanout.subscribe("agent-7") as second,
        fanout.subscribe("agent-8") as other,
    ):
        assert fanout.publish(pop("agent-7")) == 2
        assert await first.get(1) == pop("agent-7")
        assert await second.get(1) == pop("agent-7")
        assert await other.get(0.01) is None  # a timeout, which the stream turns into a heartbeat
    assert fanout.subscribers("agent-7") == 0
    assert fanout.publish(pop("agent-7")) == 0


async def test_a_slow_browser_loses_its_oldest_pops_and_blocks_nobody() -> None:
    fanout = ScreenPopFanout(queue_size=3)
    with fanout.subscribe("agent-7") as slow, fanout.subscribe("agent-7") as quick:
        for n in range(10):
            fanout.publish(pop(event_id=f"e-{n}"))
            got = await quick.get(1)
            assert got is not None and got.event_id == f"e-{n}"
        kept = [await slow.get(0.01) for _ in range(3)]
        assert [p.event_id for p in kept if p] == ["e-7", "e-8", "e-9"]
        assert slow.dropped == 7 and quick.dropped == 0
        assert await slow.get(0.01) is None


async def test_a_waiting_browser_wakes_on_its_pop() -> None:
    fanout = ScreenPopFanout()
    with fanout.subscribe("agent-7") as subscription:
        waiting = asyncio.create_task(subscription.get(5))
        await asyncio.sleep(0)
        fanout.publish(pop())
        assert await asyncio.wait_for(waiting, 1) == pop()


async def test_close_ends_every_stream_now_and_later() -> None:
    fanout = ScreenPopFanout()
    with fanout.subscribe("agent-7") as subscription:
        fanout.publish(pop())
        waiting = asyncio.create_task(subscription.get(30))
        await asyncio.sleep(0)
        fanout.close()
        # Whatever was queued is dropped: the worker is stopping.
        with pytest.raises(SubscriptionClosed):
            await asyncio.wait_for(waiting, 1)
        with pytest.raises(SubscriptionClosed):
            await subscription.get(1)
        fanout.publish(pop())  # nothing to deliver to, and no error
    with fanout.subscribe("agent-7") as late, pytest.raises(SubscriptionClosed):
        await late.get(1)


def test_the_reader_hands_decoded_pops_on_and_skips_garbage() -> None:
    serializer = AvroSerializer()
    fanout = ScreenPopFanout()

    async def no_partitions(topic: str) -> set[int]:
        return set()

    reader = ScreenPopReader(
        "127.0.0.1:1", "t-screen-pops", serializer, fanout, partitions=no_partitions
    )
    with fanout.subscribe("agent-7") as subscription:
        reader.apply(serializer.encode_model(pop()))
        reader.apply(b"not avro")
        reader.apply(None)
        assert reader.undecodable == 2
        assert fanout.delivered == 1
        assert subscription._queue.qsize() == 1
