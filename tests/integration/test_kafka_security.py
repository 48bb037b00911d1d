"""SASL/SCRAM over TLS on a real broker: a local Kafka of its own with a SASL_SSL listener
(SCRAM-SHA-512, a CA made with keytool), reached by the SDK, a hub worker and `touchline
tail` with the TOUCHLINE_KAFKA_* settings; wrong credentials and a client without TLS
fail at once, saying why."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer

from streams.config import Settings
from streams.domain.events import Interaction
from streams.kafka.admin import ensure_topics
from streams.kafka.connection import KafkaAccessError, KafkaConnection, start_client
from streams.kafka.local import LocalKafka, LocalKafkaError, SaslSslListener
from streams.kafka.producer import PublishError, TouchlineProducer
from streams.wire import topics
from streams.wire.serialization import AvroSerializer
from tests.hub import Api, HubWorker, clean_env, eventually, free_ports, touchline

pytestmark = pytest.mark.kafka

USER = "touchline-hub"
PASSWORD = "scram-pa55word"
WRONG = "not-the-pa55word"
FAST = 15.0  # seconds: a refused client fails well within this, never after a retry loop


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    port, controller_port, secure_port = free_ports(3)
    broker = LocalKafka(
        tmp_path_factory.mktemp("secure-kafka"),
        port=port,
        controller_port=controller_port,
        heap="512m",
        sasl_ssl=SaslSslListener(secure_port, USER, PASSWORD),
    )
    try:
        broker.start()
    except LocalKafkaError as exc:
        pytest.fail(f"the SASL_SSL Kafka broker could not start: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


def security_env(kafka: LocalKafka, **overrides: str) -> dict[str, str]:
    return {
        "TOUCHLINE_BROKER": kafka.secure_bootstrap,
        "TOUCHLINE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TOUCHLINE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TOUCHLINE_KAFKA_SASL_USERNAME": USER,
        "TOUCHLINE_KAFKA_SASL_PASSWORD": PASSWORD,
        "TOUCHLINE_KAFKA_SSL_CAFILE": str(kafka.ca_file),
        "TOUCHLINE_DEFAULT_REGION": "TR",
        **overrides,
    }


def settings(kafka: LocalKafka, **overrides: str) -> Settings:
    return Settings.from_env(clean_env(**security_env(kafka, **overrides)))


@pytest.fixture(scope="module")
async def secure_topics(secure_kafka: LocalKafka) -> KafkaConnection:
    """The public topics, created over SASL_SSL."""
    connection = KafkaConnection.of(settings(secure_kafka))
    await ensure_topics(connection, partitions=4)
    return connection


def message(event_id: str, customer_id: str) -> dict:
    return {
        "event_id": event_id,
        "occurred_at": "2026-11-23T10:15:00Z",
        "channel": "CHAT",
        "direction": "INBOUND",
        "customer": {"customer_id": customer_id, "phone": "0532 765 43 21"},
        "payload": {"type": "Message", "text": "merhaba"},
    }


async def read_interaction(connection: KafkaConnection, event_id: str, timeout: float = 30.0):
    consumer = AIOKafkaConsumer(
        topics.INTERACTIONS,
        **connection.client_options(),
        group_id=None,
        auto_offset_reset="earliest",
    )
    serializer = AvroSerializer()
    try:
        await start_client(consumer, connection)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            for messages in batch.values():
                for record in messages:
                    event = serializer.decode_model(record.value)
                    if isinstance(event, Interaction) and event.event_id == event_id:
                        return record, event
        raise AssertionError(f"{event_id} not read in {timeout}s")
    finally:
        await consumer.stop()


# -- the right credentials ------------------------------------------------------------


async def test_the_sdk_publishes_and_a_consumer_reads_back_over_sasl_ssl(
    secure_kafka: LocalKafka, secure_topics: KafkaConnection, uid: str
) -> None:
    async with TouchlineProducer(settings=settings(secure_kafka)) as sdk:
        assert sdk.connection.security.protocol == "SASL_SSL"
        (event_id,) = await sdk.send_many([message(f"sec-{uid}", f"sec-c-{uid}")])
    record, event = await read_interaction(secure_topics, event_id)
    assert event.customer.phone == "+905327654321"
    assert dict(record.headers)["ce_source"] == b"/touchline/sdk"


async def test_a_worker_runs_over_sasl_ssl(
    secure_kafka: LocalKafka,
    secure_topics: KafkaConnection,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    uid: str,
) -> None:
    """Every client of the worker (Faust's, topic creation, the policy, DNC, dial-list
    and screen-pop readers, the HTTP API's producer) reaches the broker over SASL_SSL."""
    env = security_env(secure_kafka)
    env.pop("TOUCHLINE_BROKER")
    with HubWorker(secure_kafka.secure_bootstrap, f"sec-{uid}", tmp_path, env=env) as hub:
        api = Api(http, hub.url)
        customer = f"sec-worker-{uid}"
        status, body = await api.request(
            "POST", "/v1/interactions", json=[message(f"sec-w-{uid}", customer)]
        )
        assert status == 202, body
        status, profile = await eventually(
            lambda: api.request("GET", f"/v1/customers/{customer}"),
            lambda r: r[0] == 200,
            timeout=60,
        )
        assert profile["customer_id"] == customer
        # The dial-list reader reads its topic to the end over SASL_SSL too.
        await eventually(
            lambda: api.request("GET", f"/v1/campaigns/sec-{uid}/dial-list"),
            lambda r: r[0] == 200,
        )
    assert PASSWORD not in hub.log_path.read_text(errors="replace")


async def test_touchline_publish_and_tail_over_sasl_ssl(
    secure_kafka: LocalKafka, secure_topics: KafkaConnection, tmp_path: Path, uid: str
) -> None:
    env = security_env(secure_kafka)
    source = tmp_path / "one.jsonl"
    source.write_text(json.dumps(message(f"sec-tail-{uid}", f"sec-tail-c-{uid}")) + "\n")
    published = touchline("publish", str(source), env=env)
    assert published.returncode == 0, published.stderr
    result = touchline(
        "tail", topics.INTERACTIONS, "--from-beginning", "--idle-timeout", "5", env=env
    )
    assert result.returncode == 0, result.stderr
    printed = [json.loads(x) for x in result.stdout.splitlines()]
    mine = [p for p in printed if p["value"]["event_id"] == f"sec-tail-{uid}"]
    assert len(mine) == 1
    assert mine[0]["type"] == "touchline.Interaction"


# -- refused clients fail at once, saying why ---------------------------------------------


async def test_a_wrong_password_fails_the_sdk_fast(
    secure_kafka: LocalKafka, secure_topics: KafkaConnection
) -> None:
    producer = TouchlineProducer(
        settings=settings(secure_kafka, TOUCHLINE_KAFKA_SASL_PASSWORD=WRONG)
    )
    started = time.monotonic()
    with pytest.raises(PublishError) as failed:
        await producer.start()
    elapsed = time.monotonic() - started
    print(f"\nSDK with a wrong password failed in {elapsed:.2f}s: {failed.value}")
    assert elapsed < FAST
    assert "Kafka authentication failed" in str(failed.value)
    assert f"user {USER!r} with SCRAM-SHA-512" in str(failed.value)
    assert WRONG not in str(failed.value)
    assert isinstance(failed.value.__cause__, KafkaAccessError)


async def test_a_wrong_password_stops_the_worker_fast(
    secure_kafka: LocalKafka, secure_topics: KafkaConnection, tmp_path: Path, uid: str
) -> None:
    env = security_env(secure_kafka, TOUCHLINE_KAFKA_SASL_PASSWORD=WRONG)
    env.pop("TOUCHLINE_BROKER")
    hub = HubWorker(secure_kafka.secure_bootstrap, f"sec-bad-{uid}", tmp_path, env=env)
    started = time.monotonic()
    try:
        with pytest.raises(RuntimeError, match="worker exited early"):
            hub.start(timeout=120)
        elapsed = time.monotonic() - started
    finally:
        hub.stop()
    assert hub.process is not None
    log = hub.log_path.read_text(errors="replace")
    print(f"\nworker with a wrong password exited {hub.process.returncode} in {elapsed:.2f}s")
    assert hub.process.returncode == 1
    assert elapsed < 60  # a Python start and the app's construction, then one refusal
    assert "Kafka authentication failed" in log
    assert WRONG not in log


async def test_touchline_tail_with_a_wrong_password_fails_fast(
    secure_kafka: LocalKafka, secure_topics: KafkaConnection
) -> None:
    env = security_env(secure_kafka, TOUCHLINE_KAFKA_SASL_PASSWORD=WRONG)
    started = time.monotonic()
    result = touchline("tail", topics.INTERACTIONS, "--idle-timeout", "5", env=env)
    elapsed = time.monotonic() - started
    print(f"\n`touchline tail` with a wrong password exited in {elapsed:.2f}s")
    assert result.returncode != 0
    assert "Kafka authentication failed" in result.stderr
    assert WRONG not in result.stderr + result.stdout


@pytest.mark.parametrize(
    ("protocol", "extra"),
    [
        ("PLAINTEXT", {}),
        ("SASL_PLAINTEXT", {"TOUCHLINE_KAFKA_SASL_USERNAME": USER}),
    ],
)
async def test_a_client_without_tls_is_told_the_listener_expects_tls(
    secure_kafka: LocalKafka, secure_topics: KafkaConnection, protocol: str, extra: dict
) -> None:
    environment = {
        "TOUCHLINE_BROKER": secure_kafka.secure_bootstrap,
        "TOUCHLINE_KAFKA_SECURITY_PROTOCOL": protocol,
        **extra,
    }
    if protocol.startswith("SASL"):
        environment["TOUCHLINE_KAFKA_SASL_PASSWORD"] = PASSWORD
    producer = TouchlineProducer(settings=Settings.from_env(clean_env(**environment)))
    started = time.monotonic()
    with pytest.raises(PublishError) as failed:
        await producer.start()
    elapsed = time.monotonic() - started
    print(f"\n{protocol} client on the SASL_SSL listener failed in {elapsed:.2f}s")
    assert elapsed < FAST
    assert "expects TLS" in str(failed.value)
    assert f"TOUCHLINE_KAFKA_SECURITY_PROTOCOL is {protocol}" in str(failed.value)


async def test_a_client_that_does_not_trust_the_ca_is_told_so(
    secure_kafka: LocalKafka, secure_topics: KafkaConnection
) -> None:
    environment = security_env(secure_kafka)
    environment.pop("TOUCHLINE_KAFKA_SSL_CAFILE")  # the system's CAs do not know ours
    producer = TouchlineProducer(settings=Settings.from_env(clean_env(**environment)))
    with pytest.raises(PublishError, match=r"TLS handshake .* failed .*CERTIFICATE_VERIFY"):
        await producer.start()


async def test_tls_without_sasl_is_told_the_listener_requires_sasl(
    secure_kafka: LocalKafka, secure_topics: KafkaConnection
) -> None:
    environment = {
        "TOUCHLINE_BROKER": secure_kafka.secure_bootstrap,
        "TOUCHLINE_KAFKA_SECURITY_PROTOCOL": "SSL",
        "TOUCHLINE_KAFKA_SSL_CAFILE": str(secure_kafka.ca_file),
    }
    connection = KafkaConnection.of(Settings.from_env(clean_env(**environment)))
    refusal = await asyncio.wait_for(connection.refusal(), FAST)
    assert refusal is not None
    assert "require SASL authentication" in str(refusal)
