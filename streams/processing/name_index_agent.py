"""The name-index agent: keeps which customers each name token lists."""

from __future__ import annotations

import json
from typing import Any

from faust.types import EventT

from streams.domain.name_index import IndexUpdate, Summary, apply_update
from streams.processing.runtime import AgentBody, key_of


class NameIndexAgent(AgentBody):
    async def run(self, stream: Any) -> None:
        await self.processing.handle_each(stream, self._index)

    async def _index(self, event: EventT) -> None:
        token = key_of(event)
        update = json.loads(event.value)
        summary = update.get("summary")
        names, outbox = self.app.names, self.outbox
        current = outbox.get(names, token)
        entries = [Summary.from_json(e) for e in json.loads(current)] if current else []
        entries = apply_update(
            entries,
            IndexUpdate(
                token=token,
                customer_id=str(update["customer_id"]),
                summary=Summary.from_json(summary) if summary else None,
            ),
        )
        outbox.put(names, token, json.dumps([e.as_json() for e in entries]).encode())
