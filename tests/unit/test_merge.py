"""Merging two profiles of one person and undoing it: survivor rules and their inverse."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from streams.domain.contact_history import CONTACT_DAYS, MAX_TIMELINE
from streams.domain.customer import (
    DEDUP_WINDOW,
    DIGEST_BYTES,
    MAX_IDENTITIES_PER_KIND,
    MAX_OFFERS,
    CustomerState,
    evolve,
)
from streams.domain.events import (
    CampaignTarget,
    Complaint,
    Interaction,
    Message,
    OfferPresented,
    OptOut,
    ProfileUpdate,
    Purchase,
)
from streams.domain.merge import (
    MAX_MERGES,
    choose_survivor,
    combine,
    mark_merged,
    mark_unmerged,
    split,
)
from streams.domain.model import Channel, Direction
from streams.domain.single_view import single_customer_view
from streams.wire.serialization import AvroSerializer
from tests.factories import T0, interaction
from tests.unit.test_customer_state import PROPERTY, histories

SURVIVOR, ABSORBED = "c-42", "anon-7f3a"
MERGED_AT = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SERIALIZER = AvroSerializer()
# Opt-outs are deliberately kept by a split (see streams.domain.merge).
KEPT_BY_SPLIT = {"opted_out_channels", "opted_out_all"}

Fact = Interaction | CampaignTarget


def fold(customer_id: str, *facts: Fact) -> CustomerState:
    state = CustomerState.new(customer_id)
    for fact in facts:
        state = evolve(state, fact)
    return state


def of(customer_id: str, event_id: str, payload: Any, **kwargs: Any) -> Interaction:
    return interaction(event_id, payload, customer_id=customer_id, **kwargs)


def merged(
    survivor: CustomerState, absorbed: CustomerState, merge_id: str = "M-1"
) -> CustomerState:
    return combine(survivor, absorbed, merge_event_id=merge_id, merged_at=MERGED_AT)


def comparable(state: CustomerState) -> dict[str, Any]:
    return state.model_dump(exclude=KEPT_BY_SPLIT)


# -- properties -------------------------------------------------------------------------------


@PROPERTY
@given(
    # Long enough that the timeline's bound is reached and pushes survivor entries out.
    a=histories(customer_id=SURVIVOR, prefix="a", max_size=45),
    b=histories(customer_id=ABSORBED, prefix="b", max_size=45),
)
def test_split_undoes_combine(a: list[Fact], b: list[Fact]) -> None:
    survivor, absorbed = fold(SURVIVOR, *a), fold(ABSORBED, *b)
    together = merged(survivor, absorbed)
    apart = split(together, absorbed, "M-1")
    assert comparable(apart) == comparable(survivor)
    assert set(apart.opted_out_channels) == {
        *survivor.opted_out_channels,
        *absorbed.opted_out_channels,
    }
    assert apart.opted_out_all == (survivor.opted_out_all or absorbed.opted_out_all)


@PROPERTY
@given(
    a=histories(customer_id=SURVIVOR, prefix="a"),
    b=histories(customer_id=ABSORBED, prefix="b"),
)
def test_combine_is_deterministic_bounded_and_storable(a: list[Fact], b: list[Fact]) -> None:
    survivor, absorbed = fold(SURVIVOR, *a), fold(ABSORBED, *b)
    together = merged(survivor, absorbed)
    assert together == merged(survivor, absorbed)
    assert together.customer_id == SURVIVOR
    assert together.events_applied == survivor.events_applied + absorbed.events_applied
    assert together.complaint_count == survivor.complaint_count + absorbed.complaint_count
    assert together.purchase_count == survivor.purchase_count + absorbed.purchase_count
    for channel, stats in together.contacts.items():
        parts = [s.contacts[channel] for s in (survivor, absorbed) if channel in s.contacts]
        assert stats.inbound == sum(p.inbound for p in parts)
        assert stats.outbound == sum(p.outbound for p in parts)
    assert len(together.timeline) <= MAX_TIMELINE
    assert len(together.offers) <= MAX_OFFERS
    assert len(together.recent_event_digests) <= DEDUP_WINDOW * DIGEST_BYTES
    assert all(len(ids) <= MAX_IDENTITIES_PER_KIND for ids in (together.phones, together.emails))
    assert [e.order for e in together.timeline] == sorted(e.order for e in together.timeline)
    first = [s.first_seen_at for s in (survivor, absorbed) if s.first_seen_at]
    assert together.first_seen_at == (min(first) if first else None)
    assert SERIALIZER.decode_model(SERIALIZER.encode_model(together)) == together
    # Every event of both is known to the merged profile's de-duplication.
    for fact in (*a, *b):
        if isinstance(fact, Interaction):
            assert together.has_seen(fact.event_id)


@PROPERTY
@given(
    a=histories(customer_id=SURVIVOR, prefix="a"),
    b=histories(customer_id=ABSORBED, prefix="b"),
    after=histories(customer_id=SURVIVOR, prefix="z", max_size=5),
)
def test_what_happened_after_the_merge_stays(
    a: list[Fact], b: list[Fact], after: list[Fact]
) -> None:
    survivor, absorbed = fold(SURVIVOR, *a), fold(ABSORBED, *b)
    together = merged(survivor, absorbed)
    for fact in after:
        together = evolve(together, fact)
    apart = split(together, absorbed, "M-1")
    alone = fold(SURVIVOR, *a, *after)
    assert apart.events_applied == alone.events_applied
    assert apart.purchase_count == alone.purchase_count
    later = [f.event_id for f in after if isinstance(f, Interaction)]
    assert all(apart.has_seen(event_id) for event_id in later)
    assert not any(e.event_id.startswith("b-") for e in apart.timeline)
    assert {e.event_id for e in alone.timeline} >= {e.event_id for e in apart.timeline}


# -- survivor rules ---------------------------------------------------------------------------


class TestCombine:
    def test_identities_are_unioned_survivor_first(self) -> None:
        survivor = fold(SURVIVOR, of(SURVIVOR, "a1", Message(text="hi"), email="a@example.com"))
        absorbed = fold(
            ABSORBED,
            of(ABSORBED, "b1", Message(text="hi"), phone="+905551112233", email="a@example.com"),
        )
        together = merged(survivor, absorbed)
        assert together.phones == ("+905321234567", "+905551112233")
        assert together.emails == ("a@example.com",)
        assert together.merges[0].added == ("phone:+905551112233", "timeline:b1")

    def test_the_survivors_details_win_and_the_absorbed_fill_the_gaps(self) -> None:
        survivor = fold(
            SURVIVOR,
            of(SURVIVOR, "a1", ProfileUpdate(fields={"city": "Ankara", "language": ""})),
        )
        absorbed = fold(
            ABSORBED,
            of(
                ABSORBED,
                "b1",
                ProfileUpdate(
                    fields={"city": "Van", "language": "ku", "name": "Ayşe", "pet": "cat"}
                ),
                at=T0 + timedelta(days=1),  # newer, and still the survivor's value wins
            ),
        )
        profile = single_customer_view(merged(survivor, absorbed), NOW)["profile"]
        assert (profile["city"], profile["language"], profile["name"]) == ("Ankara", "ku", "Ayşe")
        assert profile["extra"] == {"pet": "cat"}

    def test_counts_and_totals_add_up_and_moments_combine(self) -> None:
        survivor = fold(
            SURVIVOR,
            of(SURVIVOR, "a1", Purchase(amount=Decimal("10.10"), currency="TRY", product="card")),
            of(SURVIVOR, "a2", Complaint(category="billing", severity="low"), at=T0 + timedelta(1)),
        )
        absorbed = fold(
            ABSORBED,
            of(
                ABSORBED,
                "b1",
                Purchase(amount=Decimal("0.905"), currency="TRY", product="loan"),
                at=T0 - timedelta(days=400),
            ),
            of(ABSORBED, "b2", Purchase(amount=Decimal("5"), currency="EUR"), at=T0 + timedelta(2)),
        )
        together = merged(survivor, absorbed)
        purchases = single_customer_view(together, NOW)["purchases"]
        assert purchases["count"] == 3
        assert purchases["totals"] == {"EUR": "5.00", "TRY": "11.005"}
        assert purchases["customer_since"] == "2025-10-19T10:00:00Z"
        assert purchases["last"]["currency"] == "EUR"
        assert purchases["products"] == ["card", "loan"]
        assert together.first_seen_at == T0 - timedelta(days=400)
        assert together.last_seen_at == T0 + timedelta(days=2)
        assert together.complaint_count == 1

    def test_the_newer_target_upload_and_the_latest_consent_win(self) -> None:
        def upload(customer_id: str, upload_id: str, at: datetime, priority: int) -> CampaignTarget:
            return CampaignTarget(
                campaign_id="spring",
                customer_id=customer_id,
                priority=priority,
                uploaded_at=at,
                upload_id=upload_id,
            )

        survivor = fold(
            SURVIVOR,
            upload(SURVIVOR, "u1", T0, 1),
            of(SURVIVOR, "a1", ProfileUpdate(fields={"consent.SMS.marketing": "granted"})),
        )
        absorbed = fold(
            ABSORBED,
            upload(ABSORBED, "u2", T0 + timedelta(hours=1), 5),
            of(ABSORBED, "b1", OptOut(channels=[Channel.SMS]), at=T0 + timedelta(hours=2)),
        )
        together = merged(survivor, absorbed)
        (target,) = together.targets
        assert (target.upload_id, target.priority) == ("u2", 5)
        consent = together.consent(Channel.SMS, "marketing")
        assert consent is not None and not consent.granted
        assert together.opted_out_of(Channel.SMS)
        apart = split(together, absorbed, "M-1")
        assert apart.targets == survivor.targets
        assert apart.consents == survivor.consents

    def test_the_timeline_keeps_the_latest_and_a_split_brings_back_the_survivors(self) -> None:
        survivor = fold(
            SURVIVOR,
            *(
                of(SURVIVOR, f"a{i:02}", Message(text="."), at=T0 - timedelta(days=30, hours=i))
                for i in range(40)
            ),
        )
        absorbed = fold(
            ABSORBED,
            *(
                of(ABSORBED, f"b{i:02}", Message(text="."), at=T0 - timedelta(hours=i))
                for i in range(40)
            ),
        )
        together = merged(survivor, absorbed)
        assert len(together.timeline) == MAX_TIMELINE
        assert sum(e.event_id.startswith("b") for e in together.timeline) == 40
        assert len(together.merges[0].evicted_timeline) == 30
        assert split(together, absorbed, "M-1").timeline == survivor.timeline

    def test_daily_counts_stay_within_90_days_and_come_back(self) -> None:
        survivor = fold(SURVIVOR, of(SURVIVOR, "a1", Message(text="."), at=T0 - timedelta(days=80)))
        absorbed = fold(ABSORBED, of(ABSORBED, "b1", Message(text="."), at=T0 + timedelta(days=20)))
        together = merged(survivor, absorbed)
        days = together.contact_days["SMS"]
        assert len(days.days) == 1 and days.days[-1] - days.days[0] < CONTACT_DAYS
        assert together.contacts["SMS"].inbound == 2  # the totals keep both
        apart = split(together, absorbed, "M-1")
        assert apart.contact_days == survivor.contact_days
        assert apart.contacts == survivor.contacts

    def test_a_merge_already_recorded_changes_nothing(self) -> None:
        together = merged(fold(SURVIVOR), fold(ABSORBED, of(ABSORBED, "b1", Message(text="."))))
        assert merged(together, fold(ABSORBED), "M-1") is together

    def test_merges_are_bounded(self) -> None:
        state = fold(SURVIVOR)
        for i in range(MAX_MERGES + 2):
            other = fold(f"c-{i}", of(f"c-{i}", f"x{i}", Message(text=".")))
            state = merged(state, other, f"M-{i}")
        assert [m.merge_event_id for m in state.merges] == [
            f"M-{i}" for i in range(2, MAX_MERGES + 2)
        ]

    def test_the_view_lists_the_merges(self) -> None:
        together = merged(fold(SURVIVOR), fold(ABSORBED))
        view = single_customer_view(together, NOW)
        assert view["merges"] == [
            {
                "absorbed_customer_id": ABSORBED,
                "merge_event_id": "M-1",
                "merged_at": "2026-12-01T09:00:00Z",
            }
        ]
        assert view["merged_into"] is None


class TestSplit:
    def test_an_unknown_merge_changes_nothing(self) -> None:
        state = fold(SURVIVOR, of(SURVIVOR, "a1", Message(text=".")))
        assert split(state, fold(ABSORBED), "M-404") is state

    def test_opt_outs_from_the_absorbed_profile_stay(self) -> None:
        absorbed = fold(ABSORBED, of(ABSORBED, "b1", OptOut(channels=[])))
        apart = split(merged(fold(SURVIVOR), absorbed), absorbed, "M-1")
        assert apart.opted_out_all
        assert apart.merges == ()

    def test_a_detail_stated_again_after_the_merge_stays(self) -> None:
        absorbed = fold(ABSORBED, of(ABSORBED, "b1", ProfileUpdate(fields={"city": "Van"})))
        together = merged(fold(SURVIVOR), absorbed)
        again = of(SURVIVOR, "a9", ProfileUpdate(fields={"city": "Kars"}), at=T0 + timedelta(1))
        apart = split(evolve(together, again), absorbed, "M-1")
        assert apart.profile.value("city") == "Kars"

    def test_an_offer_made_after_the_merge_stays(self) -> None:
        absorbed = fold(
            ABSORBED,
            of(ABSORBED, "b1", OfferPresented(campaign_id="x"), direction=Direction.OUTBOUND),
        )
        together = merged(fold(SURVIVOR), absorbed)
        later = of(SURVIVOR, "a9", OfferPresented(campaign_id="y"), direction=Direction.OUTBOUND)
        apart = split(evolve(together, later), absorbed, "M-1")
        assert [o.event_id for o in apart.offers] == ["a9"]


class TestMarks:
    def test_mark_unmerged_undoes_mark_merged_exactly(self) -> None:
        absorbed = fold(ABSORBED, of(ABSORBED, "b1", Message(text=".")))
        marked = mark_merged(absorbed, SURVIVOR, "M-1", MERGED_AT)
        assert (marked.merged_into, marked.merged_into_event_id) == (SURVIVOR, "M-1")
        assert marked.merged_into_at == MERGED_AT
        assert single_customer_view(marked, NOW)["merged_into"] == SURVIVOR
        assert mark_unmerged(marked) == absorbed
        assert mark_unmerged(marked, "M-1") == absorbed
        assert mark_unmerged(marked, "M-2") is marked  # another merge's mark stays
        assert mark_unmerged(absorbed) is absorbed

    def test_a_marked_profile_round_trips(self) -> None:
        marked = mark_merged(fold(ABSORBED), SURVIVOR, "M-1", MERGED_AT)
        assert SERIALIZER.decode_model(SERIALIZER.encode_model(marked)) == marked


class TestChooseSurvivor:
    def seen(self, customer_id: str, at: datetime | None) -> CustomerState:
        if at is None:
            return CustomerState.new(customer_id)
        return fold(customer_id, of(customer_id, f"e-{customer_id}", Message(text="."), at=at))

    def test_a_known_customer_beats_an_anonymous_one(self) -> None:
        known, anonymous = self.seen("c-9", T0), self.seen("anon-1", T0 - timedelta(days=9))
        assert choose_survivor(anonymous, known) == (known, anonymous)
        assert choose_survivor(known, anonymous) == (known, anonymous)

    def test_then_the_older_profile(self) -> None:
        old, new = self.seen("c-9", T0 - timedelta(days=1)), self.seen("c-1", T0)
        assert choose_survivor(new, old) == (old, new)
        never = self.seen("c-0", None)
        assert choose_survivor(never, new) == (new, never)

    def test_then_the_smaller_id(self) -> None:
        a, b = self.seen("c-1", T0), self.seen("c-2", T0)
        assert choose_survivor(b, a) == (a, b)

    @given(st.sampled_from(["c-1", "c-2", "anon-1"]), st.sampled_from(["c-3", "anon-2"]))
    def test_both_sides_choose_alike(self, first: str, second: str) -> None:
        a, b = self.seen(first, T0), self.seen(second, T0 + timedelta(hours=1))
        assert choose_survivor(a, b) == choose_survivor(b, a)
