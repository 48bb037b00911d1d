"""Settings and fixtures for the whole suite: one real local Kafka broker per session,
shared by the integration and end-to-end tests."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest
from hypothesis import settings

from streams.kafka.admin import ensure_topics
from streams.kafka.local import LocalKafka, LocalKafkaError
from tests.hub import free_ports

# No time limits in tests: these machines are noisy, and a property test must fail on a
# wrong answer, never on a slow one (phonenumbers loads its metadata on first use).
settings.register_profile("touchline", deadline=None)
settings.load_profile("touchline")


@pytest.fixture(scope="session")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalKafka]:
    port, controller_port = free_ports(2)
    broker = LocalKafka(
        tmp_path_factory.mktemp("kafka-data"), port=port, controller_port=controller_port
    )
    try:
        broker.start()
    except LocalKafkaError as exc:
        # Never skip: the integration suite is only meaningful on the real broker.
        pytest.fail(f"the local Kafka broker could not start: {exc}", pytrace=False)
    try:
        yield broker
    finally:
        broker.stop()


@pytest.fixture(scope="session")
async def topics_ready(kafka: LocalKafka) -> str:
    await ensure_topics(kafka.bootstrap, partitions=8)
    return kafka.bootstrap


@pytest.fixture
def uid() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture(scope="session")
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        yield session
