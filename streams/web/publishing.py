"""How the HTTP adapters publish: through the producer SDK, like any other producer.

One `TouchlineProducer` per worker (idempotent, retried with backoff, CloudEvents
headers) starts and stops with the app. A request is answered only after the broker has
acknowledged every event in it, so an error answer means the vendor should retry, and its
retry de-duplicates on the event id.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mode import Service

from streams.config import Settings
from streams.domain.events import Interaction
from streams.kafka.producer import TouchlineProducer
from streams.web.parts import parts_of
from streams.wire import outgoing

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp


class AdapterProducer:
    """The worker's SDK producer, shared by every adapter view: started by the first
    request that needs it (Faust may open the web server before it starts services)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.producer: TouchlineProducer | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> TouchlineProducer:
        if self.producer is None:
            async with self._lock:
                if self.producer is None:
                    producer = TouchlineProducer(settings=self.settings, source="/touchline/http")
                    await producer.start()
                    self.producer = producer
        return self.producer

    async def stop(self) -> None:
        producer, self.producer = self.producer, None
        if producer is not None:
            await producer.stop()


def stopping_service(adapter_producer: AdapterProducer) -> type[Service]:
    """A service for `app.service`: it stops the producer when the app stops."""

    class StopAdapterProducer(Service):
        async def on_stop(self) -> None:
            await adapter_producer.stop()

    return StopAdapterProducer


async def publish_events(app: TouchlineApp, events: Sequence[Interaction], source: str) -> None:
    """Publish validated events with `source` as their CloudEvents source."""
    producer = await parts_of(app).producer.get()
    await producer.publish([outgoing.interaction(producer.serializer, e, source) for e in events])


async def publish_records(app: TouchlineApp, batch: list[outgoing.Record]) -> None:
    await (await parts_of(app).producer.get()).publish(batch)


def accepted(events: Sequence[Interaction]) -> dict[str, Any]:
    return {"accepted": [e.event_id for e in events]}
