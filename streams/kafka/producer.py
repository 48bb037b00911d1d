"""The producer SDK: publish interactions and campaign targets to Touchline from Python.

`TouchlineProducer` is asyncio; `SyncTouchlineProducer` wraps it for blocking code. Both
validate against the contract (the same rules as the HTTP API), encode with the Avro
schemas, set CloudEvents headers, use Kafka's idempotent producer, and retry what the
broker did not acknowledge with exponential backoff. A send returns once the broker has
the record.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Awaitable, Coroutine, Iterable, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from aiokafka.partitioner import DefaultPartitioner

from streams.adapters.native import parse_interaction, parse_target
from streams.config import Settings
from streams.domain.events import CampaignTarget, Interaction
from streams.kafka.connection import KafkaAccessError, KafkaConnection, start_client
from streams.wire import outgoing
from streams.wire.serialization import AvroSerializer, SchemaRegistry

__all__ = ["PublishError", "SyncTouchlineProducer", "TouchlineProducer"]

T = TypeVar("T")


class PublishError(Exception):
    """The broker did not take a record after every retry."""


def serializer_for(settings: Settings) -> AvroSerializer:
    registry = (
        SchemaRegistry(settings.schema_registry_url) if settings.schema_registry_url else None
    )
    return AvroSerializer(registry=registry)


class TouchlineProducer:
    """Async producer of Touchline records.

    ```python
    async with TouchlineProducer() as touchline:          # TOUCHLINE_BROKER or local Kafka
        event_id = await touchline.send({...interaction JSON...})
    ```

    The broker's SASL and TLS settings are the settings' (TOUCHLINE_KAFKA_*), also with
    `bootstrap_servers` given. Credentials or TLS the broker refuses are a PublishError
    at `start`, at once.
    """

    def __init__(
        self,
        bootstrap_servers: str | None = None,
        *,
        source: str = "/touchline/sdk",
        retries: int = 5,
        backoff: float = 0.2,
        linger_ms: int = 5,
        settings: Settings | None = None,
    ) -> None:
        self.settings = settings or Settings.from_env()
        self.bootstrap_servers = bootstrap_servers or self.settings.bootstrap_servers
        self.connection = KafkaConnection(self.bootstrap_servers, self.settings.kafka_security)
        self.source = source
        self.retries = retries
        self.backoff = backoff
        self.linger_ms = linger_ms
        self.serializer = serializer_for(self.settings)
        self._producer: AIOKafkaProducer | None = None
        # Per topic: its partitions, and the partition of each key seen (murmur2 is slow).
        self._partitions: dict[str, tuple[list[int], dict[bytes, int]]] = {}

    async def start(self) -> None:
        # Idempotent: a retry after a lost acknowledgement is not written twice.
        self._producer = AIOKafkaProducer(
            **self.connection.client_options(),
            enable_idempotence=True,
            acks="all",
            linger_ms=self.linger_ms,
            max_batch_size=1_000_000,  # one record batch per partition per send_many
        )
        try:
            await start_client(self._producer, self.connection)
        except (KafkaError, KafkaAccessError) as exc:
            await self._producer.stop()
            self._producer = None
            raise PublishError(f"cannot reach Kafka at {self.bootstrap_servers}: {exc}") from exc

    async def stop(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def __aenter__(self) -> TouchlineProducer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # -- building records ------------------------------------------------------------
    def interaction(
        self, event: Interaction | Mapping[str, Any], now: datetime | None = None
    ) -> Interaction:
        """Validate and normalise; raises InputError naming the bad field."""
        if isinstance(event, Interaction):
            return event
        return parse_interaction(event, default_region=self.settings.default_region, now=now)

    def target(
        self, campaign_id: str, row: CampaignTarget | Mapping[str, Any], upload_id: str
    ) -> CampaignTarget:
        if isinstance(row, CampaignTarget):
            return row
        return parse_target(
            row, campaign_id, upload_id, default_region=self.settings.default_region
        )

    # -- sending ---------------------------------------------------------------------
    async def send(self, event: Interaction | Mapping[str, Any]) -> str:
        """Publish one interaction; returns its event_id once the broker has it."""
        (event_id,) = await self.send_many([event])
        return event_id

    async def send_many(self, events: Iterable[Interaction | Mapping[str, Any]]) -> list[str]:
        """Validate all first (nothing is sent if one is invalid), then publish all."""
        now = datetime.now(UTC)  # one arrival time for the batch
        valid = [self.interaction(e, now) for e in events]
        batch = [outgoing.interaction(self.serializer, e, self.source) for e in valid]
        await self.publish(batch)
        return [e.event_id for e in valid]

    async def send_targets(
        self, campaign_id: str, rows: Iterable[CampaignTarget | Mapping[str, Any]]
    ) -> str:
        """Publish a campaign's dial-list targets as one upload; returns the upload id."""
        upload_id = str(uuid.uuid4())
        targets = [self.target(campaign_id, row, upload_id) for row in rows]
        batch = [outgoing.campaign_target(self.serializer, t, self.source) for t in targets]
        await self.publish(batch)
        return upload_id

    async def publish(self, batch: list[outgoing.Record]) -> None:
        """Publish records already built (`streams.wire.outgoing`), retrying what the broker did
        not acknowledge."""
        pending = batch
        for attempt in range(self.retries + 1):
            failed = await self._send_once(pending)
            if not failed:
                return
            pending = failed
            if attempt < self.retries:
                await asyncio.sleep(self.backoff * 2**attempt)
        raise PublishError(
            f"{len(pending)} of {len(batch)} records not acknowledged after {self.retries} retries"
        )

    async def _send_once(self, batch: list[outgoing.Record]) -> list[outgoing.Record]:
        """One attempt at the whole batch; returns the records the broker did not take.

        Records are grouped by partition, chosen as every Kafka client chooses it (the
        murmur2 hash of the key, as aiokafka's and Java's default partitioners do), into
        record batches with one acknowledgement each: far fewer futures and callbacks
        per event than sending record by record."""
        producer = self._producer
        if producer is None:
            raise RuntimeError("start the producer first (or use `async with`)")
        groups: dict[tuple[str, int], list[outgoing.Record]] = {}
        for record in batch:
            try:
                partition = await self._partition_of(producer, record)
            except KafkaError:
                return batch
            groups.setdefault((record.topic, partition), []).append(record)
        sent: list[tuple[list[outgoing.Record], Awaitable[Any]]] = []
        failed: list[outgoing.Record] = []
        for (topic, partition), group in groups.items():
            at = 0
            while at < len(group):
                builder, start = producer.create_batch(), at
                while at < len(group) and builder.append(
                    timestamp=None,
                    key=group[at].key,
                    value=group[at].value,
                    headers=group[at].headers,
                ):
                    at += 1
                if at == start:
                    size = len(group[at].value or b"")
                    raise PublishError(f"a record of {size} bytes exceeds the batch size")
                try:
                    future = await producer.send_batch(builder, topic, partition=partition)
                    sent.append((group[start:at], future))
                except KafkaError:
                    failed.extend(group[start:at])
        for group, future in sent:
            try:
                await future
            except KafkaError:
                failed.extend(group)
        return failed

    async def _partition_of(self, producer: AIOKafkaProducer, record: outgoing.Record) -> int:
        known = self._partitions.get(record.topic)
        if known is None:
            known = self._partitions[record.topic] = (
                sorted(await producer.partitions_for(record.topic)),
                {},
            )
        partitions, by_key = known
        partition = by_key.get(record.key)
        if partition is None:
            if len(by_key) >= 100_000:
                by_key.clear()
            partition = by_key[record.key] = DefaultPartitioner()(
                record.key, partitions, partitions
            )
        return partition


class SyncTouchlineProducer:
    """Blocking wrapper: runs a TouchlineProducer on its own event loop thread.

    ```python
    with SyncTouchlineProducer() as touchline:
        touchline.send({...interaction JSON...})
    ```
    """

    def __init__(self, bootstrap_servers: str | None = None, **options: Any) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._async = self._call(self._make(bootstrap_servers, options))
        self._call(self._async.start())

    @staticmethod
    async def _make(bootstrap_servers: str | None, options: dict[str, Any]) -> TouchlineProducer:
        return TouchlineProducer(bootstrap_servers, **options)

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        return future.result()

    def send(self, event: Interaction | Mapping[str, Any]) -> str:
        return self._call(self._async.send(event))

    def send_many(self, events: Iterable[Interaction | Mapping[str, Any]]) -> list[str]:
        return self._call(self._async.send_many(list(events)))

    def send_targets(
        self, campaign_id: str, rows: Iterable[CampaignTarget | Mapping[str, Any]]
    ) -> str:
        return self._call(self._async.send_targets(campaign_id, list(rows)))

    def close(self) -> None:
        if self._thread.is_alive():
            self._call(self._async.stop())
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)
            self._loop.close()

    def __enter__(self) -> SyncTouchlineProducer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
