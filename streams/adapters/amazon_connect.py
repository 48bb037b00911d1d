"""Amazon Connect contact trace records (CTR), as Connect streams them to Kinesis.

A forwarder (a Lambda on the Kinesis stream, for example) posts each CTR as JSON. One
CTR is one finished contact, so it is one event with the contact id as its event id.
The queue, agent, transfer and disconnect reason go to `call`; the contact attributes
`customer_id`, `campaign_id` and `context_token`, when a flow set them, are used as
such. Nested objects are kept whole in `metadata` (as JSON), so nothing is dropped.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from streams.adapters.common import VendorFields, adapter, build, phone_or_none, timestamp
from streams.adapters.native import InputError
from streams.domain.events import Call, ContactAttempt, CustomerRef, Interaction
from streams.domain.model import Channel, Direction

_CHANNELS = {"VOICE": Channel.VOICE, "CHAT": Channel.CHAT, "TASK": Channel.OTHER}
_OUTBOUND = {"OUTBOUND", "CALLBACK", "API"}


def _object(fields: VendorFields, name: str) -> Mapping[str, Any]:
    """A nested object, read but left in metadata as JSON."""
    value = fields.raw(name)
    fields.mark_unused(name)
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InputError(fields.path(name), "must be an object")
    return value


def _address(endpoint: Mapping[str, Any]) -> str | None:
    address = endpoint.get("Address")
    return address if isinstance(address, str) and address else None


@adapter
def contact_trace_record(
    raw: Any, *, region: str | None, now: datetime, prefix: str = ""
) -> Interaction:
    if not isinstance(raw, Mapping):
        raise InputError(prefix.rstrip("."), "must be a contact trace record (a JSON object)")
    fields = VendorFields(raw, prefix)
    contact_id = fields.required("ContactId")
    started = fields.time("InitiationTimestamp", required=True)
    assert started is not None
    channel_name = (fields.text("Channel") or "VOICE").upper()
    if channel_name not in _CHANNELS:
        raise InputError(fields.path("Channel"), "must be VOICE, CHAT or TASK")
    method = (fields.text("InitiationMethod") or "INBOUND").upper()
    outbound = method in _OUTBOUND
    fields.mark_unused("Channel", "InitiationMethod")  # kept as given: CALLBACK, TASK...
    customer_endpoint = _object(fields, "CustomerEndpoint")
    system_endpoint = _object(fields, "SystemEndpoint")
    queue = _object(fields, "Queue")
    agent = _object(fields, "Agent")
    transferred = _object(fields, "TransferredToEndpoint")
    attributes = _object(fields, "Attributes")
    customer_address = _address(customer_endpoint)
    customer_phone = phone_or_none(customer_address, region)
    customer_id = attributes.get("customer_id") or None
    context_token = attributes.get("context_token") or None
    if customer_phone is None and not customer_id and not context_token:
        raise InputError(
            fields.path("CustomerEndpoint.Address"),
            "must be a phone number (or set a customer_id or context_token contact attribute)",
        )
    ended_raw = fields.raw("DisconnectTimestamp")
    fields.mark_unused("DisconnectTimestamp")
    ended = timestamp(ended_raw, fields.path("DisconnectTimestamp")) if ended_raw else None
    duration = int((ended - started).total_seconds()) if ended and ended >= started else None
    answered = bool(agent.get("ConnectedToAgentTimestamp")) or (
        outbound and bool(fields.raw("ConnectedToSystemTimestamp"))
    )
    fields.mark_unused("ConnectedToSystemTimestamp")
    disconnect_reason = fields.text("DisconnectReason")
    outcome = "answered" if answered else (disconnect_reason or "not_answered").lower()
    system_address = _address(system_endpoint)
    ani, dnis = (
        (system_address, customer_address) if outbound else (customer_address, system_address)
    )
    return build(
        Interaction,
        {
            "event_id": contact_id,
            "occurred_at": started,
            "received_at": now,
            "channel": _CHANNELS[channel_name],
            "direction": Direction.OUTBOUND if outbound else Direction.INBOUND,
            "customer": CustomerRef(customer_id=customer_id, phone=customer_phone),
            "payload": ContactAttempt(campaign_id=attributes.get("campaign_id"), outcome=outcome),
            "call": Call(
                call_id=contact_id,
                ani=phone_or_none(ani, region) or ani,
                dnis=phone_or_none(dnis, region) or dnis,
                status="completed",
                answered=answered,
                duration_seconds=duration,
                queue=queue.get("Name"),
                agent_id=agent.get("Username") or agent.get("ARN"),
                transferred_to=_address(transferred),
                disconnect_reason=disconnect_reason,
                previous_call_id=fields.text("PreviousContactId"),
            ),
            "context_token": context_token,
            "metadata": fields.extras(),
        },
    )


def contact_trace_records(body: Any, *, region: str | None, now: datetime) -> list[Interaction]:
    if isinstance(body, list):
        if not body:
            raise InputError("", "the list of contact trace records is empty")
        return [
            contact_trace_record(r, region=region, now=now, prefix=f"[{i}].")
            for i, r in enumerate(body)
        ]
    return [contact_trace_record(body, region=region, now=now)]
