"""Contact history: daily contact counts per channel, repeat contacts, and the timeline."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from pydantic import AwareDatetime, model_validator

from streams.domain.events import (
    Complaint,
    ContactAttempt,
    Interaction,
    Message,
    OfferPresented,
    OfferResponse,
    OptOut,
    ProfileUpdate,
    Purchase,
)
from streams.domain.model import Channel, Direction, Fact
from streams.domain.purchases import money

CONTACT_DAYS = 90  # daily counts are kept this long: enough for "the last 90 days"
MAX_TIMELINE = 50
MAX_SUMMARY_CHARS = 120
MAX_TOPIC_CHARS = 60
MAX_AGENT_ID_CHARS = 64
REPEAT_WITHIN_DAY = timedelta(hours=24)
REPEAT_WITHIN_WEEK = timedelta(days=7)
# The metadata keys adapters put a contact's subject and the handling agent under.
TOPIC_KEYS = ("topic", "reason")
AGENT_KEY = "agent_id"
COMPLAINT_ID_KEY = "complaint_id"
COMPLAINT_STATUS_KEY = "complaint_status"
RESOLVED = "RESOLVED"
OPEN = "OPEN"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class ContactDay(NamedTuple):
    """Contacts on one channel on one UTC day (days since 1970-01-01)."""

    day: int
    inbound: int = 0
    outbound: int = 0
    repeat_24h: int = 0  # inbound contacts that followed another within 24 hours
    repeat_7d: int = 0  # ... within 7 days (the 24-hour ones included)

    @property
    def contacts(self) -> int:
        return self.inbound + self.outbound

    def plus(self, other: ContactDay, sign: int = 1) -> ContactDay:
        return ContactDay(
            self.day,
            self.inbound + sign * other.inbound,
            self.outbound + sign * other.outbound,
            self.repeat_24h + sign * other.repeat_24h,
            self.repeat_7d + sign * other.repeat_7d,
        )


class ContactDays(Fact):
    """One channel's contacts per day, for the days with any in the latest CONTACT_DAYS,
    oldest first. Kept as columns: state is written on every event, and arrays of ints
    encode several times faster than a record per day."""

    days: tuple[int, ...] = ()
    inbound: tuple[int, ...] = ()
    outbound: tuple[int, ...] = ()
    repeat_24h: tuple[int, ...] = ()
    repeat_7d: tuple[int, ...] = ()

    @model_validator(mode="after")
    def _columns_align(self) -> ContactDays:
        if len({len(c) for c in self._columns()}) > 1:
            raise ValueError("contact day columns differ in length")
        if any(a >= b for a, b in itertools.pairwise(self.days)):
            raise ValueError("contact days must be in order, each once")
        return self

    def _columns(self) -> tuple[tuple[int, ...], ...]:
        return (self.days, self.inbound, self.outbound, self.repeat_24h, self.repeat_7d)

    def rows(self) -> list[ContactDay]:
        return [ContactDay(*row) for row in zip(*self._columns(), strict=True)]

    @classmethod
    def of(cls, rows: Iterable[ContactDay]) -> ContactDays:
        """Sorted by day, without the days older than CONTACT_DAYS before the newest, so
        the result depends on which days were counted, not in which order."""
        ordered = sorted(rows)
        if ordered:
            oldest_kept = ordered[-1].day - CONTACT_DAYS + 1
            ordered = [r for r in ordered if r.day >= oldest_kept]
        return cls._trusted(ordered)

    @classmethod
    def _trusted(cls, rows: list[ContactDay]) -> ContactDays:
        columns = tuple(zip(*rows, strict=True)) if rows else ((),) * 5
        # Built from rows this module made: skip validation, it is on every event's path.
        return cls.model_construct(
            days=columns[0],
            inbound=columns[1],
            outbound=columns[2],
            repeat_24h=columns[3],
            repeat_7d=columns[4],
        )


class TimelineEntry(Fact):
    """One contact as the agent's timeline shows it: what, where, never what was said."""

    event_id: str
    occurred_at: AwareDatetime
    channel: Channel
    direction: Direction
    payload_type: str
    campaign_id: str | None = None
    summary: str
    topic: str | None = None
    agent_id: str | None = None

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.occurred_at, self.event_id)


