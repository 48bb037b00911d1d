"""POST /v1/webhooks/sms/twilio: Twilio's inbound-SMS webhook, signature-checked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from datetime import UTC, datetime
from typing import Any

from streams import records
from streams.app import app, serializer, settings
from streams.domain.events import CustomerRef, Interaction, Message
from streams.domain.identity import IdentityError, normalise_phone
from streams.domain.model import Channel, Direction
from streams.intake import InputError
from streams.web.base import ApiView
from streams.web.interactions import publish

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'
_KEPT_AS_FIELDS = {"From", "Body", "MessageSid"}


def twilio_signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's algorithm: HMAC-SHA1 over the URL followed by each parameter name and
    value, sorted by name, base64-encoded."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


@app.page("/v1/webhooks/sms/twilio")
class TwilioSmsWebhook(ApiView):
    requires_auth = False  # vendors authenticate by signature, not by our API keys

    async def post(self, request: Any) -> Any:
        form = await request.post()
        params = [(str(k), str(v)) for k, v in form.items()]
        token = settings.twilio_auth_token
        if token:
            url = (
                (settings.public_url + request.path_qs) if settings.public_url else str(request.url)
            )
            expected = twilio_signature(token, url, params)
            given = request.headers.get("X-Twilio-Signature", "")
            if not hmac.compare_digest(expected.encode(), given.encode()):
                log.warning("rejected a Twilio webhook with a missing or invalid signature")
                return self.json({"error": "invalid X-Twilio-Signature"}, status=403)
        fields = dict(params)
        for required in ("From", "MessageSid"):
            if not fields.get(required):
                raise InputError(required, "is required")
        try:
            phone = normalise_phone(fields["From"], settings.default_region, field="From")
        except IdentityError as exc:
            raise InputError(exc.field, exc.message) from None
        now = datetime.now(UTC)
        event = Interaction(
            event_id=fields["MessageSid"],
            occurred_at=now,
            received_at=now,
            channel=Channel.SMS,
            direction=Direction.INBOUND,
            customer=CustomerRef(phone=phone),
            payload=Message(text=fields.get("Body", "")),
            metadata={k: v for k, v in fields.items() if k not in _KEPT_AS_FIELDS},
        )
        await publish([records.interaction(serializer, event, "/touchline/webhooks/sms/twilio")])
        return self.text(EMPTY_TWIML, content_type="text/xml")
