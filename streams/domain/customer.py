"""Customer state (the single customer view) and `evolve`, the pure fold of facts into it."""

from __future__ import annotations

import hashlib
from datetime import datetime

from pydantic import AwareDatetime, ConfigDict, Field

from streams.domain.contact_history import (
    COMPLAINT_ID_KEY,
    OPEN,
    REPEAT_WITHIN_DAY,
    REPEAT_WITHIN_WEEK,
    ContactDays,
    TimelineEntry,
    complaint_status,
    count_day,
    epoch_day,
    insert_entry,
    previous_inbound,
    timeline_entry,
)
from streams.domain.events import (
    CampaignTarget,
    Complaint,
    Interaction,
    Message,
    OfferPresented,
    OfferResponse,
    OptOut,
    ProfileUpdate,
    Purchase,
)
from streams.domain.flags import (
    DEFAULT_ABUSE_LEXICON,
    AbuseLexicon,
    ComplaintRecord,
    record_complaint,
)
from streams.domain.links import CONTEXT_KIND
from streams.domain.model import (
    Channel,
    Direction,
    Fact,
    Int32,
    OfferResponseKind,
    SuppressionReason,
)
from streams.domain.profile import (
    ConsentRecord,
    Profile,
    ProfileValue,
    apply_profile_update,
    withdraw_marketing,
)
from streams.domain.purchases import (
    MAX_PRODUCT_CHARS,
    CurrencyTotal,
    PurchaseRecord,
    add_product,
    add_to_totals,
    money,
)

# Bounds keep one customer's state small enough to read and write on every event.
MAX_OFFERS = 50
MAX_CONTEXTS = 5
MAX_CONTEXT_LOCATIONS = 20
MAX_JOINS = 10
# A message the vendor reports as not delivered cannot have been answered.
UNDELIVERED = frozenset({"undelivered", "failed", "bounce", "dropped", "rejected", "expired"})
# Call statuses of a call still in progress: a later callback reports how it ended.
CALL_IN_PROGRESS = frozenset({"queued", "initiated", "ringing", "in-progress"})
MAX_IDENTITIES_PER_KIND = 10
DEDUP_WINDOW = 128
DIGEST_BYTES = 8


def event_digest(event_id: str) -> bytes:
    """A short fixed-size fingerprint of an event id: the de-duplication window stores
    these instead of the ids, so state stays small whatever producers use as ids."""
    return hashlib.blake2b(event_id.encode(), digest_size=DIGEST_BYTES).digest()


class ChannelContacts(Fact):
    inbound: int = 0
    outbound: int = 0
    last_contact_at: AwareDatetime | None = None


class OfferRecord(Fact):
    campaign_id: str
    offer_id: str | None = None
    channel: Channel
    presented_at: AwareDatetime
    event_id: str
    response: OfferResponseKind | None = None
    responded_at: AwareDatetime | None = None
    response_event_id: str | None = None
    delivery_status: str | None = None


class ContextRecord(Fact):
    """A click-to-chat or click-to-call context, and the contacts that presented it."""

    token: str
    requested: str
    channel: Channel
    created_at: AwareDatetime
    event_id: str
    locations: tuple[str, ...] = ()
    latitude: float | None = None
    longitude: float | None = None
    joined_event_ids: tuple[str, ...] = ()


class TargetRecord(Fact):
    campaign_id: str
    phone: str | None = None
    priority: Int32 = 0
    uploaded_at: AwareDatetime
    upload_id: str


class SuppressionRecord(Fact):
    suppression_id: str
    campaign_id: str
    reason: SuppressionReason
    channels: tuple[Channel, ...] = ()
    source_event_id: str
    decided_at: AwareDatetime
    lifted_at: AwareDatetime | None = None  # the contact rules allowed contact again

    def covers(self, channel: Channel) -> bool:
        return self.lifted_at is None and (not self.channels or channel in self.channels)


class PolicyHold(Fact):
    """A campaign the contact rules keep this customer off the dial list for, and why:
    the first rule that forbade calling, until when (None: until a new fact), under which
    policy version, since which event."""

    campaign_id: str
    rule: str
    code: str
    reason: SuppressionReason
    detail: str
    until: AwareDatetime | None = None
    since: AwareDatetime
    policy_version: Int32 | None = None
    source_event_id: str
    suppression_id: str