def epoch_day(moment: datetime) -> int:
    return (moment - _EPOCH).days


# -- daily counts ------------------------------------------------------------------------


def count_day(
    days: ContactDays,
    day: int,
    *,
    inbound: bool,
    repeat_24h: bool = False,
    repeat_7d: bool = False,
) -> ContactDays:
    """One more contact on `day`. A day older than CONTACT_DAYS before the newest is
    not counted (the channel's totals in `contacts` still are)."""
    add = ContactDay(day, int(inbound), int(not inbound), int(repeat_24h), int(repeat_7d))
    if days.days and days.days[-1] == day:  # the common case: another contact today
        return ContactDays.model_construct(
            days=days.days,
            inbound=(*days.inbound[:-1], days.inbound[-1] + add.inbound),
            outbound=(*days.outbound[:-1], days.outbound[-1] + add.outbound),
            repeat_24h=(*days.repeat_24h[:-1], days.repeat_24h[-1] + add.repeat_24h),
            repeat_7d=(*days.repeat_7d[:-1], days.repeat_7d[-1] + add.repeat_7d),
        )
    if days.days and day <= days.days[-1] - CONTACT_DAYS:
        return days
    rows = days.rows()
    at = bisect.bisect_left(days.days, day)
    if at < len(rows) and rows[at].day == day:
        rows[at] = rows[at].plus(add)
    else:
        rows.insert(at, add)
    return ContactDays.of(rows)


def _window(days: ContactDays, now: datetime, span: int) -> slice:
    """Where the last `span` days up to and including `now`'s day are in the columns
    (the days are in order)."""
    today = epoch_day(now)
    return slice(
        bisect.bisect_right(days.days, today - span), bisect.bisect_right(days.days, today)
    )


def in_window(days: ContactDays, now: datetime, span: int) -> list[ContactDay]:
    """The days among the last `span` days up to and including `now`'s day."""
    window = _window(days, now, span)
    return [ContactDay(*row) for row in zip(*(c[window] for c in days._columns()), strict=True)]


def contacts_in(days: ContactDays, now: datetime, span: int) -> int:
    # Read the columns directly: the view asks this for every channel and window.
    window = _window(days, now, span)
    return sum(days.inbound[window]) + sum(days.outbound[window])


@dataclass(frozen=True)
class PreferredChannel:
    channel: Channel | None
    rule: str  # "profile", "most_inbound_90d" or "none"


def preferred_channel(
    stated: Channel | None,
    contact_days: Mapping[str, ContactDays],
    last_contact: Mapping[str, datetime | None],
    now: datetime,
) -> PreferredChannel:
    """The customer's own preference; else the channel they used most to reach us in the
    last 90 days (ties: the one used last, then the name)."""
    if stated is not None:
        return PreferredChannel(stated, "profile")
    inbound = {
        name: sum(days.inbound[_window(days, now, CONTACT_DAYS)])
        for name, days in contact_days.items()
    }
    candidates = [(count, name) for name, count in inbound.items() if count > 0]
    if not candidates:
        return PreferredChannel(None, "none")

    def rank(candidate: tuple[int, str]) -> tuple[int, float, str]:
        count, name = candidate
        last = last_contact.get(name)
        return (-count, -last.timestamp() if last else float("inf"), name)

    best = min(candidates, key=rank)[1]
    return PreferredChannel(Channel(best), "most_inbound_90d")


# -- repeat contacts ----------------------------------------------------------------------


def previous_inbound(timeline: tuple[TimelineEntry, ...], entry: TimelineEntry) -> datetime | None:
    """When the customer last reached us (any channel) before this contact, as far as the
    timeline reaches back. A contact delivered late does not make later ones repeats."""
    for earlier in reversed(timeline):
        if earlier.order < entry.order and earlier.direction is Direction.INBOUND:
            return earlier.occurred_at
    return None


# -- timeline -----------------------------------------------------------------------------


