"""Interaction events (facts from the channels) and campaign targets, as immutable models."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import Field

from streams.domain.model import (
    Channel,
    Direction,
    Fact,
    Int32,
    Millis,
    OfferResponseKind,
)

NonEmpty = Annotated[str, Field(min_length=1, max_length=200)]


class CustomerRef(Fact):
    """Who the interaction was with: any identities the channel knows."""

    customer_id: NonEmpty | None = None
    phone: str | None = None
    email: str | None = None
    account: str | None = None
    device: str | None = None
    social: str | None = None

    def identities(self) -> list[tuple[str, str]]:
        """(kind, value) pairs, most specific first."""
        pairs = [
            ("phone", self.phone),
            ("email", self.email),
            ("account", self.account),
            ("device", self.device),
            ("social", self.social),
        ]
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


class Delivery(Fact):
    """The status of an earlier outbound message, named by the vendor's message id."""

    message_id: NonEmpty
    status: NonEmpty
    error_code: str | None = None
    url: str | None = None


class Call(Fact):
    """Voice and CTI details: the numbers, where the call went and how it ended."""

    call_id: NonEmpty
    ani: str | None = None
    dnis: str | None = None
    status: NonEmpty
    answered: bool = False
    duration_seconds: Annotated[int, Field(ge=0, le=2**31 - 1)] | None = None
    queue: str | None = None
    agent_id: str | None = None
    transferred_to: str | None = None
    disconnect_reason: str | None = None
    previous_call_id: str | None = None


class IvrSession(Fact):
    """Self-service in the IVR. An entered account number is only ever kept masked."""

    session_id: NonEmpty
    menu_path: list[str] = Field(default_factory=list)
    account_masked: str | None = None
    intent: str | None = None
    left_for_agent: bool = False


class Visit(Fact):
    location: Annotated[str, Field(min_length=1, max_length=2_000)]
    title: str | None = None
    at: Millis | None = None


class ContactContext(Fact):
    """What the customer was doing when they asked for a chat or a call."""

    token: NonEmpty
    requested: Literal["chat", "call"]
    latitude: Annotated[float, Field(ge=-90, le=90)] | None = None
    longitude: Annotated[float, Field(ge=-180, le=180)] | None = None
    accuracy_m: Annotated[float, Field(ge=0)] | None = None
    visits: list[Visit] = Field(default_factory=list, max_length=100)


class Interaction(Fact):
    """One thing that happened between the business and a customer on one channel.

    The payload union is closed (a new branch would break FORWARD compatibility); newer
    kinds of detail arrive as optional records beside it: delivery, call, ivr, context."""

    event_id: NonEmpty
    occurred_at: Millis
    received_at: Millis | None = None
    channel: Channel
    direction: Direction
    customer: CustomerRef
    payload: Payload
    metadata: dict[str, str] = Field(default_factory=dict)
    context_token: NonEmpty | None = None
    delivery: Delivery | None = None
    call: Call | None = None
    ivr: IvrSession | None = None
    context: ContactContext | None = None


class CampaignTarget(Fact):
    """A campaign system asks for a customer to be on its outbound dial list."""

    campaign_id: NonEmpty
    customer_id: NonEmpty
    phone: str | None = None
    priority: Int32 = 0
    uploaded_at: Millis
    upload_id: NonEmpty
