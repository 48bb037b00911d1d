"""Bad records on every topic the worker consumes become dead letters with their reason
(on the policies and DNC topics, read whole by every worker, they are also counted as
skipped); the worker goes on, and the good record right behind each one is applied
(Hypothesis picks the garbage, the topic and the customer; the broker is real)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from streams.domain.campaign_policy import CampaignPolicy, DoNotContactEntry
from streams.domain.decisions import Suppression
from streams.domain.events import Message
from streams.domain.links import anonymous_customer_id
from streams.domain.model import Channel, SuppressionReason
from streams.kafka.local import LocalKafka
from streams.wire import outgoing, topics
from streams.wire.serialization import AvroSerializer, DeadLetter
from tests.factories import T0, interaction, target
from tests.hub import Api, HubWorker, eventually, read_until

pytestmark = pytest.mark.kafka

APP_ID = f"bad-records-{uuid.uuid4().hex[:6]}"
LIMIT = 100_000  # the worker's TOUCHLINE_MAX_RECORD_BYTES here
serializer = AvroSerializer()

GOOD = outgoing.interaction(
    serializer, interaction("template", Message(text="hello"), customer_id="x"), "/t"
).value
assert GOOD is not None


def wrong_type() -> bytes:
    """Valid Avro of a record that belongs on no consumed topic."""
    suppression = Suppression(
        suppression_id="s",
        campaign_id="c",
        customer_id="x",
        reason=SuppressionReason.OPTED_OUT,
        source_event_id="e",
        source_channel=Channel.SMS,
        policy="p",
        occurred_at=T0,
        decided_at=T0,
    )
    return serializer.encode_model(suppression)


garbage = st.one_of(
    st.binary(max_size=300).map(lambda b: ("random bytes", b)),
    st.integers(min_value=1, max_value=len(GOOD) - 1).map(lambda n: ("truncated", GOOD[:n])),
    st.binary(min_size=8, max_size=8).map(
        lambda fp: ("unknown fingerprint", b"\xc3\x01" + fp + GOOD[10:])
    ),
    st.just(("wrong record type", wrong_type())),
    st.just(("over the size limit", GOOD + b"\x00" * LIMIT)),
)
consumed = st.sampled_from(
    [
        topics.INTERACTIONS,
        topics.CAMPAIGN_TARGETS,
        f"{APP_ID}-{topics.CUSTOMER_COMMANDS_SUFFIX}",
        f"{APP_ID}-{topics.IDENTITY_SUFFIX}",
        topics.POLICIES,
        topics.DNC,
    ]
)


@pytest.fixture(scope="module")
def worker(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    env = {"TOUCHLINE_MAX_RECORD_BYTES": str(LIMIT)}
    with HubWorker(kafka.bootstrap, APP_ID, tmp_path_factory.mktemp("bad"), env=env) as hub:
        yield hub


def good_record(topic: str, customer: str) -> tuple[bytes, bytes, str]:
    """A record for `topic` that the worker must apply: (key, value, the API path that
    shows it applied)."""
    phone = f"+90533{uuid.uuid4().int % 10_000_000:07d}"
    if topic == topics.CAMPAIGN_TARGETS:
        upload = target("camp", f"u-{customer}", phone=phone).model_copy(
            update={"customer_id": customer}
        )
        record = outgoing.campaign_target(serializer, upload, "/t")
    elif topic == topics.POLICIES:
        policy = CampaignPolicy(campaign_id=customer, version=1)
        record = outgoing.campaign_policy(serializer, policy, "/t")
        return record.key, record.value or b"", f"/v1/campaigns/{customer}/policy?version=1"
    elif topic == topics.DNC:
        entry = DoNotContactEntry(kind="phone", value=phone)
        record = outgoing.dnc_entry(serializer, entry, "/t")
        return record.key, record.value or b"", f"/v1/dnc/phone/{phone}"
    elif topic.endswith(topics.IDENTITY_SUFFIX):
        # The identity agent resolves an event that names only a phone.
        event = interaction(f"e-{customer}", Message(text="hi"), customer_id=None, phone=phone)
        identity = f"phone:{phone}"
        anonymous = anonymous_customer_id(identity)
        return identity.encode(), serializer.encode_model(event), f"/v1/customers/{anonymous}"
    else:
        event = interaction(f"e-{customer}", Message(text="hi"), customer_id=customer, phone=phone)
        return customer.encode(), serializer.encode_model(event), f"/v1/customers/{customer}"
    return record.key, record.value or b"", f"/v1/customers/{customer}"


async def produce(bootstrap: str, topic: str, *pairs: tuple[bytes, bytes]) -> list[Any]:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", max_request_size=4 * LIMIT)
    await producer.start()
    try:
        return [await producer.send_and_wait(topic, value, key=key) for key, value in pairs]
    finally:
        await producer.stop()


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(case=garbage, topic=consumed)
async def test_a_bad_record_is_a_dead_letter_and_the_next_one_is_applied(
    case: tuple[str, bytes],
    topic: str,
    worker: HubWorker,
    kafka: LocalKafka,
    http: aiohttp.ClientSession,
) -> None:
    kind, value = case
    customer = f"bad-{uuid.uuid4().hex[:10]}"
    key, good, path = good_record(topic, customer)
    api = Api(http, worker.url)
    skipped_before = await skipped(api, topic)
    bad_meta, _ = await produce(kafka.bootstrap, topic, (key, value), (key, good))
    if topic in (topics.POLICIES, topics.DNC):
        await eventually(lambda: skipped(api, topic), lambda n: n > skipped_before)
    await dead_lettered(kafka.bootstrap, topic, bad_meta, kind, value)
    status, _ = await eventually(
        lambda: api.request("GET", path),
        lambda answer: answer[0] == 200,
        timeout=60,
    )
    assert status == 200, f"{kind} on {topic}: the record behind it was not applied"


async def skipped(api: Api, topic: str) -> float:
    """The worker's count of bad records skipped on a book's topic (/metrics)."""
    _, text = await api.request("GET", "/metrics")
    counted = f'touchline_events_total{{agent="{topic}",outcome="skipped"}} '
    lines = [line for line in str(text).splitlines() if line.startswith(counted)]
    return float(lines[0].removeprefix(counted)) if lines else 0.0


async def dead_lettered(bootstrap: str, topic: str, bad_meta: Any, kind: str, value: bytes) -> None:
    letters = await read_until(
        bootstrap,
        topics.INTERACTIONS_DLQ,
        lambda seen: any(
            isinstance(s.value, DeadLetter)
            and (s.value.topic, s.value.partition, s.value.offset)
            == (topic, bad_meta.partition, bad_meta.offset)
            for s in seen
        ),
        timeout=60,
    )
    (letter,) = [
        s.value
        for s in letters
        if isinstance(s.value, DeadLetter)
        and (s.value.topic, s.value.offset, s.value.partition)
        == (topic, bad_meta.offset, bad_meta.partition)
    ]
    assert letter.error, kind
    assert letter.value == value[: len(letter.value or b"")], kind
    if kind == "over the size limit":
        assert "over the limit" in letter.error
