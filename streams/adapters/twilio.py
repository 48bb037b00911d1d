"""Twilio: inbound SMS, SMS status callbacks and Voice status callbacks (form-encoded).

Twilio signs every webhook with HMAC-SHA1 over the URL and the sorted parameters
(`X-Twilio-Signature`); `signature` computes it. Twilio's SMS webhooks carry no event
time, so `occurred_at` is the arrival time there; Voice callbacks carry `Timestamp`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping
from datetime import datetime

from streams.adapters.common import VendorFields, adapter, build, phone_or_none
from streams.adapters.native import InputError
from streams.domain.events import (
    Call,
    ContactAttempt,
    CustomerRef,
    Delivery,
    Interaction,
    Message,
)
from streams.domain.model import Channel, Direction

SMS_STATUSES = frozenset(
    {"accepted", "scheduled", "queued", "sending", "sent", "delivered", "undelivered",
     "failed", "read", "canceled", "receiving", "received"}
)  # fmt: skip
CALL_STATUSES = frozenset(
    {"queued", "initiated", "ringing", "in-progress", "completed", "busy", "no-answer",
     "canceled", "failed"}
)  # fmt: skip
# The call is over: only these count as a contact attempt with an outcome.
FINAL_CALL_STATUSES = frozenset({"completed", "busy", "no-answer", "canceled", "failed"})


def signature(auth_token: str, url: str, params: list[tuple[str, str]]) -> str:
    """Twilio's algorithm: HMAC-SHA1 over the URL followed by each parameter name and
    value, sorted by name, base64-encoded."""
    payload = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(auth_token.encode(), payload.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


def _outbound_address(value: str | None) -> Channel:
    return Channel.MESSAGING if (value or "").startswith("whatsapp:") else Channel.SMS


@adapter
def inbound_sms(form: Mapping[str, str], *, region: str | None, now: datetime) -> Interaction:
    """A message the customer sent: `From` is the customer, `MessageSid` the event id."""
    fields = VendorFields(form)
    event_id = fields.required("MessageSid")
    sender = fields.phone("From", region, required=True)
    return build(
        Interaction,
        {
            "event_id": event_id,
            "occurred_at": now,
            "received_at": now,
            "channel": _outbound_address(form.get("From")),
            "direction": Direction.INBOUND,
            "customer": CustomerRef(phone=sender),
            "payload": Message(text=fields.text("Body") or ""),
            "metadata": fields.extras(),
        },
    )


@adapter
def sms_status(form: Mapping[str, str], *, region: str | None, now: datetime) -> Interaction:
    """A status callback of a message we sent: `To` is the customer. The event id is the
    message id and the status, so a repeated callback de-duplicates but each status is
    kept; `delivery.message_id` names the outbound message it belongs to."""
    fields = VendorFields(form)
    message_id = fields.required("MessageSid")
    status = (fields.text("MessageStatus") or fields.text("SmsStatus") or "").lower()
    fields.mark_used("SmsStatus", "MessageStatus")
    if not status:
        raise InputError("MessageStatus", "is required")
    if status not in SMS_STATUSES:
        raise InputError("MessageStatus", f"is not a Twilio message status ({status!r})")
    recipient = fields.phone("To", region, required=True)
    error_code = fields.text("ErrorCode")
    return build(
        Interaction,
        {
            "event_id": f"{message_id}:{status}",
            "occurred_at": now,
            "received_at": now,
            "channel": _outbound_address(form.get("To")),
            "direction": Direction.OUTBOUND,
            "customer": CustomerRef(phone=recipient),
            "payload": ContactAttempt(outcome=status),
            "delivery": Delivery(message_id=message_id, status=status, error_code=error_code),
            "metadata": fields.extras(),
        },
    )


@adapter
def voice_status(form: Mapping[str, str], *, region: str | None, now: datetime) -> Interaction:
    """A Voice status callback. The customer is the caller on an inbound call and the
    called party on an outbound one; ANI and DNIS are kept as they were. A campaign
    dialler passes its campaign as a `campaign_id` parameter on the callback URL."""
    fields = VendorFields(form)
    call_id = fields.required("CallSid")
    status = (fields.required("CallStatus")).lower()
    if status not in CALL_STATUSES:
        raise InputError("CallStatus", f"is not a Twilio call status ({status!r})")
    direction_text = (fields.text("Direction") or "inbound").lower()
    outbound = direction_text.startswith("outbound")
    ani_raw, dnis_raw = fields.required("From"), fields.required("To")
    ani, dnis = phone_or_none(ani_raw, region), phone_or_none(dnis_raw, region)
    customer_phone = dnis if outbound else ani
    context_token = fields.text("ContextToken")
    if customer_phone is None and context_token is None:
        # A browser or SIP caller (client:..., sip:...) is known by its context token only.
        raise InputError("To" if outbound else "From", "is not a phone number")
    duration = fields.integer("CallDuration")
    answered = status == "in-progress" or (status == "completed" and (duration or 0) > 0)
    occurred = fields.time("Timestamp") or now
    campaign_id = fields.text("campaign_id")
    outcome = ("answered" if answered else status) if status in FINAL_CALL_STATUSES else status
    return build(
        Interaction,
        {
            "event_id": f"{call_id}:{status}",
            "occurred_at": occurred,
            "received_at": now,
            "channel": Channel.VOICE,
            "direction": Direction.OUTBOUND if outbound else Direction.INBOUND,
            "customer": CustomerRef(phone=customer_phone),
            "payload": ContactAttempt(campaign_id=campaign_id, outcome=outcome),
            "call": Call(
                call_id=call_id,
                ani=ani or ani_raw,
                dnis=dnis or dnis_raw,
                status=status,
                answered=answered,
                duration_seconds=duration,
                previous_call_id=fields.text("ParentCallSid"),
            ),
            "context_token": context_token,
            "metadata": {
                **fields.extras(),
                **({"Direction": form["Direction"]} if "Direction" in form else {}),
            },
        },
    )
