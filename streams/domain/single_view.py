"""The single customer view as JSON (the 360 view's contract), from the state and `now`.

It adds to what the view always returned (the state without its de-duplication window,
plus `dial_lists` and `suppressed_campaigns`) and removes nothing. The state's own fields
for the newer details are not repeated raw; they are shown shaped, under these keys:

- identities: {phones, emails, accounts, devices, social}
- profile: {name, birth_date, age, city, country, language, preferred_channel,
  form_of_address, timezone, extra: {field: value}}
- purchases: {customer_since, count, totals: {currency: "amount"},
  last: {at, amount, currency, product} | null, products}
- contact_history: {channels: {channel: {inbound, outbound, last_contact_at, last_7d,
  last_30d, last_90d}}, repeat_24h, repeat_7d (both over the last 90 days),
  preferred_channel: {channel, rule: "profile" | "most_inbound_90d" | "none"}}
- flags: {complaints: {count, last_at, open, recent: [{complaint_id, at, category,
  severity, channel, status, status_at}] newest first}, abusive_language: {count,
  last_at}, overdue: {amount, currency, since, days} | null}
- offers_by_campaign: {campaign_id: [offer, as in `offers`]}
- consents: [{channel, purpose, granted, at, source_event_id}]
- timeline: [{event_id, occurred_at, channel, direction, payload_type, campaign_id,
  summary, topic, agent_id}] newest first
- insights: {value_tier: {tier, points, reasons}, churn_risk: {score, reasons},
  upsell: {score, reasons}}, each reason {rule, points, detail}
- alerts: [{code, severity, message}] most severe first
- merged_into: the survivor's id, on a profile folded into another; merges: [{
  absorbed_customer_id, merge_event_id, merged_at}]

Datetimes are ISO 8601 in UTC; amounts are exact decimals as text.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import TypeAdapter

from streams.domain.alerts import alerts
from streams.domain.contact_history import (
    ContactDays,
    TimelineEntry,
    contacts_in,
    preferred_channel,
    repeats_in,
)
from streams.domain.customer import CustomerState, OfferRecord
from streams.domain.insights import insights
from streams.domain.model import Channel
from streams.domain.profile import ConsentRecord

# Shown shaped below (or replaced by a key of the same name), so not dumped raw.
SHAPED_FIELDS = frozenset(
    {
        "recent_event_digests",
        "decision_log",  # the audit has its own endpoint: GET .../decisions
        "profile",
        "consents",
        "customer_since",
        "purchase_totals",
        "last_purchase",
        "products",
        "contact_days",
        "complaints",
        "abusive_count",
        "last_abusive_at",
        "timeline",
        "merges",
    }
)
# Personal details shown as the customer (or a system) stated them.
PROFILE_KEYS = ("birth_date", "city", "country", "language", "form_of_address", "timezone")


# One serializer call for a whole list rather than one a record: the view is read often.
_TIMELINE = TypeAdapter(tuple[TimelineEntry, ...])
_CONSENTS = TypeAdapter(tuple[ConsentRecord, ...])
_NO_DAYS = ContactDays()


def iso(moment: datetime | None) -> str | None:
    """As pydantic writes datetimes in the rest of the view: `2026-11-23T10:00:00Z`."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def single_customer_view(state: CustomerState, now: datetime) -> dict[str, Any]:
    view = state.model_dump(mode="json", exclude=set(SHAPED_FIELDS))
    view["dial_lists"] = sorted(state.dial_list_campaigns())
    view["suppressed_campaigns"] = sorted(
        {s.campaign_id for s in state.suppressions if s.covers(Channel.VOICE)}
    )
    view["identities"] = {
        "phones": list(state.phones),
        "emails": list(state.emails),
        "accounts": list(state.accounts),
        "devices": list(state.devices),
        "social": list(state.social),
    }
    view["profile"] = profile_view(state, now)
    view["purchases"] = purchases_view(state)
    view["contact_history"] = contact_history_view(state, now)
    view["flags"] = flags_view(state, now)
    view["offers_by_campaign"] = offers_by_campaign(state.offers)
    view["consents"] = _CONSENTS.dump_python(state.consents, mode="json")
    view["timeline"] = _TIMELINE.dump_python(state.timeline[::-1], mode="json")
    view["insights"] = insights(state, now).as_json()
    view["alerts"] = [a.as_json() for a in alerts(state, now)]
    view["merged_into"] = state.merged_into
    view["merges"] = [
        {
            "absorbed_customer_id": m.absorbed_customer_id,
            "merge_event_id": m.merge_event_id,
            "merged_at": iso(m.merged_at),
        }
        for m in state.merges
    ]
    return view


