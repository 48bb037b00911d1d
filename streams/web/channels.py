"""JSON channel adapters behind our API keys: a generic SMS gateway, Amazon Connect
contact trace records, IVR sessions, and click-to-chat / click-to-call contexts."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from streams.adapters import amazon_connect, ivr, sms_gateway, web_context
from streams.domain.events import Interaction
from streams.web.base import ApiView, read_json
from streams.web.publishing import accepted, publish_events


async def _publish_read(
    view: ApiView, request: Any, read: Callable[..., list[Interaction]], source: str
) -> Any:
    """The events `read` makes of the request's JSON, published under `source`: 202."""
    body = await read_json(request)
    events = read(body, region=view.hub.settings.default_region, now=datetime.now(UTC))
    await publish_events(view.hub, events, source)
    return view.json(accepted(events), status=202)


class GenericSmsGateway(ApiView):
    async def post(self, request: Any) -> Any:
        return await _publish_read(
            self, request, sms_gateway.messages, "/touchline/webhooks/sms/generic"
        )


class AmazonConnectRecords(ApiView):
    """Connect has no webhook signature: the forwarder authenticates with an API key."""

    async def post(self, request: Any) -> Any:
        return await _publish_read(
            self,
            request,
            amazon_connect.contact_trace_records,
            "/touchline/webhooks/voice/amazon-connect",
        )


class IvrSessions(ApiView):
    async def post(self, request: Any) -> Any:
        settings = self.hub.settings
        body = await read_json(request)
        event = ivr.session(body, region=settings.default_region, now=datetime.now(UTC))
        await publish_events(self.hub, [event], "/touchline/ivr")
        return self.json(accepted([event]), status=202)


class Contexts(ApiView):
    """Click-to-chat and click-to-call: 201 with the token the next contact presents."""

    async def post(self, request: Any) -> Any:
        settings = self.hub.settings
        body = await read_json(request)
        event = web_context.context_request(
            body,
            region=settings.default_region,
            now=datetime.now(UTC),
            secret=settings.context_secret,
        )
        assert event.context is not None
        await publish_events(self.hub, [event], "/touchline/contexts")
        return self.json(
            {"context_token": event.context.token, "event_id": event.event_id}, status=201
        )