class DecisionRecord(Fact):
    """One decision about this customer, kept for the audit (`GET .../decisions`)."""

    decision_id: str
    kind: str  # SUPPRESSED, LIFTED, LISTED or UNLISTED
    campaign_id: str
    rule: str
    reason: str | None = None
    channels: tuple[Channel, ...] = ()
    source_event_id: str
    policy_version: Int32 | None = None
    decided_at: AwareDatetime
    until: AwareDatetime | None = None
    detail: str | None = None


class MergeRecord(Fact):
    """A profile folded into this one, and what `merge.split` needs to take it out again:
    what came from it (`added`: namespaced keys such as `phone:+90...`, `offer:<event id>`),
    and the survivor's own values and entries the merge replaced or pushed out."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    absorbed_customer_id: str
    merge_event_id: str
    merged_at: AwareDatetime
    absorbed_events_applied: int = 0
    added: tuple[str, ...] = ()
    prior_moments: dict[str, AwareDatetime | None] = Field(default_factory=dict)
    prior_last_purchase: PurchaseRecord | None = None
    prior_profile: dict[str, ProfileValue] = Field(default_factory=dict)
    prior_consents: tuple[ConsentRecord, ...] = ()
    prior_targets: tuple[TargetRecord, ...] = ()
    evicted_offers: tuple[OfferRecord, ...] = ()
    evicted_contexts: tuple[ContextRecord, ...] = ()
    evicted_complaints: tuple[ComplaintRecord, ...] = ()
    evicted_timeline: tuple[TimelineEntry, ...] = ()
    evicted_days: dict[str, ContactDays] = Field(default_factory=dict)
    added_digests: bytes = b""


class CustomerState(Fact):
    """Everything known about one customer, folded from their events. Every collection is
    bounded: the state is read and written on every event."""

    model_config = ConfigDict(
        frozen=True, extra="forbid", ser_json_bytes="base64", val_json_bytes="base64"
    )

    customer_id: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()
    first_seen_at: AwareDatetime | None = None
    last_seen_at: AwareDatetime | None = None
    contacts: dict[str, ChannelContacts] = Field(default_factory=dict)
    offers: tuple[OfferRecord, ...] = ()
    complaint_count: int = 0
    last_complaint_at: AwareDatetime | None = None
    opted_out_channels: tuple[Channel, ...] = ()
    opted_out_all: bool = False
    purchase_count: int = 0
    last_purchase_at: AwareDatetime | None = None
    targets: tuple[TargetRecord, ...] = ()
    suppressions: tuple[SuppressionRecord, ...] = ()
    recent_event_digests: bytes = b""
    events_applied: int = 0
    contexts: tuple[ContextRecord, ...] = ()
    devices: tuple[str, ...] = ()
    social: tuple[str, ...] = ()
    # Personal details and consents (streams.domain.profile).
    profile: Profile = Field(default_factory=Profile)
    consents: tuple[ConsentRecord, ...] = ()
    # Purchase history (streams.domain.purchases).
    customer_since: AwareDatetime | None = None
    purchase_totals: dict[str, CurrencyTotal] = Field(default_factory=dict)  # by currency
    last_purchase: PurchaseRecord | None = None
    products: tuple[str, ...] = ()
    # Contact history (streams.domain.contact_history): daily counts by channel name...
    contact_days: dict[str, ContactDays] = Field(default_factory=dict)
    # Flags (streams.domain.flags).
    complaints: tuple[ComplaintRecord, ...] = ()
    abusive_count: Int32 = 0
    last_abusive_at: AwareDatetime | None = None
    # ... and the timeline of the latest contacts, oldest first.
    timeline: tuple[TimelineEntry, ...] = ()
    # Identity resolution (streams.domain.merge): set on a profile folded into another...
    merged_into: str | None = None
    merged_into_event_id: str | None = None
    merged_into_at: AwareDatetime | None = None
    # ... and, on the survivor, the profiles folded into it.
    merges: tuple[MergeRecord, ...] = ()
    # Contact policy (streams.domain.contact_holds): the campaigns the rules hold this
    # customer off the dial list for, the decisions taken (the audit, latest last), and
    # when the rules must be asked again without any new event (a hold ends, quiet hours
    # begin).
    holds: tuple[PolicyHold, ...] = ()
    decision_log: tuple[DecisionRecord, ...] = ()
    wake_at: AwareDatetime | None = None

    @classmethod
    def new(cls, customer_id: str) -> CustomerState:
        return cls(customer_id=customer_id)

    def consent(self, channel: Channel, purpose: str) -> ConsentRecord | None:
        return next(
            (c for c in self.consents if c.channel == channel and c.purpose == purpose), None
        )

    def has_seen(self, event_id: str) -> bool:
        window, digest = self.recent_event_digests, event_digest(event_id)
        at = window.find(digest)
        while at != -1 and at % DIGEST_BYTES:
            at = window.find(digest, at + 1)
        return at != -1

    def opted_out_of(self, channel: Channel) -> bool:
        return self.opted_out_all or channel in self.opted_out_channels

    def target(self, campaign_id: str) -> TargetRecord | None:
        return next((t for t in self.targets if t.campaign_id == campaign_id), None)

    def suppression(self, campaign_id: str, channel: Channel) -> SuppressionRecord | None:
        return next(
            (s for s in self.suppressions if s.campaign_id == campaign_id and s.covers(channel)),
            None,
        )

    def is_suppressed(self, campaign_id: str, channel: Channel) -> bool:
        return self.suppression(campaign_id, channel) is not None

    def dial_list_campaigns(self) -> dict[str, TargetRecord]:
        """Campaigns whose outbound dial list this customer belongs on, with the target."""
        if self.opted_out_of(Channel.VOICE):
            return {}
        held = {h.campaign_id for h in self.holds}
        return {
            t.campaign_id: t
            for t in self.targets
            if t.campaign_id not in held and not self.is_suppressed(t.campaign_id, Channel.VOICE)
        }

    def open_offer(
        self, channel: Channel, at: datetime, window_seconds: float
    ) -> OfferRecord | None:
        """The most recent offer on `channel` still awaiting an answer at `at`."""
        candidates = [
            o
            for o in self.offers
            if o.channel == channel
            and o.response is None
            and o.delivery_status not in UNDELIVERED
            and o.presented_at <= at
            and (at - o.presented_at).total_seconds() <= window_seconds
        ]
        return max(candidates, key=lambda o: o.presented_at, default=None)


def _add_identity(known: tuple[str, ...], value: str | None) -> tuple[str, ...]:
    if not value or value in known or len(known) >= MAX_IDENTITIES_PER_KIND:
        return known
    return (*known, value)


def _later(known: datetime | None, moment: datetime) -> datetime:
    """Events may arrive out of order: keep the latest moment seen."""
    return moment if known is None else max(known, moment)


def _earlier(known: datetime | None, moment: datetime) -> datetime:
    return moment if known is None else min(known, moment)


def counts_as_contact(event: Interaction) -> bool:
    """A status report (a delivery receipt, a call still ringing) is not a contact of its
    own: the message or call it reports on is, once."""
    if event.delivery is not None:
        return False
    return event.call is None or event.call.status not in CALL_IN_PROGRESS


def _touch(state: CustomerState, event: Interaction) -> dict[str, object]:
    """Identity, contact-history and bookkeeping changes every interaction makes."""
    ref = event.customer
    channel = event.channel.value
    stats = state.contacts.get(channel, ChannelContacts())
    update: dict[str, object] = {
        "phones": _add_identity(state.phones, ref.phone),
        "emails": _add_identity(state.emails, ref.email),
        "accounts": _add_identity(state.accounts, ref.account),
        "devices": _add_identity(state.devices, ref.device),
        "social": _add_identity(state.social, ref.social),
        "first_seen_at": _earlier(state.first_seen_at, event.occurred_at),
        "last_seen_at": _later(state.last_seen_at, event.occurred_at),
        "recent_event_digests": (state.recent_event_digests + event_digest(event.event_id))[
            -DEDUP_WINDOW * DIGEST_BYTES :
        ],
        "events_applied": state.events_applied + 1,
    }
    if counts_as_contact(event):
        inbound = event.direction is Direction.INBOUND
        stats = ChannelContacts(
            inbound=stats.inbound + (1 if inbound else 0),
            outbound=stats.outbound + (0 if inbound else 1),
            last_contact_at=_later(stats.last_contact_at, event.occurred_at),
        )
        update.update(_contact_history(state, event, inbound))
    update["contacts"] = {**state.contacts, channel: stats}
    return update


def _contact_history(state: CustomerState, event: Interaction, inbound: bool) -> dict[str, object]:
    """The contact on its day's count and in the timeline. Whether it repeats an earlier
    contact is decided now, against the timeline as it is."""
    entry = timeline_entry(event)
    gap = None
    if inbound:
        previous = previous_inbound(state.timeline, entry)
        gap = None if previous is None else event.occurred_at - previous
    channel = event.channel.value
    days = count_day(
        state.contact_days.get(channel, ContactDays()),
        epoch_day(event.occurred_at),
        inbound=inbound,
        repeat_24h=gap is not None and gap <= REPEAT_WITHIN_DAY,
        repeat_7d=gap is not None and gap <= REPEAT_WITHIN_WEEK,
    )
    update: dict[str, object] = {"contact_days": {**state.contact_days, channel: days}}
    # A redelivery from beyond the de-duplication window is counted again (as it always
    # was), but the timeline shows one contact once.
    if not any(e.event_id == entry.event_id for e in state.timeline):
        update["timeline"] = insert_entry(state.timeline, entry)
    return update


def record_response(
    state: CustomerState,
    campaign_id: str,
    response: OfferResponseKind,
    event: Interaction,
    offer: OfferRecord | None = None,
) -> CustomerState:
    """Mark the answered offer; an answer without a known offer is kept as its own record."""
    if offer is None:
        offer = next(
            (
                o
                for o in reversed(state.offers)
                if o.campaign_id == campaign_id and o.response is None
            ),
            None,
        )
    answered = OfferRecord(
        campaign_id=campaign_id,
        offer_id=offer.offer_id if offer else None,
        channel=offer.channel if offer else event.channel,
        presented_at=offer.presented_at if offer else event.occurred_at,
        event_id=offer.event_id if offer else event.event_id,
        response=response,
        responded_at=event.occurred_at,
        response_event_id=event.event_id,
    )
    if offer is None:
        offers = (*state.offers, answered)[-MAX_OFFERS:]
    else:
        offers = tuple(answered if o is offer else o for o in state.offers)
    return state.model_copy(update={"offers": offers})


def record_opt_out(
    state: CustomerState, channels: tuple[Channel, ...], event: Interaction | None = None
) -> CustomerState:
    """Opt the customer out of `channels` (every channel when empty). Given the event
    that said so, marketing consent on those channels is withdrawn too, naming it."""
    consents = state.consents
    if event is not None:
        consents = withdraw_marketing(consents, channels, event.occurred_at, event.event_id)
    if not channels:
        return state.model_copy(update={"opted_out_all": True, "consents": consents})
    merged = tuple(sorted(set(state.opted_out_channels) | set(channels)))
    return state.model_copy(update={"opted_out_channels": merged, "consents": consents})


def record_delivery(state: CustomerState, message_id: str, status: str) -> CustomerState:
    """The vendor's latest word on an outbound offer message. Callbacks can arrive out of
    order, so a delivery that failed is not overwritten by an earlier "sent"."""
    offers = state.offers
    for offer in offers:
        if offer.event_id == message_id and offer.delivery_status not in UNDELIVERED:
            updated = offer.model_copy(update={"delivery_status": status})
            offers = tuple(updated if o is offer else o for o in offers)
    return state if offers is state.offers else state.model_copy(update={"offers": offers})


def record_context(state: CustomerState, event: Interaction) -> CustomerState:
    context = event.context
    assert context is not None
    if any(c.token == context.token for c in state.contexts):
        return state
    record = ContextRecord(
        token=context.token,
        requested=context.requested,
        channel=event.channel,
        created_at=event.occurred_at,
        event_id=event.event_id,
        locations=tuple(v.location for v in context.visits)[-MAX_CONTEXT_LOCATIONS:],
        latitude=context.latitude,
        longitude=context.longitude,
    )
    return state.model_copy(update={"contexts": (*state.contexts, record)[-MAX_CONTEXTS:]})


def join_context(state: CustomerState, token: str, event_id: str) -> CustomerState:
    """A later contact presented the token: join it to that context."""
    contexts = tuple(
        c.model_copy(update={"joined_event_ids": (*c.joined_event_ids, event_id)[-MAX_JOINS:]})
        if c.token == token and event_id not in c.joined_event_ids and c.event_id != event_id
        else c
        for c in state.contexts
    )
    return state.model_copy(update={"contexts": contexts})


def new_identities(before: CustomerState, after: CustomerState) -> list[tuple[str, str]]:
    """(kind, value) identities `after` knows and `before` did not: each one is linked to
    the customer so later events that carry only it find their way here."""
    found: list[tuple[str, str]] = []
    for kind, known, now_known in (
        ("phone", before.phones, after.phones),
        ("email", before.emails, after.emails),
        ("account", before.accounts, after.accounts),
        ("device", before.devices, after.devices),
        ("social", before.social, after.social),
        (
            CONTEXT_KIND,
            tuple(c.token for c in before.contexts),
            tuple(c.token for c in after.contexts),
        ),
    ):
        found.extend((kind, value) for value in now_known if value not in known)
    return found


def evolve(
    state: CustomerState,
    fact: Interaction | CampaignTarget,
    *,
    lexicon: AbuseLexicon = DEFAULT_ABUSE_LEXICON,
) -> CustomerState:
    """Fold one fact into the customer's state. Pure; a fact already seen changes nothing.
    `lexicon` names the words that mark an inbound message as abusive."""
    if isinstance(fact, CampaignTarget):
        return _evolve_target(state, fact)
    if state.has_seen(fact.event_id):
        return state
    state = state.model_copy(update=_touch(state, fact))
    if fact.delivery is not None:
        state = record_delivery(state, fact.delivery.message_id, fact.delivery.status)
    if fact.context is not None:
        state = record_context(state, fact)
    if fact.context_token is not None:
        state = join_context(state, fact.context_token, fact.event_id)
    payload = fact.payload
    match payload:
        case OfferPresented():
            offer = OfferRecord(
                campaign_id=payload.campaign_id,
                offer_id=payload.offer_id,
                channel=fact.channel,
                presented_at=fact.occurred_at,
                event_id=fact.event_id,
            )
            return state.model_copy(update={"offers": (*state.offers, offer)[-MAX_OFFERS:]})
        case OfferResponse():
            return record_response(state, payload.campaign_id, payload.response, fact)
        case Complaint():
            return _record_complaint(state, fact, payload)
        case OptOut():
            return record_opt_out(state, tuple(payload.channels), fact)
        case Purchase():
            return _record_purchase(state, fact, payload)
        case ProfileUpdate():
            profile, consents = apply_profile_update(
                state.profile, state.consents, payload.fields, fact.occurred_at, fact.event_id
            )
            if profile is state.profile and consents is state.consents:
                return state
            return state.model_copy(update={"profile": profile, "consents": consents})
        case Message() if fact.direction is Direction.INBOUND and lexicon:
            if not lexicon.matches(payload.text):
                return state
            # Only that it happened is kept: the words are the customer's personal data.
            return state.model_copy(
                update={
                    "abusive_count": state.abusive_count + 1,
                    "last_abusive_at": _later(state.last_abusive_at, fact.occurred_at),
                }
            )
        case _:
            return state


def _record_complaint(
    state: CustomerState, event: Interaction, payload: Complaint
) -> CustomerState:
    complaints, new = record_complaint(state.complaints, event, payload)
    update: dict[str, object] = {"complaints": complaints}
    if new:
        update["complaint_count"] = state.complaint_count + 1
    # News that a known complaint was resolved is not a complaint of its own; one
    # reported as resolved already (no complaint id to refer to) is.
    if complaint_status(event) == OPEN or not event.metadata.get(COMPLAINT_ID_KEY):
        update["last_complaint_at"] = _later(state.last_complaint_at, event.occurred_at)
    return state.model_copy(update=update)


def _record_purchase(state: CustomerState, event: Interaction, payload: Purchase) -> CustomerState:
    product = (payload.product or "").strip()[:MAX_PRODUCT_CHARS] or None
    record = PurchaseRecord(
        at=event.occurred_at,
        amount=money(payload.amount),
        currency=payload.currency,
        product=product,
        event_id=event.event_id,
    )
    update: dict[str, object] = {
        "purchase_count": state.purchase_count + 1,
        "last_purchase_at": _later(state.last_purchase_at, event.occurred_at),
        "customer_since": _earlier(state.customer_since, event.occurred_at),
        "purchase_totals": add_to_totals(state.purchase_totals, payload.currency, payload.amount),
        "products": add_product(state.products, product),
    }
    if record.later_than(state.last_purchase):
        update["last_purchase"] = record
    return state.model_copy(update=update)


def _evolve_target(state: CustomerState, target: CampaignTarget) -> CustomerState:
    record = TargetRecord(
        campaign_id=target.campaign_id,
        phone=target.phone,
        priority=target.priority,
        uploaded_at=target.uploaded_at,
        upload_id=target.upload_id,
    )
    current = state.target(target.campaign_id)
    # A redelivery, or a replay of an older upload, must not undo a newer one. Uploads in
    # the same millisecond cannot be ordered by time: the later delivered wins.
    if current is not None and (
        current.upload_id == record.upload_id or current.uploaded_at > record.uploaded_at
    ):
        return state
    others = tuple(t for t in state.targets if t.campaign_id != target.campaign_id)
    return state.model_copy(
        update={
            "targets": (*others, record),
            "phones": _add_identity(state.phones, target.phone),
        }
    )
