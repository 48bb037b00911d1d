"""GET /healthz (ready once the tables are recovered and the worker is processing) and
GET /metrics (Prometheus)."""

from __future__ import annotations

from typing import Any

from faust.web import View
from prometheus_client import CONTENT_TYPE_LATEST

from streams import metrics
from streams.kafka import faust_internals
from streams.web.base import HubView


class Health(HubView):
    async def get(self, request: Any) -> Any:
        app = self.hub
        if faust_internals.is_recovered(app) and not app.rebalancing:
            return self.json({"status": "ok"})
        return self.json({"status": "recovering"}, status=503)


class Metrics(View):
    async def get(self, request: Any) -> Any:
        return self.bytes(metrics.exposition(), content_type=CONTENT_TYPE_LATEST.split(";")[0])
