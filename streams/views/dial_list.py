"""A read model of the compacted dial-list topic, kept by every worker so that any of them
answers for the whole list, whichever worker owns the customers."""

from __future__ import annotations

import logging

from streams.domain.decisions import DialListEntry
from streams.kafka.compacted_topic import CompactedTopicView, NotCaughtUp
from streams.kafka.connection import KafkaConnection
from streams.wire import topics
from streams.wire.serialization import AvroSerializer, SerializationError

log = logging.getLogger(__name__)

__all__ = ["DialListView", "NotCaughtUp"]


class DialListView(CompactedTopicView):
    def __init__(self, bootstrap: KafkaConnection | str, serializer: AvroSerializer) -> None:
        super().__init__(bootstrap, topics.DIAL_LIST)
        self.serializer = serializer
        self.lists: dict[str, dict[str, DialListEntry]] = {}
        self.undecodable = 0

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            return
        campaign_id, _, customer_id = key.decode("utf-8", "replace").partition(":")
        if value is None:
            self.lists.get(campaign_id, {}).pop(customer_id, None)
            return
        try:
            entry = self.serializer.decode_model(value)
        except SerializationError as exc:
            self.undecodable += 1
            log.warning("skipping undecodable dial-list record: %s", exc.reason)
            return
        if isinstance(entry, DialListEntry):
            self.lists.setdefault(entry.campaign_id, {})[entry.customer_id] = entry

    def entries(self, campaign_id: str) -> list[DialListEntry]:
        found = self.lists.get(campaign_id, {}).values()
        return sorted(found, key=lambda e: (-e.priority, e.customer_id))
