"""POST /v1/interactions: validated events onto the interaction log."""

from __future__ import annotations

from typing import Any

from streams.adapters.native import InputError, parse_interaction
from streams.web.base import ApiView, read_json
from streams.web.publishing import accepted, publish_events

MAX_BATCH = 10_000


class InteractionsView(ApiView):
    async def post(self, request: Any) -> Any:
        settings = self.hub.settings
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
        await publish_events(self.hub, events, "/touchline/http")
        return self.json(accepted(events), status=202)
