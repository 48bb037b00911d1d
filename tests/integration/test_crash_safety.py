"""A decision is never lost: a worker SIGKILLed after it decided, before the decision was
delivered, publishes it after the restart; a record put on a partition that does not own
its customer is moved to the owner, never applied where it landed."""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2

from streams.domain.customer import CustomerState
from streams.domain.decisions import Suppression, suppression_id
from streams.domain.events import CampaignTarget, Interaction, Message
from streams.domain.model import Channel, SuppressionReason
from streams.kafka.local import LocalKafka
from streams.wire import outgoing, topics
from streams.wire.serialization import AvroSerializer
from streams.wire.state_codec import decode_state
from tests.factories import T0, interaction, offer, target
from tests.hub import Api, HubWorker, eventually, read_until

pytestmark = pytest.mark.kafka

serializer = AvroSerializer()


def for_customer(fact: Any, customer_id: str, phone: str) -> Any:
    if isinstance(fact, CampaignTarget):
        return fact.model_copy(update={"customer_id": customer_id, "phone": phone})
    assert isinstance(fact, Interaction)
    ref = fact.customer.model_copy(update={"customer_id": customer_id, "phone": phone})
    return fact.model_copy(update={"customer": ref})


async def publish(bootstrap: str, *facts: Any, partition: int | None = None) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        for fact in facts:
            if isinstance(fact, CampaignTarget):
                record = outgoing.campaign_target(serializer, fact, "/tests")
            else:
                record = outgoing.interaction(serializer, fact, "/tests")
            await producer.send_and_wait(
                record.topic,
                record.value,
                key=record.key,
                partition=partition,
                headers=record.headers,
            )
    finally:
        await producer.stop()


def yes_story(uid: str) -> tuple[str, str, list[Any]]:
    # A phone of its own: a phone shared with another test's customer would merge them.
    customer, phone = f"crash-{uid}", f"+90532{int(uid, 16) % 10_000_000:07d}"
    campaign = f"spring-{uid}"
    facts = [
        target(campaign, f"upload-{uid}"),
        offer(f"offer-{uid}", campaign),
        interaction(f"yes-{uid}", Message(text="EVET"), at=T0 + timedelta(minutes=5)),
    ]
    return customer, campaign, [for_customer(f, customer, phone) for f in facts]


async def listed(bootstrap: str, key: str) -> None:
    await read_until(
        bootstrap,
        topics.DIAL_LIST,
        lambda seen: any(s.key == key and s.raw.value is not None for s in seen),
        timeout=60,
    )


async def customer_state(bootstrap: str, app_id: str, customer: str, event_id: str) -> Any:
    """The customer's last state on the customers changelog that has seen `event_id`."""
    found = await read_until(
        bootstrap,
        f"{app_id}-customers-changelog",
        lambda seen: any(
            s.key == customer
            and s.raw.value is not None
            and decode_state(s.raw.value, serializer).has_seen(event_id)
            for s in seen
        ),
        timeout=60,
        serializer=serializer,
    )
    last = [s for s in found if s.key == customer][-1]
    return decode_state(last.raw.value, serializer)


@pytest.mark.parametrize("store", ["kept", "wiped"])
async def test_a_decision_held_back_by_a_crash_is_published_after_the_restart(
    kafka: LocalKafka, topics_ready: str, tmp_path: Path, uid: str, store: str
) -> None:
    """The worker decides the YES but its suppression never reaches the broker (a test
    hook holds records for that topic); it is SIGKILLed there, at the moment where a state
    stored before delivery would have made the redelivered reply a duplicate."""
    app_id = f"crash-{uid}"
    customer, campaign, facts = yes_story(uid)
    held = HubWorker(
        kafka.bootstrap,
        app_id,
        tmp_path,
        env={"TOUCHLINE_FAULT_HOLD_TOPICS": topics.SUPPRESSIONS},
    ).start()
    try:
        key = f"{campaign}:{customer}"
        await publish(kafka.bootstrap, facts[0])
        await listed(kafka.bootstrap, key)  # the target upload takes another path
        await publish(kafka.bootstrap, *facts[1:])
        # Decided: the dial-list tombstone (not held) is out, the suppression is not.
        await read_until(
            kafka.bootstrap,
            topics.DIAL_LIST,
            lambda seen: any(s.key == key and s.raw.value is None for s in seen),
            timeout=60,
        )
    finally:
        assert held.process is not None
        held.process.kill()  # SIGKILL: no flush, no commit, no goodbye
        held.process.wait(10)
    suppressions = await read_until(kafka.bootstrap, topics.SUPPRESSIONS, lambda s: True)
    assert not [s for s in suppressions if s.key == key], "the hook must have held it"

    if store == "wiped":
        shutil.rmtree(tmp_path / "worker")
    restarted = HubWorker(kafka.bootstrap, app_id, tmp_path, web_port=held.web_port).start()
    try:
        expected = suppression_id(f"yes-{uid}", campaign, SuppressionReason.OFFER_ACCEPTED)
        published = await read_until(
            kafka.bootstrap,
            topics.SUPPRESSIONS,
            lambda seen: any(s.key == key for s in seen),
            timeout=60,
        )
        (suppression,) = [s.value for s in published if s.key == key]
        assert isinstance(suppression, Suppression)
        assert suppression.suppression_id == expected
        assert suppression.reason is SuppressionReason.OFFER_ACCEPTED
        state = await customer_state(kafka.bootstrap, app_id, customer, f"yes-{uid}")
        assert isinstance(state, CustomerState)
        assert state.is_suppressed(campaign, Channel.VOICE)
        assert campaign not in state.dial_list_campaigns()
    finally:
        restarted.stop()


async def test_a_record_on_a_partition_that_does_not_own_its_customer_is_moved(
    kafka: LocalKafka,
    topics_ready: str,
    tmp_path: Path,
    uid: str,
    http: aiohttp.ClientSession,
) -> None:
    """A producer with another partitioner (librdkafka's CRC32, say) puts a customer's
    events on the wrong partition: they are re-keyed to the owner, and the customer's
    state has them all, in one place."""
    customer, campaign, facts = yes_story(uid)
    # Java's default partitioner over the topic's 8 partitions, as the hub must hash.
    owner = (murmur2(customer.encode()) & 0x7FFFFFFF) % 8
    wrong = (owner + 3) % 8
    with HubWorker(kafka.bootstrap, f"copart-{uid}", tmp_path) as hub:
        key = f"{campaign}:{customer}"
        await publish(kafka.bootstrap, facts[0])
        await listed(kafka.bootstrap, key)
        await publish(kafka.bootstrap, *facts[1:], partition=wrong)
        published = await read_until(
            kafka.bootstrap,
            topics.SUPPRESSIONS,
            lambda seen: any(s.key == key for s in seen),
            timeout=60,
        )
        assert [s.value.source_event_id for s in published if s.key == key] == [f"yes-{uid}"]
        moved = await read_until(
            kafka.bootstrap,
            f"copart-{uid}-customer-commands",
            lambda seen: sum(1 for s in seen if s.key == customer) >= 2,
            timeout=30,
        )
        assert {s.raw.partition for s in moved if s.key == customer} == {owner}
        api = Api(http, hub.url)
        _, view = await eventually(
            lambda: api.request("GET", f"/v1/customers/{customer}"),
            lambda answer: answer[0] == 200 and campaign in answer[1]["suppressed_campaigns"],
        )
        assert [o["campaign_id"] for o in view["offers"]] == [campaign]
