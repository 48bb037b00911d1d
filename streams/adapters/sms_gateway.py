"""A generic JSON format for SMS gateways that are not Twilio.

One message or delivery report per object (a list is taken too):

```json
{"message_id": "gw-1001", "direction": "inbound", "from": "+905321234567",
 "to": "+908501234567", "text": "EVET", "timestamp": "2026-11-23T10:15:00Z"}
{"message_id": "gw-1002", "direction": "outbound", "to": "+905321234567",
 "text": "Your loan offer...", "campaign_id": "spring-loan", "offer_id": "o-1"}
{"message_id": "gw-1002", "status": "delivered", "to": "+905321234567",
 "timestamp": 1795428960, "error_code": null}
```

- `direction` inbound: the customer is `from`; the text is a `Message`.
- `direction` outbound: the customer is `to`; with a `campaign_id` it is an
  `OfferPresented` (so a reply can answer it), else a `Message`.
- With `status`: a delivery report of the outbound `message_id`; the event id is
  `{message_id}:{status}`.
- `customer_id` may be given as well; every other field goes to `metadata`.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from streams.adapters.common import VendorFields, adapter, build
from streams.adapters.native import InputError
from streams.domain.events import (
    ContactAttempt,
    CustomerRef,
    Delivery,
    Interaction,
    Message,
    OfferPresented,
)
from streams.domain.model import Channel, Direction

STATUSES = frozenset(
    {"accepted", "queued", "sent", "delivered", "undelivered", "failed", "expired", "rejected"}
)


@adapter
def message(raw: Any, *, region: str | None, now: datetime, prefix: str = "") -> Interaction:
    if not isinstance(raw, Mapping):
        raise InputError(prefix.rstrip("."), "must be a JSON object")
    fields = VendorFields(raw, prefix)
    message_id = fields.required("message_id")
    occurred = fields.time("timestamp") or now
    customer_id = fields.text("customer_id")
    status = fields.text("status")
    if status is not None:
        status = status.lower()
        if status not in STATUSES:
            raise InputError(fields.path("status"), f"must be one of {', '.join(sorted(STATUSES))}")
        recipient = fields.phone("to", region, required=True)
        return build(
            Interaction,
            {
                "event_id": f"{message_id}:{status}",
                "occurred_at": occurred,
                "received_at": now,
                "channel": Channel.SMS,
                "direction": Direction.OUTBOUND,
                "customer": CustomerRef(customer_id=customer_id, phone=recipient),
                "payload": ContactAttempt(outcome=status),
                "delivery": Delivery(
                    message_id=message_id, status=status, error_code=fields.text("error_code")
                ),
                "metadata": fields.extras(),
            },
        )
    direction = (fields.required("direction")).lower()
    if direction not in ("inbound", "outbound"):
        raise InputError(fields.path("direction"), "must be inbound or outbound")
    inbound = direction == "inbound"
    customer_phone = fields.phone("from" if inbound else "to", region, required=True)
    text = fields.text("text") or ""
    campaign_id = fields.text("campaign_id")
    payload: Any
    if not inbound and campaign_id:
        payload = OfferPresented(campaign_id=campaign_id, offer_id=fields.text("offer_id"))
    else:
        payload = build(Message, {"text": text})
        fields.mark_unused("campaign_id", "offer_id")  # not used here: kept in metadata
    extras = fields.extras()
    if isinstance(payload, OfferPresented) and text:
        extras["text"] = text
    return build(
        Interaction,
        {
            "event_id": message_id,
            "occurred_at": occurred,
            "received_at": now,
            "channel": Channel.SMS,
            "direction": Direction.INBOUND if inbound else Direction.OUTBOUND,
            "customer": CustomerRef(customer_id=customer_id, phone=customer_phone),
            "payload": payload,
            "metadata": extras,
        },
    )


def messages(body: Any, *, region: str | None, now: datetime) -> list[Interaction]:
    if isinstance(body, list):
        if not body:
            raise InputError("", "the list of messages is empty")
        return [message(m, region=region, now=now, prefix=f"[{i}].") for i, m in enumerate(body)]
    return [message(body, region=region, now=now)]