def insert_entry(
    timeline: tuple[TimelineEntry, ...], entry: TimelineEntry
) -> tuple[TimelineEntry, ...]:
    """The timeline in time order with `entry` in its place, the latest MAX_TIMELINE kept."""
    if not timeline or timeline[-1].order <= entry.order:
        merged = (*timeline, entry)  # the common case: the newest contact so far
    elif len(timeline) >= MAX_TIMELINE and entry.order < timeline[0].order:
        return timeline
    else:
        at = bisect.bisect_left([e.order for e in timeline], entry.order)
        merged = (*timeline[:at], entry, *timeline[at:])
    return merged[-MAX_TIMELINE:]


def timeline_entry(event: Interaction) -> TimelineEntry:
    payload = event.payload
    campaign_id = getattr(payload, "campaign_id", None)
    agent_id = (event.call.agent_id if event.call else None) or event.metadata.get(AGENT_KEY)
    return TimelineEntry(
        event_id=event.event_id,
        occurred_at=event.occurred_at,
        channel=event.channel,
        direction=event.direction,
        payload_type=payload.type,
        campaign_id=campaign_id,
        summary=summarise(event)[:MAX_SUMMARY_CHARS],
        topic=topic_of(event),
        agent_id=agent_id[:MAX_AGENT_ID_CHARS] if agent_id else None,
    )


def topic_of(event: Interaction) -> str | None:
    """What the contact was about: the complaint's category, the IVR intent, or the
    subject the channel system named."""
    topic: str | None = None
    if isinstance(event.payload, Complaint):
        topic = event.payload.category
    elif event.ivr is not None and event.ivr.intent:
        topic = event.ivr.intent
    else:
        topic = next((event.metadata[k] for k in TOPIC_KEYS if event.metadata.get(k)), None)
    topic = (topic or "").strip()
    return topic[:MAX_TOPIC_CHARS] or None


def complaint_status(event: Interaction) -> str:
    raw = event.metadata.get(COMPLAINT_STATUS_KEY, "").strip().upper()
    return RESOLVED if raw == RESOLVED else OPEN


def summarise(event: Interaction) -> str:
    """A line about the contact that holds no personal data: no message text, no phone
    number or address, only kinds, codes and amounts."""
    payload = event.payload
    where = f"{event.direction.value.lower()} {event.channel.value}"
    match payload:
        case OfferPresented():
            text = f"Offer {payload.campaign_id} ({where})"
        case OfferResponse():
            text = f"Offer {payload.response.value.lower()}: {payload.campaign_id} ({where})"
        case Message():
            text = f"Message ({where})"
        case Complaint():
            text = f"Complaint: {payload.category}/{payload.severity}"
            if complaint_status(event) == RESOLVED:
                text += " (resolved)"
        case ContactAttempt():
            text = f"Contact attempt: {payload.outcome} ({where})"
        case Purchase():
            text = f"Purchase {money(payload.amount)} {payload.currency}"
        case ProfileUpdate():
            names = sorted(payload.fields)
            more = f" and {len(names) - 3} more" if len(names) > 3 else ""
            text = f"Profile update: {', '.join(names[:3]) or 'nothing'}{more}"
        case OptOut():
            channels = ", ".join(c.value for c in payload.channels) or "all channels"
            text = f"Opt-out: {channels}"
        case _:  # a payload type added later: its name, until it has a summary of its own
            text = f"{payload.type} ({where})"
    if event.ivr is not None and event.ivr.intent:
        text += f"; IVR intent {event.ivr.intent}"
    if event.call is not None:
        text += f"; call {event.call.status}"
        if event.call.duration_seconds is not None:
            text += f", {event.call.duration_seconds}s"
    return text


def repeats_in(contact_days: Iterable[ContactDays], now: datetime) -> tuple[int, int]:
    """Repeat contacts (24 hours, 7 days) in the last 90 days, on every channel given."""
    within = [(days, _window(days, now, CONTACT_DAYS)) for days in contact_days]
    return (
        sum(sum(days.repeat_24h[window]) for days, window in within),
        sum(sum(days.repeat_7d[window]) for days, window in within),
    )
