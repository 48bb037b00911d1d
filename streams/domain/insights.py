"""Value tier, churn risk and upsell score: explainable point rules over the state, at read time.

Every rule that fires adds (or takes) its points and is named in the result's `reasons`, so
an agent sees why. Scores are clamped to 0..100. Nothing is stored: each is computed from
the state and `now` when the customer is looked at.

Value tier (points; the tier is the highest whose threshold the sum reaches:
PLATINUM 70, GOLD 45, SILVER 20, else BRONZE):
- MANY_PURCHASES  +30  10 or more purchases (else SOME_PURCHASES +15 for 3 or more)
- LONG_TENURE     +25  a customer for 3 years or more (else TENURE +10 for 1 year or more)
- RECENT_PURCHASE +15  bought within the last 90 days
- PRODUCT_BREADTH +15  3 or more different products
- HIGH_SPEND      +25  spent at least HIGH_SPEND in one currency (currencies without a
                       threshold are not judged: no exchange rates here)

Churn risk:
- OPEN_COMPLAINT       +25  a complaint not resolved
- REPEAT_COMPLAINTS    +20  2 or more complaints in the last 90 days
- OPTED_OUT_ALL        +30  opted out of every channel (else OPTED_OUT_SOME +10)
- MARKETING_WITHDRAWN  +10  withdrew marketing consent on some channel
- INACTIVE             +15  no contact in the last 90 days
- LAPSED_BUYER         +15  bought before, but not in the last 180 days
- REPEAT_CONTACTS      +10  3 or more repeat contacts (within 7 days) in the last 90 days
- DECLINED_OFFERS      +10  declined 2 or more offers in the last 90 days
- OVERDUE              +10  an overdue balance
- ABUSIVE_LANGUAGE      +5  abusive language in the last 90 days
- RECENT_PURCHASE      -15  bought within the last 30 days

Upsell:
- ACCEPTED_OFFER       +25  accepted an offer in the last 180 days
- RECENT_PURCHASE      +20  bought within the last 90 days
- TENURE               +10  a customer for 1 year or more
- HIGH_VALUE           +15  value tier GOLD or PLATINUM
- MARKETING_CONSENT    +15  granted marketing consent on some channel
- BASELINE             +20  known to us: has bought, or contacted us in the last 90 days
- OPEN_COMPLAINT       -30  a complaint not resolved
- OVERDUE              -40  an overdue balance
- HIGH_CHURN_RISK      -20  churn risk of 60 or more
- DECLINED_RECENTLY    -15  declined an offer in the last 30 days
- ABUSIVE_LANGUAGE     -10  abusive language in the last 90 days
- OPTED_OUT_ALL       -100  opted out of every channel: no offer at all
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from streams.domain.alerts import counted
from streams.domain.contact_history import CONTACT_DAYS, repeats_in
from streams.domain.customer import CustomerState
from streams.domain.model import OfferResponseKind
from streams.domain.profile import MARKETING

# Value tier
MANY_PURCHASES, SOME_PURCHASES = 10, 3
LONG_TENURE_DAYS, TENURE_DAYS = 3 * 365, 365
RECENT_PURCHASE_DAYS = 90
PRODUCT_BREADTH = 3
HIGH_SPEND: Mapping[str, Decimal] = {
    "TRY": Decimal(100_000),
    "EUR": Decimal(3_000),
    "USD": Decimal(3_000),
    "GBP": Decimal(2_500),
    "RUB": Decimal(300_000),
    "AMD": Decimal(1_200_000),
}
TIERS = (("PLATINUM", 70), ("GOLD", 45), ("SILVER", 20), ("BRONZE", 0))

# Churn risk
COMPLAINT_WINDOW_DAYS = 90
REPEAT_COMPLAINTS = 2
INACTIVE_DAYS = 90
LAPSED_BUYER_DAYS = 180
REPEAT_CONTACTS = 3
DECLINED_OFFERS = 2
DECLINE_WINDOW_DAYS = 90
ABUSE_WINDOW_DAYS = 90
FRESH_PURCHASE_DAYS = 30

# Upsell
ACCEPTED_WINDOW_DAYS = 180
HIGH_CHURN_RISK = 60
RECENT_DECLINE_DAYS = 30
ACTIVE_DAYS = 90


@dataclass(frozen=True)
class Reason:
    rule: str
    points: int
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"rule": self.rule, "points": self.points, "detail": self.detail}


@dataclass(frozen=True)
class Score:
    score: int
    reasons: tuple[Reason, ...]

    def as_json(self) -> dict[str, object]:
        return {"score": self.score, "reasons": [r.as_json() for r in self.reasons]}


@dataclass(frozen=True)
class Tier:
    tier: str
    points: int
    reasons: tuple[Reason, ...]

    def as_json(self) -> dict[str, object]:
        return {
            "tier": self.tier,
            "points": self.points,
            "reasons": [r.as_json() for r in self.reasons],
        }


def _within(moment: datetime | None, now: datetime, days: int) -> bool:
    return moment is not None and now - timedelta(days=days) <= moment <= now


def _clamp(reasons: list[Reason]) -> Score:
    return Score(max(0, min(100, sum(r.points for r in reasons))), tuple(reasons))


def _tenure_days(state: CustomerState, now: datetime) -> int | None:
    return (now - state.customer_since).days if state.customer_since else None


def value_tier(state: CustomerState, now: datetime) -> Tier:
    reasons: list[Reason] = []
    count = state.purchase_count
    if count >= MANY_PURCHASES:
        reasons.append(Reason("MANY_PURCHASES", 30, f"{count} purchases"))
    elif count >= SOME_PURCHASES:
        reasons.append(Reason("SOME_PURCHASES", 15, f"{count} purchases"))
    tenure = _tenure_days(state, now)
    if tenure is not None and tenure >= LONG_TENURE_DAYS:
        reasons.append(Reason("LONG_TENURE", 25, f"a customer for {tenure // 365} years"))
    elif tenure is not None and tenure >= TENURE_DAYS:
        reasons.append(Reason("TENURE", 10, f"a customer for {tenure // 365} years"))
    if _within(state.last_purchase_at, now, RECENT_PURCHASE_DAYS):
        reasons.append(
            Reason("RECENT_PURCHASE", 15, f"bought in the last {RECENT_PURCHASE_DAYS} days")
        )
    if len(state.products) >= PRODUCT_BREADTH:
        reasons.append(Reason("PRODUCT_BREADTH", 15, counted(len(state.products), "product")))
    big = sorted(
        currency
        for currency, total in state.purchase_totals.items()
        if currency in HIGH_SPEND and Decimal(total.amount) >= HIGH_SPEND[currency]
    )
    if big:
        reasons.append(Reason("HIGH_SPEND", 25, f"high spend in {', '.join(big)}"))
    points = sum(r.points for r in reasons)
    tier = next(name for name, threshold in TIERS if points >= threshold)
    return Tier(tier, points, tuple(reasons))


def _complaints_within(state: CustomerState, now: datetime, days: int) -> int:
    return sum(1 for c in state.complaints if _within(c.opened_at, now, days))


def _declines_within(state: CustomerState, now: datetime, days: int) -> int:
    return sum(
        1
        for o in state.offers
        if o.response is OfferResponseKind.DECLINED and _within(o.responded_at, now, days)
    )


def churn_risk(state: CustomerState, now: datetime) -> Score:
    reasons: list[Reason] = []
    open_complaints = sum(1 for c in state.complaints if c.is_open)
    if open_complaints:
        detail = counted(open_complaints, "open complaint")
        reasons.append(Reason("OPEN_COMPLAINT", 25, detail))
    recent = _complaints_within(state, now, COMPLAINT_WINDOW_DAYS)
    if recent >= REPEAT_COMPLAINTS:
        detail = f"{recent} complaints in {COMPLAINT_WINDOW_DAYS} days"
        reasons.append(Reason("REPEAT_COMPLAINTS", 20, detail))
    if state.opted_out_all:
        reasons.append(Reason("OPTED_OUT_ALL", 30, "opted out of every channel"))
    elif state.opted_out_channels:
        channels = ", ".join(c.value for c in state.opted_out_channels)
        reasons.append(Reason("OPTED_OUT_SOME", 10, f"opted out of {channels}"))
    withdrawn = sorted(
        c.channel.value for c in state.consents if c.purpose == MARKETING and not c.granted
    )
    if withdrawn:
        detail = f"marketing consent withdrawn on {', '.join(withdrawn)}"
        reasons.append(Reason("MARKETING_WITHDRAWN", 10, detail))
    if state.last_seen_at is not None and not _within(state.last_seen_at, now, INACTIVE_DAYS):
        reasons.append(Reason("INACTIVE", 15, f"no contact in {INACTIVE_DAYS} days"))
    if state.purchase_count and not _within(state.last_purchase_at, now, LAPSED_BUYER_DAYS):
        reasons.append(Reason("LAPSED_BUYER", 15, f"no purchase in {LAPSED_BUYER_DAYS} days"))
    _, repeats_7d = repeats_in(state.contact_days.values(), now)
    if repeats_7d >= REPEAT_CONTACTS:
        detail = f"{repeats_7d} repeat contacts in {CONTACT_DAYS} days"
        reasons.append(Reason("REPEAT_CONTACTS", 10, detail))
    declines = _declines_within(state, now, DECLINE_WINDOW_DAYS)
    if declines >= DECLINED_OFFERS:
        detail = f"{declines} offers declined in {DECLINE_WINDOW_DAYS} days"
        reasons.append(Reason("DECLINED_OFFERS", 10, detail))
    if state.profile.overdue(now) is not None:
        reasons.append(Reason("OVERDUE", 10, "overdue balance"))
    if _within(state.last_abusive_at, now, ABUSE_WINDOW_DAYS):
        reasons.append(Reason("ABUSIVE_LANGUAGE", 5, f"in the last {ABUSE_WINDOW_DAYS} days"))
    if _within(state.last_purchase_at, now, FRESH_PURCHASE_DAYS):
        detail = f"bought in the last {FRESH_PURCHASE_DAYS} days"
        reasons.append(Reason("RECENT_PURCHASE", -15, detail))
    return _clamp(reasons)


def upsell(state: CustomerState, now: datetime, churn: Score | None = None) -> Score:
    reasons: list[Reason] = []
    churn = churn or churn_risk(state, now)
    active = state.purchase_count > 0 or _within(state.last_seen_at, now, ACTIVE_DAYS)
    if active:
        reasons.append(Reason("BASELINE", 20, "a customer we know"))
    accepted = [
        o
        for o in state.offers
        if o.response is OfferResponseKind.ACCEPTED
        and _within(o.responded_at, now, ACCEPTED_WINDOW_DAYS)
    ]
    if accepted:
        detail = f"{counted(len(accepted), 'offer')} accepted in {ACCEPTED_WINDOW_DAYS} days"
        reasons.append(Reason("ACCEPTED_OFFER", 25, detail))
    if _within(state.last_purchase_at, now, RECENT_PURCHASE_DAYS):
        detail = f"bought in the last {RECENT_PURCHASE_DAYS} days"
        reasons.append(Reason("RECENT_PURCHASE", 20, detail))
    tenure = _tenure_days(state, now)
    if tenure is not None and tenure >= TENURE_DAYS:
        reasons.append(Reason("TENURE", 10, f"a customer for {tenure // 365} years"))
    tier = value_tier(state, now)
    if tier.tier in ("GOLD", "PLATINUM"):
        reasons.append(Reason("HIGH_VALUE", 15, f"value tier {tier.tier}"))
    granted = sorted(
        c.channel.value for c in state.consents if c.purpose == MARKETING and c.granted
    )
    if granted:
        detail = f"marketing consent on {', '.join(granted)}"
        reasons.append(Reason("MARKETING_CONSENT", 15, detail))
    if any(c.is_open for c in state.complaints):
        reasons.append(Reason("OPEN_COMPLAINT", -30, "a complaint is open"))
    if state.profile.overdue(now) is not None:
        reasons.append(Reason("OVERDUE", -40, "overdue balance"))
    if churn.score >= HIGH_CHURN_RISK:
        reasons.append(Reason("HIGH_CHURN_RISK", -20, f"churn risk {churn.score}"))
    if _declines_within(state, now, RECENT_DECLINE_DAYS):
        detail = f"declined an offer in the last {RECENT_DECLINE_DAYS} days"
        reasons.append(Reason("DECLINED_RECENTLY", -15, detail))
    if _within(state.last_abusive_at, now, ABUSE_WINDOW_DAYS):
        reasons.append(Reason("ABUSIVE_LANGUAGE", -10, f"in the last {ABUSE_WINDOW_DAYS} days"))
    if state.opted_out_all:
        reasons.append(Reason("OPTED_OUT_ALL", -100, "opted out of every channel"))
    return _clamp(reasons)


@dataclass(frozen=True)
class Insights:
    value_tier: Tier
    churn_risk: Score
    upsell: Score

    def as_json(self) -> dict[str, object]:
        return {
            "value_tier": self.value_tier.as_json(),
            "churn_risk": self.churn_risk.as_json(),
            "upsell": self.upsell.as_json(),
        }


def insights(state: CustomerState, now: datetime) -> Insights:
    churn = churn_risk(state, now)
    return Insights(value_tier(state, now), churn, upsell(state, now, churn))
