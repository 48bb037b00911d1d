"""Twilio webhooks: inbound SMS, SMS status callbacks and Voice status callbacks.

All three check `X-Twilio-Signature` with TOUCHLINE_TWILIO_AUTH_TOKEN (403 when it does
not match) and publish through the adapter producer before answering. Without the token
they refuse every request, unless TOUCHLINE_INSECURE_WEBHOOKS=1. (Twilio signs no
timestamp, so there is no age to check.)
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from streams.adapters import twilio
from streams.domain.events import Interaction
from streams.web.base import ApiView, unconfigured_webhook
from streams.web.publishing import publish_events

log = logging.getLogger(__name__)

EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response/>'

Adapter = Callable[..., Interaction]


class TwilioWebhook(ApiView):
    adapter: Adapter
    source: str

    async def post(self, request: Any) -> Any:
        form = await request.post()
        params = [(str(k), str(v)) for k, v in form.items()]
        settings = self.hub.settings
        token = settings.twilio_auth_token
        if not token:
            refused = unconfigured_webhook(self, "TOUCHLINE_TWILIO_AUTH_TOKEN")
            if refused is not None:
                return refused
        else:
            url = (
                (settings.public_url + request.path_qs) if settings.public_url else str(request.url)
            )
            expected = twilio.signature(token, url, params)
            given = request.headers.get("X-Twilio-Signature", "")
            if not hmac.compare_digest(expected.encode(), given.encode()):
                log.warning("rejected a Twilio webhook with a missing or invalid signature")
                return self.json(
                    {"error": "invalid X-Twilio-Signature", "code": "bad_signature"}, status=403
                )
        # Parameters a dialler put on the callback URL (signed with it) count as fields.
        fields: Mapping[str, str] = {**dict(request.query), **dict(params)}
        event = type(self).adapter(fields, region=settings.default_region, now=datetime.now(UTC))
        await publish_events(self.hub, [event], self.source)
        return self.text(EMPTY_TWIML, content_type="text/xml")


class TwilioSmsWebhook(TwilioWebhook):
    adapter = staticmethod(twilio.inbound_sms)
    source = "/touchline/webhooks/sms/twilio"


class TwilioSmsStatusWebhook(TwilioWebhook):
    adapter = staticmethod(twilio.sms_status)
    source = "/touchline/webhooks/sms/twilio/status"


class TwilioVoiceStatusWebhook(TwilioWebhook):
    adapter = staticmethod(twilio.voice_status)
    source = "/touchline/webhooks/voice/twilio"
