"""The producer SDK on the real broker: sync and async, validation, headers, targets."""

from __future__ import annotations

import asyncio

import pytest

from streams.adapters.native import InputError
from streams.config import Settings
from streams.domain.events import CampaignTarget, Interaction
from streams.kafka.local import LocalKafka
from streams.kafka.producer import PublishError, SyncTouchlineProducer, TouchlineProducer
from tests.hub import clean_env, read_until

pytestmark = pytest.mark.kafka


def message(event_id: str, phone: str = "0532 765 43 21") -> dict:
    return {
        "event_id": event_id,
        "occurred_at": "2026-11-23T10:15:00Z",
        "channel": "CHAT",
        "direction": "INBOUND",
        "customer": {"phone": phone},
        "payload": {"type": "Message", "text": "I want to close my card"},
    }


def settings(kafka: LocalKafka) -> Settings:
    return Settings.from_env(
        clean_env(TOUCHLINE_BROKER=kafka.bootstrap, TOUCHLINE_DEFAULT_REGION="TR")
    )


async def test_async_producer_publishes_validated_events_with_cloudevents_headers(
    kafka: LocalKafka, topics_ready: str, uid: str
) -> None:
    async with TouchlineProducer(settings=settings(kafka)) as touchline:
        ids = await touchline.send_many([message(f"sdk-{uid}-1"), message(f"sdk-{uid}-2")])
        assert ids == [f"sdk-{uid}-1", f"sdk-{uid}-2"]
        with pytest.raises(InputError) as bad:
            await touchline.send_many([message(f"sdk-{uid}-3"), {**message("x"), "channel": "FAX"}])
        assert bad.value.field == "channel"
        upload = await touchline.send_targets(
            f"sdk-{uid}", [{"customer_id": "k1", "phone": "05321112233"}]
        )

    seen = await read_until(
        kafka.bootstrap,
        "touchline.interactions.v1",
        lambda rs: {r.value.event_id for r in rs if isinstance(r.value, Interaction)} >= set(ids),
    )
    mine = [r for r in seen if isinstance(r.value, Interaction) and r.value.event_id in ids]
    assert len(mine) == 2  # nothing of the rejected batch was sent
    assert all(r.value.event_id != f"sdk-{uid}-3" for r in seen if isinstance(r.value, Interaction))
    assert mine[0].value.customer.phone == "+905327654321"
    assert mine[0].key == "phone:+905327654321"
    headers = dict(mine[0].raw.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_source"] == b"/touchline/sdk"
    assert headers["ce_type"] == b"touchline.interaction.Message"

    targets = await read_until(
        kafka.bootstrap,
        "touchline.campaign-targets.v1",
        lambda rs: any(
            isinstance(r.value, CampaignTarget) and r.value.upload_id == upload for r in rs
        ),
    )
    target = next(
        r for r in targets if isinstance(r.value, CampaignTarget) and r.value.upload_id == upload
    )
    assert target.key == f"sdk-{uid}:k1"
    assert target.value.phone == "+905321112233"


async def test_sync_producer_from_blocking_code(
    kafka: LocalKafka, topics_ready: str, uid: str
) -> None:
    def blocking() -> str:
        with SyncTouchlineProducer(settings=settings(kafka)) as touchline:
            return touchline.send(message(f"sync-{uid}"))

    event_id = await asyncio.to_thread(blocking)
    assert event_id == f"sync-{uid}"
    await read_until(
        kafka.bootstrap,
        "touchline.interactions.v1",
        lambda rs: any(
            isinstance(r.value, Interaction) and r.value.event_id == event_id for r in rs
        ),
    )


async def test_unreachable_broker_is_a_clear_error(uid: str) -> None:
    producer = TouchlineProducer("127.0.0.1:9", settings=Settings.from_env(clean_env()))
    with pytest.raises(PublishError, match=r"cannot reach Kafka at 127\.0\.0\.1:9"):
        await producer.start()
