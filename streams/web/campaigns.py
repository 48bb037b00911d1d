"""Campaign endpoints: target uploads (JSON or CSV) and the dial-list export."""

from __future__ import annotations

import csv
import io
import json
import uuid
from typing import Any

from streams.adapters.native import InputError, parse_target
from streams.views.dial_list import NotCaughtUp
from streams.web.base import ApiView
from streams.web.interactions import MAX_BATCH
from streams.web.publishing import publish_records
from streams.wire import outgoing

CSV_COLUMNS = ("campaign_id", "customer_id", "phone", "priority", "added_at", "source_id")


def _rows(text: str, content_type: str) -> list[Any]:
    if "csv" in content_type:
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or "customer_id" not in reader.fieldnames:
            raise InputError("customer_id", "the CSV header must name customer_id and phone")
        return list(reader)
    body = json.loads(text)
    if not isinstance(body, list):
        raise InputError("", "send a JSON list of {customer_id, phone, priority?}")
    return body


class TargetsView(ApiView):
    async def post(self, request: Any, campaign_id: str) -> Any:
        app = self.hub
        rows = _rows(await request.text(), request.headers.get("Content-Type", ""))
        if not rows:
            raise InputError("", "no targets given")
        if len(rows) > MAX_BATCH:
            raise InputError("", f"at most {MAX_BATCH} targets per request")
        upload_id = str(uuid.uuid4())
        targets = []
        for index, row in enumerate(rows):
            try:
                targets.append(
                    parse_target(
                        row, campaign_id, upload_id, default_region=app.settings.default_region
                    )
                )
            except InputError as exc:
                raise InputError(f"[{index}].{exc.field}".rstrip("."), exc.message) from None
        await publish_records(
            app, [outgoing.campaign_target(app.serializer, t, "/touchline/http") for t in targets]
        )
        return self.json(
            {"campaign_id": campaign_id, "upload_id": upload_id, "accepted": len(targets)},
            status=202,
        )


class DialListExport(ApiView):
    async def get(self, request: Any, campaign_id: str) -> Any:
        dial_list_view = self.parts.dial_list
        try:
            await dial_list_view.catch_up()
        except NotCaughtUp as exc:
            return self.json({"error": str(exc)}, status=503)
        entries = dial_list_view.entries(campaign_id)
        if "text/csv" in request.headers.get("Accept", ""):
            out = io.StringIO()
            writer = csv.writer(out)
            writer.writerow(CSV_COLUMNS)
            for e in entries:
                writer.writerow(
                    [
                        e.campaign_id,
                        e.customer_id,
                        e.phone or "",
                        e.priority,
                        e.added_at.isoformat(),
                        e.source_id,
                    ]
                )
            return self.text(out.getvalue(), content_type="text/csv")
        return self.json(
            {
                "campaign_id": campaign_id,
                "entries": [e.model_dump(mode="json") for e in entries],
            }
        )
