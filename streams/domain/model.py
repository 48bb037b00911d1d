"""The immutable base model and the enums every event and state record shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field


class Fact(BaseModel):
    """Base of every event, decision and state record: immutable, strict about fields."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


# Avro "int" is 32 bits; a model must not hold what the wire cannot carry.
Int32 = Annotated[int, Field(ge=-(2**31), le=2**31 - 1)]


class Channel(StrEnum):
    SMS = "SMS"
    EMAIL = "EMAIL"
    VOICE = "VOICE"
    IVR = "IVR"
    CHAT = "CHAT"
    WEB = "WEB"
    MOBILE_APP = "MOBILE_APP"
    BRANCH = "BRANCH"
    ATM = "ATM"
    SOCIAL = "SOCIAL"
    MESSAGING = "MESSAGING"
    OTHER = "OTHER"


class Direction(StrEnum):
    INBOUND = "INBOUND"
    OUTBOUND = "OUTBOUND"


class OfferResponseKind(StrEnum):
    ACCEPTED = "ACCEPTED"
    DECLINED = "DECLINED"


class SuppressionReason(StrEnum):
    OFFER_ACCEPTED = "OFFER_ACCEPTED"
    OFFER_DECLINED = "OFFER_DECLINED"
    OPTED_OUT = "OPTED_OUT"
    COMPLAINT = "COMPLAINT"
    DO_NOT_CONTACT = "DO_NOT_CONTACT"
    OTHER = "OTHER"
    FREQUENCY_CAP = "FREQUENCY_CAP"
    QUIET_HOURS = "QUIET_HOURS"
    ALREADY_CONVERTED = "ALREADY_CONVERTED"


class SuppressionAction(StrEnum):
    """A suppression starts (SUPPRESSED) or ends (LIFTED): a lift is an event too."""

    SUPPRESSED = "SUPPRESSED"
    LIFTED = "LIFTED"


def campaign_key(campaign_id: str, customer_id: str) -> str:
    """The Kafka key of everything about one customer in one campaign (contract)."""
    return f"{campaign_id}:{customer_id}"


_NO_OFFSET = timedelta(0)


def to_millis(moment: datetime) -> datetime:
    """Truncate to the millisecond: Avro timestamp-millis keeps no more, and state
    rebuilt from the log must equal state folded live."""
    if moment.tzinfo is UTC and not moment.microsecond % 1000:
        return moment  # already exact: the common case, and it is on every event's path
    if not moment.microsecond % 1000 and moment.utcoffset() == _NO_OFFSET:
        return moment.replace(tzinfo=UTC)  # UTC by another tzinfo (pydantic's, from JSON)
    # Always the one UTC instance: datetime arithmetic (Avro encoding among it) is much
    # quicker between datetimes that share their tzinfo object.
    return moment.astimezone(UTC).replace(tzinfo=UTC, microsecond=moment.microsecond // 1000 * 1000)


# A moment a record keeps: timezone-aware, truncated to the millisecond on validation.
Millis = Annotated[AwareDatetime, AfterValidator(to_millis)]
