"""The contact rules: may this customer be contacted on this channel for this campaign now?

Each rule is a pure function `(facts, policy, channel, now) -> Reason | None`: None when it
does not forbid the contact, else the reason, whose `until` is the moment it stops holding
by itself (None: it holds until a new fact changes it). `check` runs them all, in this
fixed order, which is also the order of the reasons in a decision:

1. offer response      an ACCEPTED or DECLINED answer to this campaign's offer suppresses
                       the campaign (until the policy's cooldown for that answer is over);
2. consent             an opt-out of the channel, or of every channel, forbids; so does a
                       withdrawn consent for (channel, the campaign's purpose) when the
                       policy respects consent (the latest consent record wins);
3. do-not-contact      a matched DNC entry forbids until it expires;
4. frequency cap       N outbound contacts in the last D days, on the channel or across all;
5. quiet hours         outside the contact window in the customer's local time (VOICE,
                       SMS and the policy's real-time channels only);
6. complaint cooldown  no marketing contact for N days after the last complaint;
7. already converted   a customer who bought the campaign's product is not contacted.

The rules read `ContactFacts`, a small view of the customer built by the caller, so they
depend on nothing but it, the policy, the channel and the clock.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from phonenumbers.timezone import UNKNOWN_TIMEZONE, time_zones_for_number
from pydantic import AwareDatetime, Field, field_validator

from streams.domain.campaign_policy import (
    MAX_CAP_CONTACTS,
    CampaignPolicy,
    DoNotContactEntry,
    FrequencyCap,
    Purpose,
    QuietHours,
)
from streams.domain.identity import mask_email, mask_phone
from streams.domain.model import (
    Channel,
    Direction,
    Fact,
    Int32,
    KeptMillis,
    OfferResponseKind,
    SuppressionReason,
)

__all__ = [
    "MAX_CONTACT_MOMENTS",
    "RULES",
    "CampaignResponse",
    "ConsentRecord",
    "ContactDecision",
    "ContactFacts",
    "ContactMoment",
    "ContactRule",
    "Reason",
    "ReasonCode",
    "Rule",
    "already_converted_rule",
    "check",
    "complaint_cooldown_rule",
    "consent_rule",
    "customer_zone",
    "do_not_contact_rule",
    "frequency_cap_rule",
    "offer_response_rule",
    "phone_zone",
    "quiet_hours_rule",
]

# The contact history the facts carry: room for the largest cap plus as many inbound
# contacts, which are kept (they explain a decision) but never counted.
MAX_CONTACT_MOMENTS = 2 * MAX_CAP_CONTACTS


class Rule(StrEnum):
    """The rules, in the order `check` runs them."""

    OFFER_RESPONSE = "offer-response"
    CONSENT = "consent"
    DO_NOT_CONTACT = "do-not-contact"
    FREQUENCY_CAP = "frequency-cap"
    QUIET_HOURS = "quiet-hours"
    COMPLAINT_COOLDOWN = "complaint-cooldown"
    ALREADY_CONVERTED = "already-converted"


class ReasonCode(StrEnum):
    OFFER_ACCEPTED = "OFFER_ACCEPTED"
    OFFER_DECLINED = "OFFER_DECLINED"
    OPTED_OUT = "OPTED_OUT"
    CONSENT_WITHDRAWN = "CONSENT_WITHDRAWN"
    DO_NOT_CONTACT = "DO_NOT_CONTACT"
    FREQUENCY_CAP = "FREQUENCY_CAP"
    QUIET_HOURS = "QUIET_HOURS"
    COMPLAINT = "COMPLAINT"
    ALREADY_CONVERTED = "ALREADY_CONVERTED"


# What a reason is called on `touchline.suppressions.v1`, whose enum is a contract.
_SUPPRESSION_REASONS = {
    ReasonCode.OFFER_ACCEPTED: SuppressionReason.OFFER_ACCEPTED,
    ReasonCode.OFFER_DECLINED: SuppressionReason.OFFER_DECLINED,
    ReasonCode.OPTED_OUT: SuppressionReason.OPTED_OUT,
    ReasonCode.CONSENT_WITHDRAWN: SuppressionReason.OPTED_OUT,
    ReasonCode.DO_NOT_CONTACT: SuppressionReason.DO_NOT_CONTACT,
    ReasonCode.COMPLAINT: SuppressionReason.COMPLAINT,
    ReasonCode.FREQUENCY_CAP: SuppressionReason.FREQUENCY_CAP,
    ReasonCode.QUIET_HOURS: SuppressionReason.QUIET_HOURS,
    ReasonCode.ALREADY_CONVERTED: SuppressionReason.ALREADY_CONVERTED,
}


class Reason(Fact):
    """Why a contact is not allowed, and until when (None: until a new fact says so)."""

    rule: Rule
    code: ReasonCode
    detail: str
    until: KeptMillis | None = None

    @property
    def permanent(self) -> bool:
        return self.until is None

    @property
    def suppression_reason(self) -> SuppressionReason:
        return _SUPPRESSION_REASONS.get(self.code, SuppressionReason.OTHER)


# -- the facts the rules read -----------------------------------------------------------


class _Moment(Fact):
    at: KeptMillis


class ConsentRecord(_Moment):
    """The customer gave (`granted`) or withdrew consent to contact on a channel for a
    purpose, at `at`."""

    channel: Channel
    purpose: Purpose
    granted: bool


class CampaignResponse(_Moment):
    """The customer's answer to a campaign's offer."""

    campaign_id: str
    response: OfferResponseKind


class ContactMoment(_Moment):
    """A real contact with the customer (a call that rang, a message that went out)."""

    channel: Channel
    direction: Direction


class ContactFacts(Fact):
    """What the contact rules know about one customer (built from the customer state by
    the caller, which also finds the DNC entries matching the customer's identities)."""

    customer_id: Annotated[str, Field(min_length=1)]
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    timezone: str | None = Field(default=None, description="IANA name, from the profile")
    consents: tuple[ConsentRecord, ...] = ()
    opted_out_channels: tuple[Channel, ...] = ()
    opted_out_all: bool = False
    offer_responses: tuple[CampaignResponse, ...] = ()
    contact_moments: tuple[ContactMoment, ...] = Field(
        default=(), max_length=MAX_CONTACT_MOMENTS, description="newest last"
    )
    last_complaint_at: KeptMillis | None = None
    products: tuple[str, ...] = Field(default=(), description="bought; a set, kept sorted")
    dnc_matches: tuple[DoNotContactEntry, ...] = ()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and _zone(value) is None:
            raise ValueError("must be an IANA time zone name such as Europe/Istanbul")
        return value

    @field_validator("products")
    @classmethod
    def _as_set(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        # A set, sorted: a decision must serialise the same whatever order state kept.
        return tuple(sorted(set(value)))


# -- the decision -----------------------------------------------------------------------


class ContactDecision(Fact):
    """The answer of the dispatch-time check. `next_allowed_at` is None when the contact is
    allowed, and also when it never will be without a new fact (a reason is permanent)."""

    allowed: bool
    reasons: tuple[Reason, ...] = ()
    policy_version: Int32 | None = None
    next_allowed_at: AwareDatetime | None = None


# -- the rules --------------------------------------------------------------------------

ContactRule = Callable[[ContactFacts, CampaignPolicy, Channel, datetime], Reason | None]


def offer_response_rule(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, now: datetime
) -> Reason | None:
    """An answer to this campaign's offer suppresses it on every channel. A DECLINED answer
    lifts after `response_cooldown_days` and an ACCEPTED one after `accepted_cooldown_days`
    when set. Every answer counts, not only the latest: a later decline must not shorten
    what an acceptance decided."""
    holding: list[tuple[CampaignResponse, datetime | None]] = []
    for answer in facts.offer_responses:
        if answer.campaign_id != policy.campaign_id:
            continue
        accepted = answer.response is OfferResponseKind.ACCEPTED
        days = policy.accepted_cooldown_days if accepted else policy.response_cooldown_days
        until = None if days is None else answer.at + timedelta(days=days)
        if until is None or now < until:
            holding.append((answer, until))
    if not holding:
        return None
    answer, until = max(holding, key=_longest_response)
    accepted = answer.response is OfferResponseKind.ACCEPTED
    return Reason(
        rule=Rule.OFFER_RESPONSE,
        code=ReasonCode.OFFER_ACCEPTED if accepted else ReasonCode.OFFER_DECLINED,
        detail=f"{'accepted' if accepted else 'declined'} the offer of campaign "
        f"{policy.campaign_id} on {_day(answer.at)}",
        until=until,
    )


def _longest_response(item: tuple[CampaignResponse, datetime | None]) -> tuple[object, ...]:
    answer, until = item
    return (
        until is None,
        until or answer.at,
        answer.response is OfferResponseKind.ACCEPTED,
        answer.at,
    )


def consent_rule(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, now: datetime
) -> Reason | None:
    """Opt-outs always hold (STOP is the law, whatever the campaign). With
    `respect_consent`, the latest consent record for (channel, the campaign's purpose)
    decides; a grant and a withdrawal at the same moment count as a withdrawal."""
    if facts.opted_out_all:
        return Reason(
            rule=Rule.CONSENT, code=ReasonCode.OPTED_OUT, detail="opted out of every channel"
        )
    if channel in facts.opted_out_channels:
        return Reason(
            rule=Rule.CONSENT, code=ReasonCode.OPTED_OUT, detail=f"opted out of {channel}"
        )
    if not policy.respect_consent:
        return None
    latest = max(
        (c for c in facts.consents if c.channel == channel and c.purpose == policy.purpose),
        key=lambda c: (c.at, not c.granted),
        default=None,
    )
    if latest is None or latest.granted:
        return None
    return Reason(
        rule=Rule.CONSENT,
        code=ReasonCode.CONSENT_WITHDRAWN,
        detail=f"withdrew {policy.purpose} consent for {channel} on {_day(latest.at)}",
    )


def do_not_contact_rule(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, now: datetime
) -> Reason | None:
    """A matched entry on any do-not-contact list forbids every channel until it expires;
    the reason names the entry that holds longest."""
    active = sorted(
        (entry for entry in facts.dnc_matches if entry.active(now)),
        key=lambda e: (
            e.expires_at is not None,
            -(e.expires_at or now).timestamp(),
            e.key,
            e.list_id or "",
        ),
    )
    if not active:
        return None
    entry = active[0]
    shown = mask_phone(entry.value) if entry.kind == "phone" else mask_email(entry.value)
    listed = f"do-not-contact list {entry.list_id}" if entry.list_id else "a do-not-contact list"
    more = f" (and {len(active) - 1} more)" if len(active) > 1 else ""
    return Reason(
        rule=Rule.DO_NOT_CONTACT,
        code=ReasonCode.DO_NOT_CONTACT,
        detail=f"{entry.kind} {shown} is on {listed}{more}",
        until=entry.expires_at,
    )


def frequency_cap_rule(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, now: datetime
) -> Reason | None:
    """Each cap the contact would count towards (its channel's, and the all-channel ones)
    allows it only while fewer than `max_contacts` outbound contacts fall in the last `days`
    days. A full cap holds until enough of the counted contacts leave its window; the
    reason names the cap that holds longest."""
    binding: tuple[datetime, FrequencyCap, int] | None = None
    for cap in policy.frequency_caps:
        if cap.channel is not None and cap.channel != channel:
            continue
        window = timedelta(days=cap.days)
        # Contacts later than `now` (another worker's clock) are counted too: each contact
        # then only ever leaves a window, which keeps `until` exact.
        counted = sorted(
            moment.at
            for moment in facts.contact_moments
            if moment.direction is Direction.OUTBOUND
            and (cap.channel is None or moment.channel == cap.channel)
            and moment.at > now - window
        )
        if len(counted) < cap.max_contacts:
            continue
        until = counted[len(counted) - cap.max_contacts] + window
        if binding is None or until > binding[0]:
            binding = (until, cap, len(counted))
    if binding is None:
        return None
    until, cap, count = binding
    where = f"on {cap.channel}" if cap.channel is not None else "across all channels"
    return Reason(
        rule=Rule.FREQUENCY_CAP,
        code=ReasonCode.FREQUENCY_CAP,
        detail=f"{count} outbound contacts {where} in the last {cap.days} days "
        f"(cap {cap.max_contacts})",
        until=until,
    )


def quiet_hours_rule(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, now: datetime
) -> Reason | None:
    """Real-time channels (VOICE, SMS, and those the policy adds) only inside the contact
    window in the customer's local time (`customer_zone`). The reason holds until the
    window next opens there, found on the zone's own clock, so across a DST change too."""
    if not policy.quiet_hours_cover(channel):
        return None
    zone, source = _customer_zone(facts)
    window = policy.quiet_hours
    local = now.astimezone(zone)
    if window.allows(local.time()):
        return None
    return Reason(
        rule=Rule.QUIET_HOURS,
        code=ReasonCode.QUIET_HOURS,
        detail=f"{local.hour:02d}:{local.minute:02d} in {zone.key} ({source}) is outside "
        f"the contact window {_window_text(window)}",
        until=_window_opens(window, zone, now),
    )


def complaint_cooldown_rule(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, now: datetime
) -> Reason | None:
    """No marketing for `complaint_cooldown_days` after the last complaint; a service
    campaign (the reply to the complaint, a payment reminder) still gets through."""
    days = policy.complaint_cooldown_days
    complained = facts.last_complaint_at
    if policy.purpose is Purpose.SERVICE or not days or complained is None:
        return None
    until = complained + timedelta(days=days)
    if now >= until:
        return None
    return Reason(
        rule=Rule.COMPLAINT_COOLDOWN,
        code=ReasonCode.COMPLAINT,
        detail=f"complained on {_day(complained)}: no marketing for {days} days",
        until=until,
    )


def already_converted_rule(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, now: datetime
) -> Reason | None:
    """Selling a customer what they already bought wastes the contact and annoys them."""
    if policy.product is None or policy.product not in facts.products:
        return None
    return Reason(
        rule=Rule.ALREADY_CONVERTED,
        code=ReasonCode.ALREADY_CONVERTED,
        detail=f"already bought {policy.product}",
    )


RULES: tuple[tuple[Rule, ContactRule], ...] = (
    (Rule.OFFER_RESPONSE, offer_response_rule),
    (Rule.CONSENT, consent_rule),
    (Rule.DO_NOT_CONTACT, do_not_contact_rule),
    (Rule.FREQUENCY_CAP, frequency_cap_rule),
    (Rule.QUIET_HOURS, quiet_hours_rule),
    (Rule.COMPLAINT_COOLDOWN, complaint_cooldown_rule),
    (Rule.ALREADY_CONVERTED, already_converted_rule),
)


def check(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, now: datetime
) -> ContactDecision:
    """The dispatch-time check: every rule, in `RULES` order (use `default_policy` for a
    campaign without one). When the contact is not allowed and no reason is permanent,
    `next_allowed_at` is the first moment the same facts allow it: the latest `until`,
    or, should that fall in quiet hours, the moment the contact window opens after it."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be timezone-aware")
    reasons = tuple(
        reason for _, rule in RULES if (reason := rule(facts, policy, channel, now)) is not None
    )
    if not reasons:
        return ContactDecision(allowed=True, policy_version=policy.version)
    return ContactDecision(
        allowed=False,
        reasons=reasons,
        policy_version=policy.version,
        next_allowed_at=_next_allowed(facts, policy, channel, reasons),
    )


def _next_allowed(
    facts: ContactFacts, policy: CampaignPolicy, channel: Channel, reasons: tuple[Reason, ...]
) -> datetime | None:
    """Every rule but quiet hours only ever lifts as time passes: one that allows the
    contact at a moment allows it at every later one, and a reason holds until its `until`
    and no longer (both are property tests). So at the latest `until` only quiet hours can
    still hold the contact, and once the window opens after it, nothing does."""
    untils = [reason.until for reason in reasons]
    if None in untils:
        return None
    moment = max(until for until in untils if until is not None)
    quiet = quiet_hours_rule(facts, policy, channel, moment)
    return moment if quiet is None else quiet.until


# -- the customer's clock -----------------------------------------------------------------


def customer_zone(facts: ContactFacts) -> ZoneInfo:
    """The customer's time zone: the profile's; else the first of the zones phonenumbers
    gives for the first phone that has one (a number in a country with several zones,
    such as +7 or a US non-geographic code, gets the first zone listed, which may be a
    few hours off); else UTC."""
    return _customer_zone(facts)[0]


def _customer_zone(facts: ContactFacts) -> tuple[ZoneInfo, str]:
    if facts.timezone is not None:
        zone = _zone(facts.timezone)
        if zone is not None:
            return zone, "profile"
    for phone in facts.phones:
        name = phone_zone(phone)
        if name is not None:
            zone = _zone(name)
            if zone is not None:
                return zone, "phone number"
    return _UTC, "default"


@functools.lru_cache(maxsize=100_000)
def phone_zone(phone: str) -> str | None:
    """The first time zone phonenumbers lists for an E.164 number, or None. Cached: the
    check runs on every dial attempt, and a customer's number does not move."""
    try:
        number = phonenumbers.parse(phone, None)
    except phonenumbers.NumberParseException:
        return None
    zones = time_zones_for_number(number)
    if not zones or zones[0] == UNKNOWN_TIMEZONE:
        return None
    return zones[0]


@functools.lru_cache(maxsize=1_000)
def _zone(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # OSError: a directory of zones ("America") rather than a zone.
        return None


_UTC = ZoneInfo("UTC")


@functools.lru_cache(maxsize=1_024)
def _window_text(window: QuietHours) -> str:
    return f"{window.start:%H:%M}-{window.end:%H:%M}"


@functools.lru_cache(maxsize=4_096)
def _openings(window: QuietHours, zone: ZoneInfo, today: date) -> tuple[datetime, ...]:
    """When the window opens on `today` and the three days after it, in order (UTC).
    Both readings of each day's start: when clocks go back, the start may come twice.
    Cached: every check in quiet hours asks, and the answer is the same all day."""
    return tuple(
        sorted(
            opens
            for days in range(4)
            for fold in (0, 1)
            if window.allows(
                (
                    opens := datetime.combine(
                        today + timedelta(days=days), window.start, tzinfo=zone
                    )
                    .replace(fold=fold)
                    .astimezone(UTC)
                )
                .astimezone(zone)
                .time()
            )
        )
    )


def _window_opens(window: QuietHours, zone: ZoneInfo, now: datetime) -> datetime:
    """The first moment after `now` inside the window, on the zone's clock."""
    openings = _openings(window, zone, now.astimezone(zone).date())
    opens = next(o for o in openings if o > now)  # never skipped four days running
    # A clock change can open the window before its start comes round: springing forward
    # over the start (the window then opens at the change), or falling back into it.
    change = _clock_change(zone, now, opens)
    if change is not None and window.allows(change.astimezone(zone).time()):
        return change
    return opens


def _clock_change(zone: ZoneInfo, after: datetime, before: datetime) -> datetime | None:
    """The moment in (after, before) the zone's UTC offset changes, to the second (tz
    transitions fall on whole seconds); None when the offset is the same at both ends."""
    offset = after.astimezone(zone).utcoffset()
    if before.astimezone(zone).utcoffset() == offset:
        return None
    low, high = math.floor(after.timestamp()), math.ceil(before.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, UTC).astimezone(zone).utcoffset() == offset:
            low = middle
        else:
            high = middle
    change = datetime.fromtimestamp(high, UTC)
    return change if after < change < before else None


def _day(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
