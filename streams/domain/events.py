"""Interaction events (facts from the channels) and campaign targets, as immutable models."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AwareDatetime, Field, field_validator

from streams.domain.model import Channel, Direction, Fact, Int32, OfferResponseKind, to_millis

NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class CustomerRef(Fact):
    """Who the interaction was with: any identities the channel knows."""

    customer_id: NonEmpty | None = None
    phone: str | None = None
    email: str | None = None
    account: str | None = None

    def identities(self) -> list[tuple[str, str]]:
        """(kind, value) pairs, most specific first."""
        pairs = [("phone", self.phone), ("email", self.email), ("account", self.account)]
        return [(kind, value) for kind, value in pairs if value]


class OfferPresented(Fact):
    type: Literal["OfferPresented"] = "OfferPresented"
    campaign_id: NonEmpty
    offer_id: str | None = None


class OfferResponse(Fact):
    type: Literal["OfferResponse"] = "OfferResponse"
    campaign_id: NonEmpty
    response: OfferResponseKind


class Message(Fact):
    type: Literal["Message"] = "Message"
    text: Annotated[str, Field(max_length=10_000)]


class Complaint(Fact):
    type: Literal["Complaint"] = "Complaint"
    category: NonEmpty
    severity: NonEmpty
    text: str | None = None


class ContactAttempt(Fact):
    type: Literal["ContactAttempt"] = "ContactAttempt"
    campaign_id: str | None = None
    outcome: NonEmpty


class Purchase(Fact):
    type: Literal["Purchase"] = "Purchase"
    amount: Annotated[Decimal, Field(max_digits=18, decimal_places=4)]
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    product: str | None = None


class ProfileUpdate(Fact):
    type: Literal["ProfileUpdate"] = "ProfileUpdate"
    fields: dict[str, str]


class OptOut(Fact):
    type: Literal["OptOut"] = "OptOut"
    channels: list[Channel] = Field(default_factory=list, description="empty = every channel")


Payload = Annotated[
    OfferPresented
    | OfferResponse
    | Message
    | Complaint
    | ContactAttempt
    | Purchase
    | ProfileUpdate
    | OptOut,
    Field(discriminator="type"),
]

PAYLOAD_TYPES: dict[str, type[Fact]] = {
    cls.__name__: cls
    for cls in (
        OfferPresented,
        OfferResponse,
        Message,
        Complaint,
        ContactAttempt,
        Purchase,
        ProfileUpdate,
        OptOut,
    )
}


class Interaction(Fact):
    """One thing that happened between the business and a customer on one channel."""

    event_id: NonEmpty
    occurred_at: AwareDatetime
    received_at: AwareDatetime | None = None
    channel: Channel
    direction: Direction
    customer: CustomerRef
    payload: Payload
    metadata: dict[str, str] = Field(default_factory=dict)

    @field_validator("occurred_at", "received_at")
    @classmethod
    def _millis(cls, value: datetime | None) -> datetime | None:
        return None if value is None else to_millis(value)


class CampaignTarget(Fact):
    """A campaign system asks for a customer to be on its outbound dial list."""

    campaign_id: NonEmpty
    customer_id: NonEmpty
    phone: str | None = None
    priority: Int32 = 0
    uploaded_at: AwareDatetime
    upload_id: NonEmpty

    @field_validator("uploaded_at")
    @classmethod
    def _millis(cls, value: datetime) -> datetime:
        return to_millis(value)
