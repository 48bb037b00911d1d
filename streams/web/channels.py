"""JSON channel adapters behind our API keys: a generic SMS gateway, Amazon Connect
contact trace records, IVR sessions, and click-to-chat / click-to-call contexts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.adapters import amazon_connect, ivr, sms_gateway, web_context
from streams.app import app, settings
from streams.web.base import ApiView, read_json
from streams.web.publishing import accepted, publish_events


@app.page("/v1/webhooks/sms/generic")
class GenericSmsGateway(ApiView):
    async def post(self, request: Any) -> Any:
        body = await read_json(request)
        events = sms_gateway.messages(body, region=settings.default_region, now=datetime.now(UTC))
        await publish_events(events, "/touchline/webhooks/sms/generic")
        return self.json(accepted(events), status=202)


@app.page("/v1/webhooks/voice/amazon-connect")
class AmazonConnectRecords(ApiView):
    """Connect has no webhook signature: the forwarder authenticates with an API key."""

    async def post(self, request: Any) -> Any:
        body = await read_json(request)
        events = amazon_connect.contact_trace_records(
            body, region=settings.default_region, now=datetime.now(UTC)
        )
        await publish_events(events, "/touchline/webhooks/voice/amazon-connect")
        return self.json(accepted(events), status=202)


@app.page("/v1/ivr/sessions")
class IvrSessions(ApiView):
    async def post(self, request: Any) -> Any:
        body = await read_json(request)
        event = ivr.session(body, region=settings.default_region, now=datetime.now(UTC))
        await publish_events([event], "/touchline/ivr")
        return self.json(accepted([event]), status=202)


@app.page("/v1/contexts")
class Contexts(ApiView):
    """Click-to-chat and click-to-call: 201 with the token the next contact presents."""

    async def post(self, request: Any) -> Any:
        body = await read_json(request)
        event = web_context.context_request(
            body,
            region=settings.default_region,
            now=datetime.now(UTC),
            secret=settings.context_secret,
        )
        assert event.context is not None
        await publish_events([event], "/touchline/contexts")
        return self.json(
            {"context_token": event.context.token, "event_id": event.event_id}, status=201
        )
