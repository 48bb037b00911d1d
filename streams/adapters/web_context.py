"""Click-to-chat and click-to-call from the website or the mobile app, with context.

The site's back end posts what the customer was doing when they pressed the button:

```json
{"requested": "call", "channel": "WEB", "customer": {"customer_id": "c-42"},
 "geolocation": {"latitude": 41.04, "longitude": 29.0, "accuracy_m": 30},
 "visits": [{"location": "/loans/personal", "title": "Personal loans",
             "at": "2026-11-23T10:14:02Z"}]}
```

The hub answers with a context token. The next call or chat presents it (a Twilio
parameter `ContextToken`, a Connect contact attribute `context_token`, or the
`context_token` field of any interaction) and is joined to this context and to its
customer, even when it comes from a number the hub has never seen.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from streams.adapters.common import VendorFields, adapter, build
from streams.adapters.native import InputError, normalise_customer
from streams.domain.events import ContactAttempt, ContactContext, Interaction, Visit
from streams.domain.model import Channel, Direction

TOKEN_PREFIX = "ctx_"
_GEO_FIELDS = ("latitude", "longitude", "accuracy_m")
_CHANNELS = {"WEB": Channel.WEB, "MOBILE_APP": Channel.MOBILE_APP}


def new_token(event_id: str | None = None, secret: bytes | None = None) -> str:
    """A token is as good as a login for joining a contact, so it must not be guessable:
    128 random bits, or, for a request that names its event id, 128 bits of
    HMAC-SHA256(secret, event id), so a retried request gets the same token."""
    if event_id is None or secret is None:
        return TOKEN_PREFIX + secrets.token_urlsafe(16)
    digest = hmac.new(secret, event_id.encode(), hashlib.sha256).digest()[:16]
    return TOKEN_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


@adapter
def context_request(
    raw: Any,
    *,
    region: str | None,
    now: datetime,
    token: str | None = None,
    secret: bytes | None = None,
) -> Interaction:
    if not isinstance(raw, Mapping):
        raise InputError("", "a context must be a JSON object")
    fields = VendorFields(raw)
    requested = (fields.required("requested")).lower()
    if requested not in ("chat", "call"):
        raise InputError("requested", "must be chat or call")
    channel_name = (fields.text("channel") or "WEB").upper()
    if channel_name not in _CHANNELS:
        raise InputError("channel", "must be WEB or MOBILE_APP")
    customer = normalise_customer(fields.raw("customer"), region)
    geo = fields.raw("geolocation") or {}
    if not isinstance(geo, Mapping):
        raise InputError("geolocation", "must be an object with latitude and longitude")
    unknown_geo = sorted(set(geo) - set(_GEO_FIELDS))
    if unknown_geo:
        raise InputError(f"geolocation.{unknown_geo[0]}", "is not a geolocation field")
    visits_raw = fields.raw("visits") or []
    if not isinstance(visits_raw, list):
        raise InputError("visits", "must be a list of pages or screens")
    visits = [_visit(v, f"visits[{i}]") for i, v in enumerate(visits_raw)]
    event_id = fields.text("event_id")
    try:
        context = build(
            ContactContext,
            {
                "token": token or new_token(event_id, secret),
                "requested": requested,
                "latitude": geo.get("latitude"),
                "longitude": geo.get("longitude"),
                "accuracy_m": geo.get("accuracy_m"),
                "visits": visits,
            },
        )
    except InputError as exc:
        where = f"geolocation.{exc.field}" if exc.field in _GEO_FIELDS else exc.field
        raise InputError(where, exc.message) from None
    return build(
        Interaction,
        {
            "event_id": event_id or context.token,
            "occurred_at": fields.time("occurred_at") or now,
            "received_at": now,
            "channel": _CHANNELS[channel_name],
            "direction": Direction.INBOUND,
            "customer": customer,
            "payload": ContactAttempt(outcome=f"{requested}_requested"),
            "context": context,
            "metadata": fields.extras(),
        },
    )


def _visit(raw: Any, field: str) -> Visit:
    if not isinstance(raw, Mapping):
        raise InputError(field, "must be an object with location, title and at")
    fields = VendorFields(raw, field + ".")
    unknown = sorted(set(raw) - {"location", "title", "at"})
    if unknown:
        raise InputError(f"{field}.{unknown[0]}", "is not a visit field (location, title, at)")
    return build(
        Visit,
        {
            "location": fields.required("location"),
            "title": fields.text("title"),
            "at": fields.time("at"),
        },
    )
