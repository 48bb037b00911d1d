"""The immutable base model and the enums every event and state record shares."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from pydantic_core import PydanticCustomError


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


# The moments the hub takes in, both ends included. Not before the Unix epoch: Avro's
# timestamp-millis and the hub's day counts (contact history) start there, and nothing the
# hub hears about happened earlier. Not after 2100: the hub works out later moments from
# the ones it takes in (a cooldown of up to 36,600 days, a frequency cap's window, the end
# of a contact's day), and those must stay far from datetime's year 9999, which a moment
# of year 9999 overflowed. Every moment the hub works out from one in range, up to about
# 2200, fits Avro's 64-bit milliseconds and Python's datetime with room to spare.
EARLIEST_MOMENT = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_MOMENT = datetime(2100, 1, 1, tzinfo=UTC)
MOMENT_RANGE = "from 1970-01-01T00:00:00Z to 2100-01-01T00:00:00Z"


def in_range(moment: datetime) -> bool:
    """Whether the hub takes `moment` in: from `EARLIEST_MOMENT` to `LATEST_MOMENT`. (An
    aware comparison: no conversion, so it cannot overflow, at year 1 or 9999 either.)"""
    return EARLIEST_MOMENT <= moment <= LATEST_MOMENT


def within_range(moment: datetime) -> datetime:
    """`moment` if the hub takes it in (`in_range`), else a validation error that says the
    range. Checked before `to_millis`, whose conversion to UTC overflows for a moment of
    year 1 or 9999 with an offset."""
    if not in_range(moment):
        raise PydanticCustomError("moment_out_of_range", f"must be {MOMENT_RANGE}")
    return moment


# A moment taken in (an event's, a target upload's): timezone-aware, within the range
# above, truncated to the millisecond on validation.
Millis = Annotated[AwareDatetime, AfterValidator(within_range), AfterValidator(to_millis)]
# A moment the hub worked out or keeps (the end of a hold, when to ask the rules again, a
# fact read from stored state, a stored do-not-contact entry): truncated like `Millis` but
# not held to its range, since a cooldown may end after 2100 and what was stored before the
# range existed must still be read. Never for a field that input fills.
KeptMillis = Annotated[AwareDatetime, AfterValidator(to_millis)]
