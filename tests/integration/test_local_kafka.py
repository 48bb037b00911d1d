"""Tests for the Docker-free local Kafka broker."""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka.local import KAFKA_VERSION, LocalKafka, LocalKafkaError, ensure_jars
from tests.hub import free_ports


@pytest.fixture(scope="module")
def local_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    port, controller_port = free_ports(2)
    kafka = LocalKafka(
        tmp_path_factory.mktemp("touchline-data"), port=port, controller_port=controller_port
    )
    kafka.start()
    try:
        yield kafka
    finally:
        kafka.stop()


async def _produce(bootstrap: str, topic: str, value: bytes) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, value, key=b"k")
    finally:
        await producer.stop()


async def _consume_values(bootstrap: str, topic: str, expected: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(30):
            while len(values) < expected:
                record = await consumer.getone()
                assert record.value is not None
                values.append(record.value)
        return values
    finally:
        await consumer.stop()


async def _topics(bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return list(await admin.list_topics())
    finally:
        await admin.close()


@pytest.mark.kafka
async def test_start_reports_running_and_round_trips(local_kafka: LocalKafka) -> None:
    status = local_kafka.status()
    assert status["running"] is True
    assert isinstance(status["pid"], int)
    assert status["bootstrap"] == f"127.0.0.1:{local_kafka.port}"
    assert status["kafka_version"] == KAFKA_VERSION
    assert (local_kafka.data_dir / "kafka" / "kafka.pid").exists()

    topic = f"roundtrip-{uuid.uuid4().hex[:8]}"
    await _produce(local_kafka.bootstrap, topic, b"hello")
    assert await _consume_values(local_kafka.bootstrap, topic, 1) == [b"hello"]


@pytest.mark.kafka
def test_start_again_is_a_no_op(local_kafka: LocalKafka) -> None:
    pid = local_kafka.status()["pid"]
    began = time.monotonic()
    # A separate instance, as a second CLI invocation would create.
    LocalKafka(
        local_kafka.data_dir, port=local_kafka.port, controller_port=local_kafka.controller_port
    ).start()
    assert time.monotonic() - began < 15
    assert local_kafka.status()["pid"] == pid


@pytest.mark.kafka
async def test_data_survives_stop_and_restart(local_kafka: LocalKafka) -> None:
    topic = f"durable-{uuid.uuid4().hex[:8]}"
    await _produce(local_kafka.bootstrap, topic, b"kept")

    assert local_kafka.stop() is True
    assert local_kafka.status()["running"] is False
    assert local_kafka.stop() is False

    restarted = LocalKafka(
        local_kafka.data_dir, port=local_kafka.port, controller_port=local_kafka.controller_port
    )
    restarted.start()
    assert restarted.status()["running"] is True
    assert topic in await _topics(restarted.bootstrap)
    assert await _consume_values(restarted.bootstrap, topic, 1) == [b"kept"]


def test_start_refuses_a_port_used_by_something_else(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        kafka = LocalKafka(tmp_path, port=port, controller_port=free_ports(1)[0])
        with pytest.raises(LocalKafkaError, match=f"port {port}.*already in use"):
            kafka.start()
    assert kafka.status()["running"] is False


def test_ensure_jars_without_maven_names_the_alternatives(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    empty_bin = tmp_path / "bin"
    empty_bin.mkdir()
    monkeypatch.setenv("PATH", str(empty_bin))
    monkeypatch.setenv("TOUCHLINE_CACHE_DIR", str(tmp_path / "cache"))

    with pytest.raises(LocalKafkaError) as excinfo:
        ensure_jars()

    message = str(excinfo.value)
    assert "docker-compose.kafka.yml" in message
    assert "--broker" in message
    assert "TOUCHLINE_BROKER" in message
