"""POST /v1/interactions: validated events onto the interaction log."""

from __future__ import annotations

import asyncio
from typing import Any

from streams import records
from streams.app import app, serializer, settings
from streams.intake import InputError, parse_interaction
from streams.web.base import ApiView, read_json

MAX_BATCH = 10_000


async def publish(batch: list[records.Record]) -> None:
    """Send all, then wait for every acknowledgement: accepted means stored by the broker."""
    futures = [
        await app.producer.send(r.topic, r.key, r.value, None, None, r.headers) for r in batch
    ]
    await asyncio.gather(*futures)


@app.page("/v1/interactions")
class InteractionsView(ApiView):
    async def post(self, request: Any) -> Any:
        body = await read_json(request)
        items = body if isinstance(body, list) else [body]
        if not items:
            raise InputError("", "the list of interactions is empty")
        if len(items) > MAX_BATCH:
            raise InputError("", f"at most {MAX_BATCH} interactions per request")
        events = []
        for index, item in enumerate(items):
            try:
                events.append(parse_interaction(item, default_region=settings.default_region))
            except InputError as exc:
                if isinstance(body, list):
                    raise InputError(f"[{index}].{exc.field}".rstrip("."), exc.message) from None
                raise
        await publish([records.interaction(serializer, e, "/touchline/http") for e in events])
        return self.json({"accepted": [e.event_id for e in events]}, status=202)
