"""Builders of domain facts shared by the unit and agent tests: one customer, one phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from streams.domain.events import (
    CampaignTarget,
    CustomerRef,
    Interaction,
    Message,
    OfferPresented,
)
from streams.domain.model import Channel, Direction

CUSTOMER = "c-42"
PHONE = "+905321234567"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def interaction(
    event_id: str,
    payload: Any,
    *,
    customer_id: str | None = CUSTOMER,
    phone: str | None = PHONE,
    email: str | None = None,
    account: str | None = None,
    at: datetime = T0,
    channel: Channel = Channel.SMS,
    direction: Direction = Direction.INBOUND,
) -> Interaction:
    return Interaction(
        event_id=event_id,
        occurred_at=at,
        channel=channel,
        direction=direction,
        customer=CustomerRef(customer_id=customer_id, phone=phone, email=email, account=account),
        payload=payload,
    )


def offer(
    event_id: str,
    campaign_id: str,
    *,
    at: datetime = T0,
    channel: Channel = Channel.SMS,
    offer_id: str | None = None,
) -> Interaction:
    """An outbound offer for a campaign."""
    return interaction(
        event_id,
        OfferPresented(campaign_id=campaign_id, offer_id=offer_id),
        at=at,
        channel=channel,
        direction=Direction.OUTBOUND,
    )


def sms(event_id: str, text: str, *, at: datetime = T0 + timedelta(minutes=5)) -> Interaction:
    """An inbound SMS from the customer's phone."""
    return interaction(event_id, Message(text=text), at=at)


def target(
    campaign_id: str,
    upload_id: str,
    *,
    priority: int = 0,
    at: datetime = T0,
    phone: str | None = PHONE,
) -> CampaignTarget:
    return CampaignTarget(
        campaign_id=campaign_id,
        customer_id=CUSTOMER,
        phone=phone,
        priority=priority,
        uploaded_at=at,
        upload_id=upload_id,
    )
