"""Personal details, consents and overdue balance from ProfileUpdate fields: the latest wins."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, Field

from streams.domain.model import Channel, Fact

# Bounds: profile updates come from many systems, and each may send fields of its own.
MAX_EXTRA_FIELDS = 20
MAX_FIELD_NAME_CHARS = 64
MAX_VALUE_CHARS = 200
MAX_CONSENT_PURPOSES = 8

CONSENT_PREFIX = "consent."
MARKETING = "marketing"
GRANTED, WITHDRAWN = "granted", "withdrawn"

# The names systems use for the same detail. Keys are case-folded before lookup.
ALIASES: Mapping[str, str] = {
    "full_name": "name",
    "given_name": "first_name",
    "firstname": "first_name",
    "family_name": "last_name",
    "surname": "last_name",
    "lastname": "last_name",
    "date_of_birth": "birth_date",
    "dob": "birth_date",
    "birthdate": "birth_date",
    "lang": "language",
    "locale": "language",
    "tz": "timezone",
    "time_zone": "timezone",
    "salutation": "form_of_address",
}

_CHANNEL_ALIASES: Mapping[str, Channel] = {
    "PHONE": Channel.VOICE,
    "CALL": Channel.VOICE,
    "E-MAIL": Channel.EMAIL,
    "MAIL": Channel.EMAIL,
    "APP": Channel.MOBILE_APP,
    "WHATSAPP": Channel.MESSAGING,
}
_CURRENCY = re.compile(r"^[A-Z]{3}$")
_PURPOSE = re.compile(r"^[a-z0-9_-]{1,32}$")


class ProfileValue(Fact):
    """One field's latest value; an empty value is a clearing, kept so that an older
    update delivered late cannot bring the field back."""

    value: str
    updated_at: AwareDatetime
    event_id: str

    def newer_than(self, other: ProfileValue | None) -> bool:
        # The event id breaks ties, so the outcome does not depend on delivery order.
        return other is None or (self.updated_at, self.event_id) > (
            other.updated_at,
            other.event_id,
        )


class Profile(Fact):
    """Personal details by field name (`details`, the names below) and the fields no rule
    knows (`extra`, bounded)."""

    details: dict[str, ProfileValue] = Field(default_factory=dict)
    extra: dict[str, ProfileValue] = Field(default_factory=dict)

    def value(self, name: str) -> str | None:
        held = self.details.get(name)
        return held.value if held is not None and held.value else None

    @property
    def name(self) -> str | None:
        """`name`, or `first_name last_name`: whichever was stated last."""
        full = self.details.get("name")
        parts = [self.details.get(n) for n in ("first_name", "last_name")]
        stated = [p for p in parts if p is not None]
        newest_part = max(stated, key=lambda p: (p.updated_at, p.event_id), default=None)
        if full is not None and full.value and full.newer_than(newest_part):
            return full.value
        joined = " ".join(p.value for p in parts if p is not None and p.value)
        return joined or (full.value if full is not None and full.value else None)

    @property
    def birth_date(self) -> date | None:
        raw = self.value("birth_date")
        return date.fromisoformat(raw) if raw else None

    @property
    def preferred_channel(self) -> Channel | None:
        raw = self.value("preferred_channel")
        return Channel(raw) if raw else None

    def local_date(self, now: datetime) -> date:
        """`now`'s date where the customer lives, when their timezone is known."""
        zone = self.value("timezone")
        return now.astimezone(ZoneInfo(zone)).date() if zone else now.date()

    def age(self, now: datetime) -> int | None:
        """Whole years on the customer's date; None without a birth date (or a future one)."""
        born = self.birth_date
        if born is None:
            return None
        today = self.local_date(now)
        years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
        return years if years >= 0 else None

    def overdue(self, now: datetime) -> Overdue | None:
        amount = self.value("overdue_amount")
        if amount is None:
            return None
        since_raw = self.value("overdue_since")
        since = date.fromisoformat(since_raw) if since_raw else None
        days = max(0, (self.local_date(now) - since).days) if since is not None else None
        return Overdue(
            amount=amount, currency=self.value("overdue_currency"), since=since, days=days
        )


@dataclass(frozen=True)
class Overdue:
    """An unpaid balance, as the billing system last stated it."""

    amount: str
    currency: str | None
    since: date | None
    days: int | None


class ConsentRecord(Fact):
    """The customer's latest word on being contacted on `channel` for `purpose`."""

    channel: Channel
    purpose: str
    granted: bool
    at: AwareDatetime
    source_event_id: str


# -- field rules: a normalised value, or None when the value is not valid (ignored) --


def _text(value: str) -> str | None:
    return value[:MAX_VALUE_CHARS]


def _iso_date(value: str) -> str | None:
    """An ISO date, or the date of an ISO date-time (billing systems send either)."""
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(value).date().isoformat()
    except ValueError:
        return None


def _timezone(value: str) -> str | None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        return None
    return value


