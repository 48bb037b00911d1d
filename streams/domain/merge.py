"""Merging two profiles of one person (`combine`) and undoing it (`split`), as pure functions.

Survivor rules, `combine(survivor, absorbed)`:
- Identities: the survivor's, then those of the absorbed profile it lacks (bounded per kind).
- Personal details: the survivor's non-empty values win; the absorbed profile fills the
  fields the survivor lacks or has cleared (extra fields within their bound).
- Counts and totals add up: events, contacts per channel and per day, complaints, abusive
  messages, purchases and the totals per currency (exact decimals).
- Earliest and latest moments combine (first seen, customer since, last contact...); the
  last purchase is the later of the two.
- Collections are unioned by identity, then bounded as `evolve` bounds them: offers (event
  id; interleaved by when they were presented), targets (campaign; the newer upload wins),
  suppressions (id), consents (channel and purpose; the latest statement wins), timeline
  (event id), contexts (token), complaints (complaint id; the survivor's record wins),
  products, and the de-duplication window (the absorbed digests go first, so the window
  keeps the survivor's own when it is full).
- Opt-outs are unioned.
- The survivor records the merge in `merges` (the latest MAX_MERGES): what came from the
  absorbed profile, and the survivor's own values and entries the merge replaced or pushed
  out of a bound. The absorbed profile's own merges stay with it.

`split(merged, absorbed_snapshot)` takes out what came from the absorbed profile and
subtracts what it added; what happened after the merge stays with the survivor. For a merge
with nothing after it, `split(combine(a, b), b) == a` except, deliberately, for opt-outs:
- Opt-outs stay. A split must never make someone contactable whom the merged profile said
  not to contact; consent law prefers a wrong "do not contact".
Where events followed the merge, these are approximations:
- A moment the merge moved (say last_seen_at) gets the survivor's own value back while it
  still holds the absorbed profile's value; an event after the merge at exactly that moment
  is then forgotten.
- Counts are subtracted (never below zero); an offer, product, consent or detail that came
  from the absorbed profile is removed even if the survivor used it after the merge, unless
  that changed the entry itself (a new statement of a detail or consent is kept).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from operator import attrgetter
from typing import Any

from streams.domain.contact_history import MAX_TIMELINE, ContactDays
from streams.domain.customer import (
    DEDUP_WINDOW,
    DIGEST_BYTES,
    MAX_CONTEXTS,
    MAX_IDENTITIES_PER_KIND,
    MAX_OFFERS,
    ChannelContacts,
    CustomerState,
    MergeRecord,
    TargetRecord,
)
from streams.domain.flags import MAX_COMPLAINTS
from streams.domain.links import is_anonymous
from streams.domain.model import to_millis
from streams.domain.profile import (
    MAX_CONSENT_PURPOSES,
    MAX_EXTRA_FIELDS,
    ConsentRecord,
    Profile,
    ProfileValue,
    sort_consents,
)
from streams.domain.purchases import CurrencyTotal, add_product, add_to_totals, subtract_money

MAX_MERGES = 5

IDENTITY_FIELDS = (
    ("phones", "phone"),
    ("emails", "email"),
    ("accounts", "account"),
    ("devices", "device"),
    ("social", "social"),
)
# Earliest/latest moments and how two of them combine.
MOMENTS: tuple[tuple[str, Callable[[datetime, datetime], datetime]], ...] = (
    ("first_seen_at", min),
    ("last_seen_at", max),
    ("customer_since", min),
    ("last_purchase_at", max),
    ("last_complaint_at", max),
    ("last_abusive_at", max),
)
ADDED_COUNTS = ("events_applied", "complaint_count", "abusive_count", "purchase_count")


@dataclass(frozen=True)
class Bounded:
    """A collection `evolve` bounds to its latest `bound` entries, each known by `identity`
    (`kind:identity` in the merge record's `added`): kept sorted by `order`, or else in
    arrival order, two of them interleaved by the moment `at`. The merge record keeps the
    survivor's entries a merge pushed out in `evicted_<name>`."""

    name: str
    kind: str
    identity: Callable[[Any], str]
    bound: int
    at: Callable[[Any], Any] | None = None
    order: Callable[[Any], Any] | None = None

    @property
    def evicted(self) -> str:
        return f"evicted_{self.name}"


_ORDER = attrgetter("order")
BOUNDED = (
    Bounded("offers", "offer", attrgetter("event_id"), MAX_OFFERS, at=attrgetter("presented_at")),
    Bounded("contexts", "context", attrgetter("token"), MAX_CONTEXTS, at=attrgetter("created_at")),
    Bounded("complaints", "complaint", attrgetter("complaint_id"), MAX_COMPLAINTS, order=_ORDER),
    Bounded("timeline", "timeline", attrgetter("event_id"), MAX_TIMELINE, order=_ORDER),
)


@dataclass
class _Ledger:
    """What a merge took from the absorbed profile, and what of the survivor's it replaced."""

    added: list[str] = field(default_factory=list)
    prior_moments: dict[str, datetime | None] = field(default_factory=dict)

    def moment(
        self,
        key: str,
        mine: datetime | None,
        theirs: datetime | None,
        pick: Callable[[datetime, datetime], datetime],
    ) -> datetime | None:
        if theirs is None:
            return mine
        result = theirs if mine is None else pick(mine, theirs)
        if result != mine:
            self.prior_moments[key] = mine
        return result


# -- combine --------------------------------------------------------------------------------


def combine(
    survivor: CustomerState,
    absorbed: CustomerState,
    *,
    merge_event_id: str,
    merged_at: datetime,
) -> CustomerState:
    """The profile `survivor` becomes with `absorbed` folded in (rules: module docstring).
    A merge already recorded changes nothing."""
    if any(m.merge_event_id == merge_event_id for m in survivor.merges):
        return survivor
    s, a, ledger = survivor, absorbed, _Ledger()
    update: dict[str, object] = {}
    for name, kind in IDENTITY_FIELDS:
        update[name] = _union_identities(getattr(s, name), getattr(a, name), kind, ledger)
    for name, pick in MOMENTS:
        update[name] = ledger.moment(name, getattr(s, name), getattr(a, name), pick)
    for name in ADDED_COUNTS:
        update[name] = getattr(s, name) + getattr(a, name)
    update["contacts"] = _combine_contacts(s, a, ledger)
    update["contact_days"], evicted_days = _combine_days(s, a)
    evicted: dict[str, Any] = {}
    for bounded in BOUNDED:
        update[bounded.name], evicted[bounded.evicted] = _union_bounded(s, a, bounded, ledger)
    known_suppressions = {x.suppression_id for x in s.suppressions}
    theirs = [x for x in a.suppressions if x.suppression_id not in known_suppressions]
    ledger.added.extend(f"suppression:{x.suppression_id}" for x in theirs)
    update["suppressions"] = (*s.suppressions, *theirs)
    update["targets"], prior_targets = _combine_targets(s, a, ledger)
    update["consents"], prior_consents = _combine_consents(s, a, ledger)
    update["profile"], prior_profile = _combine_profile(s, a, ledger)
    update.update(_combine_purchases(s, a, ledger))
    prior_last_purchase = s.last_purchase if "last_purchase" in ledger.added else None
    update["opted_out_channels"] = tuple(sorted({*s.opted_out_channels, *a.opted_out_channels}))
    update["opted_out_all"] = s.opted_out_all or a.opted_out_all
    update["recent_event_digests"], added_digests = _combine_digests(s, a)
    record = MergeRecord(
        absorbed_customer_id=a.customer_id,
        merge_event_id=merge_event_id,
        merged_at=to_millis(merged_at),
        absorbed_events_applied=a.events_applied,
        added=tuple(ledger.added),
        prior_moments=ledger.prior_moments,
        prior_last_purchase=prior_last_purchase,
        prior_profile=prior_profile,
        prior_consents=prior_consents,
        prior_targets=prior_targets,
        **evicted,
        evicted_days=evicted_days,
        added_digests=added_digests,
    )
    update["merges"] = (*s.merges, record)[-MAX_MERGES:]
    return s.model_copy(update=update)


def _union_identities(
    mine: tuple[str, ...], theirs: tuple[str, ...], kind: str, ledger: _Ledger
) -> tuple[str, ...]:
    result = list(mine)
    for value in theirs:
        if value not in result and len(result) < MAX_IDENTITIES_PER_KIND:
            result.append(value)
            ledger.added.append(f"{kind}:{value}")
    return tuple(result)


def _union_bounded(
    s: CustomerState, a: CustomerState, bounded: Bounded, ledger: _Ledger
) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The union, bounded to the latest `bound`, and the survivor's entries pushed out.
    Collections kept sorted (`order`) stay sorted; those kept in arrival order are
    interleaved by a moment, each side keeping its own order, so taking the absorbed
    entries out again gives the survivor's order back."""
    mine: Sequence[Any] = getattr(s, bounded.name)
    theirs: Sequence[Any] = getattr(a, bounded.name)
    identity, kind, bound = bounded.identity, bounded.kind, bounded.bound
    known = {identity(x) for x in mine}
    new = [x for x in theirs if identity(x) not in known]
    if bounded.order is not None:
        merged = sorted((*mine, *new), key=bounded.order)
    else:
        assert bounded.at is not None
        merged = list(heapq.merge(mine, new, key=bounded.at))
    kept, dropped = merged[-bound:], merged[:-bound] if len(merged) > bound else []
    kept_new = {identity(x) for x in kept} - known
    ledger.added.extend(f"{kind}:{identity(x)}" for x in new if identity(x) in kept_new)
    return tuple(kept), tuple(x for x in dropped if identity(x) in known)


def _combine_contacts(
    s: CustomerState, a: CustomerState, ledger: _Ledger
) -> dict[str, ChannelContacts]:
    contacts = dict(s.contacts)
    for channel, theirs in a.contacts.items():
        if channel not in contacts:
            ledger.added.append(f"channel:{channel}")
        mine = contacts.get(channel, ChannelContacts())
        contacts[channel] = ChannelContacts(
            inbound=mine.inbound + theirs.inbound,
            outbound=mine.outbound + theirs.outbound,
            last_contact_at=ledger.moment(
                f"contacts:{channel}", mine.last_contact_at, theirs.last_contact_at, max
            ),
        )
    return contacts


def _combine_days(
    s: CustomerState, a: CustomerState
) -> tuple[dict[str, ContactDays], dict[str, ContactDays]]:
    """Daily counts added up, still the latest 90 days; and the survivor's days the
    absorbed profile's later days pushed out."""
    result = dict(s.contact_days)
    evicted: dict[str, ContactDays] = {}
    for channel, theirs in a.contact_days.items():
        mine = result.get(channel, ContactDays()).rows()
        by_day = {r.day: r for r in mine}
        for row in theirs.rows():
            by_day[row.day] = by_day[row.day].plus(row) if row.day in by_day else row
        kept = ContactDays.of(by_day.values())
        kept_days = set(kept.days)
        lost = [r for r in mine if r.day not in kept_days]
        if lost:
            evicted[channel] = ContactDays.of(lost)
        result[channel] = kept
    return result, evicted


def _combine_targets(
    s: CustomerState, a: CustomerState, ledger: _Ledger
) -> tuple[tuple[TargetRecord, ...], tuple[TargetRecord, ...]]:
    targets, prior = list(s.targets), list[TargetRecord]()
    for theirs in a.targets:
        at = next((i for i, t in enumerate(targets) if t.campaign_id == theirs.campaign_id), None)
        if at is None:
            targets.append(theirs)
        elif theirs.uploaded_at > targets[at].uploaded_at:
            prior.append(targets[at])
            targets[at] = theirs  # in place: a split puts the survivor's back where it was
        else:
            continue
        ledger.added.append(f"target:{theirs.campaign_id}")
    return tuple(targets), tuple(prior)


def _combine_consents(
    s: CustomerState, a: CustomerState, ledger: _Ledger
) -> tuple[tuple[ConsentRecord, ...], tuple[ConsentRecord, ...]]:
    by_key = {(c.channel, c.purpose): c for c in s.consents}
    prior: list[ConsentRecord] = []
    for theirs in a.consents:
        mine = by_key.get((theirs.channel, theirs.purpose))
        if mine is None:
            purposes = {p for _, p in by_key}
            if theirs.purpose not in purposes and len(purposes) >= MAX_CONSENT_PURPOSES:
                continue
        elif (theirs.at, theirs.source_event_id) <= (mine.at, mine.source_event_id):
            continue
        else:
            prior.append(mine)
        by_key[(theirs.channel, theirs.purpose)] = theirs
        ledger.added.append(f"consent:{theirs.channel.value}/{theirs.purpose}")
    return sort_consents(by_key.values()), tuple(prior)


def _combine_profile(
    s: CustomerState, a: CustomerState, ledger: _Ledger
) -> tuple[Profile, dict[str, ProfileValue]]:
    details, extra = dict(s.profile.details), dict(s.profile.extra)
    prior: dict[str, ProfileValue] = {}
    for kind, held, theirs, bound in (
        ("profile", details, a.profile.details, None),
        ("extra", extra, a.profile.extra, MAX_EXTRA_FIELDS),
    ):
        for name, value in theirs.items():
            mine = held.get(name)
            if not value.value or (mine is not None and mine.value):
                continue  # the survivor's value wins; a clearing fills nothing
            if mine is None and bound is not None and len(held) >= bound:
                continue
            if mine is not None:
                prior[f"{kind}:{name}"] = mine
            held[name] = value
            ledger.added.append(f"{kind}:{name}")
    profile = s.profile.model_copy(update={"details": details, "extra": extra})
    return profile, prior


def _combine_purchases(s: CustomerState, a: CustomerState, ledger: _Ledger) -> dict[str, object]:
    totals = s.purchase_totals
    for currency, total in a.purchase_totals.items():
        more = add_to_totals(totals, currency, total.amount, total.count)
        if more is not totals:
            ledger.added.append(f"currency:{currency}")
            totals = more
    products = s.products
    for product in a.products:
        more_products = add_product(products, product)
        if more_products is not products:
            ledger.added.append(f"product:{product}")
            products = more_products
    update: dict[str, object] = {"purchase_totals": totals, "products": products}
    if a.last_purchase is not None and a.last_purchase.later_than(s.last_purchase):
        ledger.added.append("last_purchase")
        update["last_purchase"] = a.last_purchase
    return update


def _digests(window: bytes) -> list[bytes]:
    return [window[i : i + DIGEST_BYTES] for i in range(0, len(window), DIGEST_BYTES)]


def _combine_digests(s: CustomerState, a: CustomerState) -> tuple[bytes, bytes]:
    """The absorbed profile's digests first: when the window is full, the survivor's own
    stay. Returns the window and the absorbed digests it took."""
    mine = s.recent_event_digests
    known = set(_digests(mine))
    theirs = b"".join(d for d in _digests(a.recent_event_digests) if d not in known)
    window = (theirs + mine)[-DEDUP_WINDOW * DIGEST_BYTES :]
    return window, window[: len(window) - len(mine)]


# -- split ----------------------------------------------------------------------------------


def split(
    merged: CustomerState, absorbed_snapshot: CustomerState, merge_event_id: str
) -> CustomerState:
    """`merged` without what the merge `merge_event_id` brought in from `absorbed_snapshot`
    (the absorbed profile as it was merged). Unknown merges change nothing."""
    record = next((m for m in merged.merges if m.merge_event_id == merge_event_id), None)
    if record is None:
        return merged
    m, a, added = merged, absorbed_snapshot, set(record.added)
    update: dict[str, object] = {}
    for name, kind in IDENTITY_FIELDS:
        update[name] = tuple(v for v in getattr(m, name) if f"{kind}:{v}" not in added)
    for name, _ in MOMENTS:
        update[name] = _restored_moment(record, name, getattr(m, name), getattr(a, name))
    for name in ADDED_COUNTS:
        update[name] = max(0, getattr(m, name) - getattr(a, name))
    update["contacts"] = _split_contacts(m, a, record, added)
    update["contact_days"] = _split_days(m, a, record)
    for bounded in BOUNDED:
        update[bounded.name] = _without(m, record, added, bounded)
    update["suppressions"] = tuple(
        x for x in m.suppressions if f"suppression:{x.suppression_id}" not in added
    )
    update["targets"] = _split_targets(m, a, record, added)
    update["consents"] = _split_consents(m, a, record, added)
    update["profile"] = _split_profile(m, a, record, added)
    update.update(_split_purchases(m, a, record, added))
    taken = set(_digests(record.added_digests))
    update["recent_event_digests"] = b"".join(
        d for d in _digests(m.recent_event_digests) if d not in taken
    )
    update["merges"] = tuple(x for x in m.merges if x is not record)
    return m.model_copy(update=update)


def _restored_moment(
    record: MergeRecord, key: str, current: datetime | None, theirs: datetime | None
) -> datetime | None:
    """The survivor's own moment, if the merge moved it and nothing moved it since."""
    if key in record.prior_moments and current == theirs:
        return record.prior_moments[key]
    return current


def _without(
    m: CustomerState, record: MergeRecord, added: set[str], bounded: Bounded
) -> tuple[Any, ...]:
    entries: Sequence[Any] = getattr(m, bounded.name)
    evicted: Sequence[Any] = getattr(record, bounded.evicted)
    kept = [x for x in entries if f"{bounded.kind}:{bounded.identity(x)}" not in added]
    # The survivor's entries the merge pushed out were its oldest: they go back in front.
    restored = [*evicted, *kept]
    if bounded.order is not None:
        restored.sort(key=bounded.order)
    return tuple(restored[-bounded.bound :])


def _split_contacts(
    m: CustomerState, a: CustomerState, record: MergeRecord, added: set[str]
) -> dict[str, ChannelContacts]:
    contacts = dict(m.contacts)
    for channel, theirs in a.contacts.items():
        current = contacts.get(channel)
        if current is None:
            continue
        left = ChannelContacts(
            inbound=max(0, current.inbound - theirs.inbound),
            outbound=max(0, current.outbound - theirs.outbound),
            last_contact_at=_restored_moment(
                record, f"contacts:{channel}", current.last_contact_at, theirs.last_contact_at
            ),
        )
        if f"channel:{channel}" in added and left == ChannelContacts():
            del contacts[channel]
        else:
            contacts[channel] = left
    return contacts


def _split_days(m: CustomerState, a: CustomerState, record: MergeRecord) -> dict[str, ContactDays]:
    result = dict(m.contact_days)
    for channel in sorted({*a.contact_days, *record.evicted_days}):
        by_day = {r.day: r for r in result.get(channel, ContactDays()).rows()}
        for row in a.contact_days.get(channel, ContactDays()).rows():
            if row.day in by_day:
                left = by_day[row.day].plus(row, -1)
                if left.contacts > 0:
                    by_day[row.day] = left
                else:
                    del by_day[row.day]
        for row in record.evicted_days.get(channel, ContactDays()).rows():
            by_day[row.day] = by_day[row.day].plus(row) if row.day in by_day else row
        kept = ContactDays.of(by_day.values())
        if kept.days:
            result[channel] = kept
        else:
            result.pop(channel, None)
    return result


def _split_targets(
    m: CustomerState, a: CustomerState, record: MergeRecord, added: set[str]
) -> tuple[TargetRecord, ...]:
    targets = list(m.targets)
    for theirs in a.targets:
        if f"target:{theirs.campaign_id}" not in added:
            continue
        at = next((i for i, t in enumerate(targets) if t == theirs), None)
        if at is None:
            continue  # a newer upload since the merge: the survivor's now
        prior = next((t for t in record.prior_targets if t.campaign_id == theirs.campaign_id), None)
        if prior is None:
            del targets[at]
        else:
            targets[at] = prior
    return tuple(targets)


def _split_consents(
    m: CustomerState, a: CustomerState, record: MergeRecord, added: set[str]
) -> tuple[ConsentRecord, ...]:
    by_key = {(c.channel, c.purpose): c for c in m.consents}
    for theirs in a.consents:
        key = (theirs.channel, theirs.purpose)
        if f"consent:{theirs.channel.value}/{theirs.purpose}" not in added:
            continue
        if by_key.get(key) != theirs:
            continue  # stated again since the merge
        prior = next((c for c in record.prior_consents if (c.channel, c.purpose) == key), None)
        if prior is None:
            del by_key[key]
        else:
            by_key[key] = prior
    return sort_consents(by_key.values())


def _split_profile(
    m: CustomerState, a: CustomerState, record: MergeRecord, added: set[str]
) -> Profile:
    details, extra = dict(m.profile.details), dict(m.profile.extra)
    for kind, held, theirs in (
        ("profile", details, a.profile.details),
        ("extra", extra, a.profile.extra),
    ):
        for name, value in theirs.items():
            key = f"{kind}:{name}"
            if key not in added or held.get(name) != value:
                continue
            prior = record.prior_profile.get(key)
            if prior is None:
                del held[name]
            else:
                held[name] = prior
    return m.profile.model_copy(update={"details": details, "extra": extra})


def _split_purchases(
    m: CustomerState, a: CustomerState, record: MergeRecord, added: set[str]
) -> dict[str, object]:
    totals = dict(m.purchase_totals)
    for currency, theirs in a.purchase_totals.items():
        current = totals.get(currency)
        if f"currency:{currency}" not in added or current is None:
            continue
        count = current.count - theirs.count
        if count <= 0:
            del totals[currency]
        else:
            amount = subtract_money(current.amount, theirs.amount)
            totals[currency] = CurrencyTotal(amount=amount, count=count)
    update: dict[str, object] = {
        "purchase_totals": totals,
        "products": tuple(p for p in m.products if f"product:{p}" not in added),
    }
    if "last_purchase" in added and m.last_purchase == a.last_purchase:
        update["last_purchase"] = record.prior_last_purchase
    return update


# -- marking the absorbed profile -------------------------------------------------------------


def mark_merged(
    absorbed: CustomerState, survivor_id: str, merge_event_id: str, merged_at: datetime
) -> CustomerState:
    """The absorbed profile, kept as it was, marked as folded into `survivor_id`."""
    return absorbed.model_copy(
        update={
            "merged_into": survivor_id,
            "merged_into_event_id": merge_event_id,
            "merged_into_at": to_millis(merged_at),
        }
    )


def mark_unmerged(absorbed: CustomerState, merge_event_id: str | None = None) -> CustomerState:
    """The absorbed profile itself again (undoes `mark_merged` exactly). Given a merge id,
    only that merge's mark is taken off."""
    if absorbed.merged_into is None:
        return absorbed
    if merge_event_id is not None and absorbed.merged_into_event_id != merge_event_id:
        return absorbed
    return absorbed.model_copy(
        update={"merged_into": None, "merged_into_event_id": None, "merged_into_at": None}
    )


def choose_survivor(a: CustomerState, b: CustomerState) -> tuple[CustomerState, CustomerState]:
    """(survivor, absorbed): a known customer id over an anonymous one, then the profile
    seen first, then the smaller id, so both sides of a link choose alike."""

    def rank(state: CustomerState) -> tuple[bool, bool, float, str]:
        seen = state.first_seen_at
        never = seen is None
        return (
            is_anonymous(state.customer_id),
            never,
            seen.timestamp() if seen else 0.0,
            state.customer_id,
        )

    survivor, absorbed = sorted((a, b), key=rank)
    return survivor, absorbed
