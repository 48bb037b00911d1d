"""SendGrid webhooks: the signed Event Webhook and Inbound Parse (received e-mail)."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import BodyPartReader
from aiohttp import web as aioweb
from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePublicKey

from streams.adapters import sendgrid
from streams.config import ConfigError, Settings
from streams.web.base import ApiView, unconfigured_webhook
from streams.web.publishing import publish_events

log = logging.getLogger(__name__)

SOURCE = "/touchline/webhooks/email/sendgrid"
# Attachments are streamed past and only described (name, type, size); SendGrid refuses
# e-mails over 30 MB, so anything much larger is not SendGrid.
MAX_INBOUND_BYTES = 64 * 1024 * 1024
# Inbound Parse's text fields (the rest are attachment1..N, posted as files).
TEXT_FIELDS = frozenset(
    {"headers", "dkim", "content-ids", "to", "cc", "from", "text", "html", "sender_ip",
     "spam_report", "envelope", "attachments", "subject", "spam_score", "attachment-info",
     "charsets", "SPF", "email"}
)  # fmt: skip


def event_webhook_key(settings: Settings) -> EllipticCurvePublicKey | None:
    """The key SendGrid's Event Webhook signatures are checked with (None: not checked);
    read when the app is made, so that a wrong key stops the worker at start-up."""
    if not settings.sendgrid_public_key:
        return None
    try:
        return sendgrid.load_public_key(settings.sendgrid_public_key)
    except ValueError as exc:
        raise ConfigError(f"TOUCHLINE_SENDGRID_PUBLIC_KEY {exc}") from None


class SendGridEventWebhook(ApiView):
    async def post(self, request: Any) -> Any:
        body = await request.read()
        public_key = self.parts.sendgrid_key
        if public_key is None:
            refused = unconfigured_webhook(self, "TOUCHLINE_SENDGRID_PUBLIC_KEY")
            if refused is not None:
                return refused
        elif not sendgrid.verify_signature(
            public_key,
            request.headers.get(sendgrid.SIGNATURE_HEADER, ""),
            request.headers.get(sendgrid.TIMESTAMP_HEADER, ""),
            body,
            tolerance=self.hub.settings.webhook_tolerance,
        ):
            log.warning("rejected a SendGrid event webhook: missing, invalid or old signature")
            return self.json(
                {
                    "error": f"invalid or expired {sendgrid.SIGNATURE_HEADER}",
                    "code": "bad_signature",
                },
                status=403,
            )
        events = sendgrid.events(json.loads(body), now=datetime.now(UTC))
        if events:
            await publish_events(self.hub, events, SOURCE)
        return self.json({"accepted": [e.event_id for e in events]})


class SendGridInboundParse(ApiView):
    """Not signed by SendGrid: the URL carries our API key as Basic auth
    (https://sendgrid:<key>@host/v1/webhooks/email/sendgrid/inbound)."""

    async def post(self, request: Any) -> Any:
        if request.content_type == "multipart/form-data":
            fields = await _multipart_fields(request, self.hub.settings.max_body_bytes)
            form = sendgrid.decode_form(fields)
        elif request.content_type == "application/x-www-form-urlencoded":
            form = {str(k): str(v) for k, v in (await request.post()).items()}
        else:
            return self.json(
                {"error": "expected multipart/form-data, as SendGrid Inbound Parse posts"},
                status=415,
            )
        event = sendgrid.inbound_parse(form, now=datetime.now(UTC))
        await publish_events(self.hub, [event], SOURCE)
        return self.json({"accepted": [event.event_id]})


async def _multipart_fields(request: Any, max_body_bytes: int) -> dict[str, bytes]:
    """The form's fields as bytes (decoded later by the charsets SendGrid names); each file
    part becomes a JSON description of the attachment, its content is not kept."""
    fields: dict[str, bytes] = {}
    kept = total = 0
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        # Some clients give every bytes part a filename; SendGrid's own fields are text.
        attachment = part.filename is not None and part.name not in TEXT_FIELDS
        data, size = bytearray(), 0
        while chunk := await part.read_chunk():
            size += len(chunk)
            total += len(chunk)
            if total > MAX_INBOUND_BYTES:
                raise aioweb.HTTPRequestEntityTooLarge(
                    max_size=MAX_INBOUND_BYTES, actual_size=total
                )
            if not attachment:
                data.extend(chunk)
                kept += len(chunk)
                if kept > max_body_bytes:
                    raise aioweb.HTTPRequestEntityTooLarge(
                        max_size=max_body_bytes, actual_size=kept
                    )
        if attachment:
            description = {
                "filename": part.filename,
                "content_type": part.headers.get("Content-Type"),
                "size": size,
            }
            fields[part.name] = json.dumps(description, ensure_ascii=False).encode()
        else:
            fields[part.name] = bytes(part.decode(data))
    return fields