def _channel(value: str) -> str | None:
    key = value.upper().replace(" ", "_")
    if key in _CHANNEL_ALIASES:
        return _CHANNEL_ALIASES[key].value
    return key if key in Channel.__members__ else None


def _currency(value: str) -> str | None:
    code = value.upper()
    return code if _CURRENCY.match(code) else None


def _amount(value: str) -> str | None:
    """A positive amount in canonical form; zero (or less: a credit) clears the balance."""
    if len(value) > 40:
        return None
    try:
        amount = Decimal(value.replace(",", "."))
    except InvalidOperation:
        return None
    if not amount.is_finite():
        return None
    return format(amount, "f") if amount > 0 else ""


FIELD_RULES = {
    "name": _text,
    "first_name": _text,
    "last_name": _text,
    "birth_date": _iso_date,
    "city": _text,
    "country": _text,
    "language": _text,
    "preferred_channel": _channel,
    "form_of_address": _text,
    "timezone": _timezone,
    "overdue_amount": _amount,
    "overdue_currency": _currency,
    "overdue_since": _iso_date,
}


def _stated(
    held: dict[str, ProfileValue], name: str, value: str, at: datetime, event_id: str
) -> bool:
    """Put `value` under `name` unless a newer statement is already held."""
    update = ProfileValue(value=value, updated_at=at, event_id=event_id)
    if not update.newer_than(held.get(name)):
        return False
    held[name] = update
    return True


def apply_profile_update(
    profile: Profile,
    consents: tuple[ConsentRecord, ...],
    fields: Mapping[str, str],
    at: datetime,
    event_id: str,
) -> tuple[Profile, tuple[ConsentRecord, ...]]:
    """Fold one ProfileUpdate. Returns the inputs themselves when nothing changed."""
    details, extra = dict(profile.details), dict(profile.extra)
    changed = False
    decisions: list[tuple[Channel, str, bool]] = []
    for raw_key, raw_value in sorted(fields.items()):
        key, value = raw_key.strip(), raw_value.strip()
        folded = key.casefold()
        if folded.startswith(CONSENT_PREFIX):
            decisions.extend(_consent_decisions(folded[len(CONSENT_PREFIX) :], value))
            continue
        name = ALIASES.get(folded, folded)
        rule = FIELD_RULES.get(name)
        if rule is not None:
            normalised = rule(value) if value else ""
            if normalised is not None:
                changed |= _stated(details, name, normalised, at, event_id)
            continue
        if not key or len(key) > MAX_FIELD_NAME_CHARS:
            continue
        if key not in extra and len(extra) >= MAX_EXTRA_FIELDS:
            continue  # the first fields a system sends are kept; later new names are not
        changed |= _stated(extra, key, value[:MAX_VALUE_CHARS], at, event_id)
    if changed:
        profile = Profile(details=details, extra=extra)
    for channel, purpose, granted in decisions:
        consents = record_consent(consents, channel, purpose, granted, at, event_id)
    return profile, consents


def _consent_decisions(rest: str, value: str) -> list[tuple[Channel, str, bool]]:
    """`SMS.marketing` = granted / withdrawn; `ALL.marketing` for every channel."""
    channel_name, _, purpose = rest.partition(".")
    verdict = value.casefold()
    if verdict not in (GRANTED, WITHDRAWN) or not _PURPOSE.match(purpose):
        return []
    if channel_name in ("all", "*"):
        channels: Iterable[Channel] = Channel
    else:
        code = _channel(channel_name)
        if code is None:
            return []
        channels = (Channel(code),)
    return [(channel, purpose, verdict == GRANTED) for channel in channels]


def record_consent(
    consents: tuple[ConsentRecord, ...],
    channel: Channel,
    purpose: str,
    granted: bool,
    at: datetime,
    event_id: str,
) -> tuple[ConsentRecord, ...]:
    """The latest statement per channel and purpose wins; kept sorted so merged and
    folded states compare equal."""
    current = next((c for c in consents if c.channel == channel and c.purpose == purpose), None)
    if current is not None and (current.at, current.source_event_id) >= (at, event_id):
        return consents
    purposes = {c.purpose for c in consents}
    if purpose not in purposes and len(purposes) >= MAX_CONSENT_PURPOSES:
        return consents
    record = ConsentRecord(
        channel=channel, purpose=purpose, granted=granted, at=at, source_event_id=event_id
    )
    return sort_consents((*(c for c in consents if c is not current), record))


def sort_consents(consents: Iterable[ConsentRecord]) -> tuple[ConsentRecord, ...]:
    return tuple(sorted(consents, key=lambda c: (c.channel.value, c.purpose)))


def withdraw_marketing(
    consents: tuple[ConsentRecord, ...],
    channels: Iterable[Channel],
    at: datetime,
    event_id: str,
) -> tuple[ConsentRecord, ...]:
    """An opt-out withdraws marketing consent on its channels (every channel when none)."""
    for channel in tuple(channels) or tuple(Channel):
        consents = record_consent(consents, channel, MARKETING, False, at, event_id)
    return consents
