"""The contract every channel adapter keeps, as one abstract test class.

A subclass per adapter says how to submit what its vendor sends (through the real entry
point: HTTP or the CLI) and what the resulting interaction must look like. The tests read
the event back from `touchline.interactions.v1` on the real broker.
"""

from __future__ import annotations

import abc
import asyncio
import contextlib
import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar

from aiokafka import AIOKafkaConsumer

from streams.domain.events import Interaction
from streams.wire.serialization import AvroSerializer, SerializationError


@dataclass
class Sample:
    """One thing a vendor sends, and what the adapter must make of it."""

    body: dict[str, Any]
    event_id: str  # the vendor's message id as the event id must carry it
    identity: tuple[str, str]  # (field of CustomerRef, normalised value)
    extra: tuple[str, str]  # a vendor field the event has no field for: (name, value)
    vendor_time: datetime | None  # None when the vendor sends no time of its own
    checks: list[Callable[[Interaction], bool]] = field(default_factory=list)


@dataclass
class Submitted:
    accepted: bool
    status: int  # HTTP status; for the CLI, 202 when accepted and 422 when not
    error_field: str | None = None
    error: str = ""


class InteractionLog:
    """Everything on the interaction log, by event id, read in the background."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.events: dict[str, list[Interaction]] = {}
        self._task: asyncio.Task[None] | None = None
        self._serializer = AvroSerializer()

    async def start(self) -> None:
        consumer = AIOKafkaConsumer(
            "touchline.interactions.v1",
            bootstrap_servers=self.bootstrap,
            group_id=None,
            auto_offset_reset="earliest",
        )
        await consumer.start()
        self._task = asyncio.create_task(self._run(consumer))

    async def _run(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=200)
                for messages in batch.values():
                    for message in messages:
                        try:
                            event = self._serializer.decode_model(message.value)
                        except SerializationError:
                            continue  # other tests put garbage on the log on purpose
                        if isinstance(event, Interaction):
                            self.events.setdefault(event.event_id, []).append(event)
        finally:
            await consumer.stop()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def get(self, event_id: str, count: int = 1, timeout: float = 30.0) -> list[Interaction]:
        deadline = asyncio.get_running_loop().time() + timeout
        while len(self.events.get(event_id, [])) < count:
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"event {event_id} not on the interaction log")
            await asyncio.sleep(0.05)
        return self.events[event_id]


# How to break a valid body, and the field the error must then name.
Breaker = tuple[Callable[[dict[str, Any]], dict[str, Any]], str]


class AdapterContract(abc.ABC):
    """Subclass per adapter; pytest collects the subclasses (named Test...)."""

    bad_inputs: ClassVar[list[Breaker]] = []

    @abc.abstractmethod
    def sample(self, uid: str) -> Sample: ...

    @abc.abstractmethod
    async def submit(self, hub: Any, body: dict[str, Any]) -> Submitted: ...

    async def _published(self, hub: Any, log: InteractionLog, sample: Sample) -> Interaction:
        result = await self.submit(hub, sample.body)
        assert result.accepted, result
        assert 200 <= result.status < 300
        (event,) = (await log.get(sample.event_id))[:1]
        return event

    async def test_normalises_identities(
        self, hub: Any, interaction_log: InteractionLog, uid: str
    ) -> None:
        sample = self.sample(uid)
        event = await self._published(hub, interaction_log, sample)
        kind, value = sample.identity
        assert getattr(event.customer, kind) == value
        for check in sample.checks:
            assert check(event), event

    async def test_keeps_the_vendor_message_id_so_retries_deduplicate(
        self, hub: Any, interaction_log: InteractionLog, uid: str
    ) -> None:
        sample = self.sample(uid)
        for _ in range(2):  # the vendor retries the same delivery
            result = await self.submit(hub, copy.deepcopy(sample.body))
            assert result.accepted, result
        events = await interaction_log.get(sample.event_id, count=2)
        assert {e.event_id for e in events} == {sample.event_id}

    async def test_maps_vendor_time_and_arrival_time(
        self, hub: Any, interaction_log: InteractionLog, uid: str
    ) -> None:
        sample = self.sample(uid)
        event = await self._published(hub, interaction_log, sample)
        assert event.received_at is not None
        if sample.vendor_time is not None:
            assert event.occurred_at == sample.vendor_time
            assert event.received_at != event.occurred_at
        else:  # the vendor gives no time: the arrival time is the best there is
            assert event.occurred_at == event.received_at

    async def test_keeps_every_vendor_field(
        self, hub: Any, interaction_log: InteractionLog, uid: str
    ) -> None:
        sample = self.sample(uid)
        event = await self._published(hub, interaction_log, sample)
        name, value = sample.extra
        assert event.metadata.get(name) == value, event.metadata

    async def test_rejects_bad_input_naming_the_field(self, hub: Any, uid: str) -> None:
        assert self.bad_inputs, "an adapter must show how it rejects bad input"
        for breaking, expected_field in self.bad_inputs:
            body = breaking(copy.deepcopy(self.sample(uid).body))
            result = await self.submit(hub, body)
            assert not result.accepted, (expected_field, result)
            assert 400 <= result.status < 500
            assert result.error_field == expected_field, result