def profile_view(state: CustomerState, now: datetime) -> dict[str, Any]:
    profile = state.profile
    preferred = profile.preferred_channel
    stated = {key: profile.value(key) for key in PROFILE_KEYS}
    return {
        "name": profile.name,
        "birth_date": stated["birth_date"],
        "age": profile.age(now),
        "city": stated["city"],
        "country": stated["country"],
        "language": stated["language"],
        "preferred_channel": preferred.value if preferred else None,
        "form_of_address": stated["form_of_address"],
        "timezone": stated["timezone"],
        "extra": {k: v.value for k, v in sorted(profile.extra.items()) if v.value},
    }


def purchases_view(state: CustomerState) -> dict[str, Any]:
    last = state.last_purchase
    return {
        "customer_since": iso(state.customer_since),
        "count": state.purchase_count,
        "totals": {c: t.amount for c, t in sorted(state.purchase_totals.items())},
        "last": None
        if last is None
        else {
            "at": iso(last.at),
            "amount": last.amount,
            "currency": last.currency,
            "product": last.product,
        },
        "products": list(state.products),
    }


def contact_history_view(state: CustomerState, now: datetime) -> dict[str, Any]:
    channels: dict[str, Any] = {}
    for name, stats in sorted(state.contacts.items()):
        days = state.contact_days.get(name, _NO_DAYS)
        channels[name] = {
            "inbound": stats.inbound,
            "outbound": stats.outbound,
            "last_contact_at": iso(stats.last_contact_at),
            "last_7d": contacts_in(days, now, 7),
            "last_30d": contacts_in(days, now, 30),
            "last_90d": contacts_in(days, now, 90),
        }
    repeat_24h, repeat_7d = repeats_in(state.contact_days.values(), now)
    preferred = preferred_channel(
        state.profile.preferred_channel,
        state.contact_days,
        {name: stats.last_contact_at for name, stats in state.contacts.items()},
        now,
    )
    return {
        "channels": channels,
        "repeat_24h": repeat_24h,
        "repeat_7d": repeat_7d,
        "preferred_channel": {
            "channel": preferred.channel.value if preferred.channel else None,
            "rule": preferred.rule,
        },
    }


def flags_view(state: CustomerState, now: datetime) -> dict[str, Any]:
    overdue = state.profile.overdue(now)
    return {
        "complaints": {
            "count": state.complaint_count,
            "last_at": iso(state.last_complaint_at),
            "open": sum(1 for c in state.complaints if c.is_open),
            "recent": [
                {
                    "complaint_id": c.complaint_id,
                    "at": iso(c.opened_at),
                    "category": c.category,
                    "severity": c.severity,
                    "channel": c.channel.value,
                    "status": c.status,
                    "status_at": iso(c.status_at),
                }
                for c in reversed(state.complaints)
            ],
        },
        "abusive_language": {
            "count": state.abusive_count,
            "last_at": iso(state.last_abusive_at),
        },
        "overdue": None
        if overdue is None
        else {
            "amount": overdue.amount,
            "currency": overdue.currency,
            "since": overdue.since.isoformat() if overdue.since else None,
            "days": overdue.days,
        },
    }


def offers_by_campaign(offers: tuple[OfferRecord, ...]) -> dict[str, list[dict[str, Any]]]:
    grouped: dict[str, list[dict[str, Any]]] = {}
    for offer in offers:
        grouped.setdefault(offer.campaign_id, []).append(offer.model_dump(mode="json"))
    return dict(sorted(grouped.items()))
