"""How the HTTP adapters publish: through the producer SDK, like any other producer.

One `TouchlineProducer` per worker (idempotent, retried with backoff, CloudEvents
headers) starts and stops with the app. A request is answered only after the broker has
acknowledged every event in it, so an error answer means the vendor should retry, and its
retry de-duplicates on the event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from mode import Service

from streams import records
from streams.app import app, settings
from streams.client import TouchlineProducer
from streams.domain.events import Interaction


class AdapterProducer:
    """The worker's SDK producer, shared by every adapter view: started by the first
    request that needs it (Faust may open the web server before it starts services)."""

    def __init__(self) -> None:
        self.producer: TouchlineProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> TouchlineProducer:
        if self.producer is None:
            async with self._lock:
                if self.producer is None:
                    producer = TouchlineProducer(settings=settings, source="/touchline/http")
                    await producer.start()
                    self.producer = producer
        return self.producer

    async def stop(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()


adapter_producer = AdapterProducer()


@app.service
class _StopAdapterProducer(Service):
    async def on_stop(self) -> None:
        await adapter_producer.stop()


async def publish_events(events: Sequence[Interaction], source: str) -> None:
    """Publish validated events with `source` as their CloudEvents source."""
    producer = await adapter_producer.get()
    await producer.publish([records.interaction(producer.serializer, e, source) for e in events])


async def publish_records(batch: list[records.Record]) -> None:
    await (await adapter_producer.get()).publish(batch)


def accepted(events: Sequence[Interaction]) -> dict[str, Any]:
    return {"accepted": [e.event_id for e in events]}
