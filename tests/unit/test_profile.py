"""Personal details, consents and the overdue balance, folded from ProfileUpdate events."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from streams.domain.customer import CustomerState, evolve
from streams.domain.events import Interaction, OptOut, ProfileUpdate
from streams.domain.model import Channel
from streams.domain.profile import MAX_EXTRA_FIELDS, MAX_VALUE_CHARS
from streams.domain.single_view import single_customer_view
from tests.factories import CUSTOMER, T0, interaction

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def update(event_id: str, at: datetime = T0, **fields: str) -> Interaction:
    return interaction(event_id, ProfileUpdate(fields=fields), at=at)


def fold(*events: Interaction) -> CustomerState:
    state = CustomerState.new(CUSTOMER)
    for event in events:
        state = evolve(state, event)
    return state


def profile_view(state: CustomerState) -> dict[str, object]:
    view: dict[str, object] = single_customer_view(state, NOW)["profile"]
    return view


class TestPersonalDetails:
    def test_every_detail_is_shown(self) -> None:
        state = fold(
            update(
                "p1",
                name="Ayşe Yılmaz",
                birth_date="1990-12-02",
                city="İzmir",
                country="TR",
                language="tr",
                preferred_channel="sms",
                form_of_address="Dr",
                timezone="Europe/Istanbul",
            )
        )
        assert profile_view(state) == {
            "name": "Ayşe Yılmaz",
            "birth_date": "1990-12-02",
            "age": 35,  # the birthday is tomorrow
            "city": "İzmir",
            "country": "TR",
            "language": "tr",
            "preferred_channel": "SMS",
            "form_of_address": "Dr",
            "timezone": "Europe/Istanbul",
            "extra": {},
        }

    def test_age_counts_whole_years_on_nows_date(self) -> None:
        state = fold(update("p1", birth_date="1990-12-01"))
        assert state.profile.age(NOW) == 36
        assert state.profile.age(NOW - timedelta(days=1)) == 35
        assert fold(update("p2", birth_date="2027-01-01")).profile.age(NOW) is None

    def test_age_is_counted_on_the_customers_own_date(self) -> None:
        late_evening = datetime(2026, 12, 1, 21, 30, tzinfo=UTC)  # 01:30 on 2 December in Yerevan
        state = fold(update("p1", birth_date="1990-12-02", timezone="Asia/Yerevan"))
        assert state.profile.age(late_evening) == 36
        assert fold(update("p1", birth_date="1990-12-02")).profile.age(late_evening) == 35

    def test_a_date_time_gives_its_date(self) -> None:
        state = fold(update("p1", birth_date="1990-05-17T00:00:00+03:00", overdue_since="x"))
        assert state.profile.value("birth_date") == "1990-05-17"
        assert state.profile.value("overdue_since") is None

    def test_first_and_last_name_make_the_name(self) -> None:
        state = fold(update("p1", first_name="Ayşe", last_name="Yılmaz"))
        assert state.profile.name == "Ayşe Yılmaz"

    def test_whichever_name_was_stated_last_is_shown(self) -> None:
        later = T0 + timedelta(days=1)
        state = fold(update("p1", name="Ayse Yilmaz"), update("p2", at=later, last_name="Kaya"))
        assert state.profile.name == "Kaya"
        state = fold(update("p1", last_name="Kaya"), update("p2", at=later, name="Ayşe Kaya"))
        assert state.profile.name == "Ayşe Kaya"

    def test_aliases_name_the_same_detail(self) -> None:
        state = fold(update("p1", Surname="Kaya", DOB="1980-01-31", tz="UTC", salutation="Ms"))
        assert state.profile.value("last_name") == "Kaya"
        assert state.profile.value("birth_date") == "1980-01-31"
        assert state.profile.value("timezone") == "UTC"
        assert state.profile.value("form_of_address") == "Ms"
        assert state.profile.extra == {}

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("timezone", "Mars/Olympus_Mons"),
            ("timezone", "../../etc/passwd"),
            ("birth_date", "17.05.1990"),
            ("birth_date", "1990-02-30"),
            ("preferred_channel", "pigeon"),
            ("overdue_amount", "lots"),
            ("overdue_currency", "lira"),
        ],
    )
    def test_an_invalid_value_is_ignored_and_keeps_the_valid_one(
        self, field: str, value: str
    ) -> None:
        valid = {
            "timezone": "Asia/Yerevan",
            "birth_date": "1990-05-17",
            "preferred_channel": "EMAIL",
            "overdue_amount": "10",
            "overdue_currency": "EUR",
        }[field]
        later = T0 + timedelta(hours=1)
        state = fold(update("p1", **{field: valid}), update("p2", at=later, **{field: value}))
        assert state.profile.value(field) == valid

    def test_channel_names_people_use_are_understood(self) -> None:
        assert fold(update("p1", preferred_channel="phone")).profile.preferred_channel == (
            Channel.VOICE
        )
        assert fold(update("p1", preferred_channel="WhatsApp")).profile.preferred_channel == (
            Channel.MESSAGING
        )

    def test_an_empty_value_clears_the_field(self) -> None:
        later = T0 + timedelta(hours=1)
        state = fold(update("p1", city="Ankara"), update("p2", at=later, city=""))
        assert state.profile.value("city") is None
        assert profile_view(state)["city"] is None

    def test_an_older_update_delivered_late_does_not_overwrite(self) -> None:
        newer, older = T0 + timedelta(days=2), T0 + timedelta(days=1)
        state = fold(update("p2", at=newer, city="Ankara"), update("p1", at=older, city="Van"))
        assert state.profile.value("city") == "Ankara"
        assert state.profile.details["city"].event_id == "p2"

    def test_an_older_update_does_not_bring_a_cleared_field_back(self) -> None:
        state = fold(
            update("p1", at=T0, city="Van"),
            update("p3", at=T0 + timedelta(days=2), city=""),
            update("p2", at=T0 + timedelta(days=1), city="Ankara"),
        )
        assert state.profile.value("city") is None

    def test_each_field_has_its_own_moment(self) -> None:
        state = fold(
            update("p2", at=T0 + timedelta(days=2), city="Ankara"),
            update("p1", at=T0 + timedelta(days=1), city="Van", language="ku"),
        )
        assert state.profile.value("city") == "Ankara"
        assert state.profile.value("language") == "ku"

    def test_the_outcome_does_not_depend_on_delivery_order(self) -> None:
        events = [
            update("p1", at=T0, city="Van", name="A"),
            update("p2", at=T0, city="Kars"),  # the same moment: the event id decides
            update("p3", at=T0 + timedelta(hours=1), name=""),
            update("p4", at=T0 - timedelta(hours=1), language="tr", city="Muş"),
        ]
        profiles = [fold(*order).profile for order in itertools.permutations(events)]
        profile = profiles[0]
        assert all(p == profile for p in profiles)
        assert profile.value("city") == "Kars"
        assert profile.name is None
        assert profile.value("language") == "tr"

    def test_unknown_fields_are_kept_bounded(self) -> None:
        many = {f"field_{i:02}": str(i) for i in range(MAX_EXTRA_FIELDS + 5)}
        state = fold(update("p1", **many), update("p2", at=T0 + timedelta(1), field_00="new"))
        assert len(state.profile.extra) == MAX_EXTRA_FIELDS
        assert state.profile.extra["field_00"].value == "new"  # known names still update
        assert "field_24" not in state.profile.extra
        assert profile_view(state)["extra"]["field_01"] == "1"  # type: ignore[index]

    def test_values_are_cut_to_their_bound(self) -> None:
        state = fold(update("p1", city="x" * 5000, note="y" * 5000))
        assert state.profile.value("city") == "x" * MAX_VALUE_CHARS
        assert state.profile.extra["note"].value == "y" * MAX_VALUE_CHARS

    def test_a_profile_update_that_changes_nothing_keeps_the_profile(self) -> None:
        state = fold(update("p2", at=T0 + timedelta(days=1), city="Ankara"))
        after = evolve(state, update("p1", city="Van"))
        assert after.profile is state.profile


class TestOverdue:
    def test_an_overdue_balance_is_flagged_with_its_age(self) -> None:
        state = fold(
            update(
                "p1", overdue_amount="1250.5", overdue_currency="try", overdue_since="2026-10-02"
            )
        )
        overdue = single_customer_view(state, NOW)["flags"]["overdue"]
        assert overdue == {"amount": "1250.5", "currency": "TRY", "since": "2026-10-02", "days": 60}

    @pytest.mark.parametrize("cleared", ["0", "0.00", "", "-5"])
    def test_zero_or_nothing_clears_it(self, cleared: str) -> None:
        state = fold(
            update("p1", overdue_amount="99", overdue_currency="EUR"),
            update("p2", at=T0 + timedelta(days=1), overdue_amount=cleared),
        )
        assert state.profile.overdue(NOW) is None
        assert single_customer_view(state, NOW)["flags"]["overdue"] is None

    def test_without_a_date_the_days_are_unknown(self) -> None:
        state = fold(update("p1", overdue_amount="10"))
        assert single_customer_view(state, NOW)["flags"]["overdue"] == {
            "amount": "10",
            "currency": None,
            "since": None,
            "days": None,
        }


class TestConsents:
    def consents(self, state: CustomerState) -> list[dict[str, object]]:
        found: list[dict[str, object]] = single_customer_view(state, NOW)["consents"]
        return found

    def test_consents_per_channel_and_purpose(self) -> None:
        state = fold(
            update("p1", **{"consent.SMS.marketing": "granted", "consent.email.service": "Granted"})
        )
        assert self.consents(state) == [
            {
                "channel": "EMAIL",
                "purpose": "service",
                "granted": True,
                "at": "2026-11-23T10:00:00Z",
                "source_event_id": "p1",
            },
            {
                "channel": "SMS",
                "purpose": "marketing",
                "granted": True,
                "at": "2026-11-23T10:00:00Z",
                "source_event_id": "p1",
            },
        ]
        assert state.profile.extra == {}  # consents are not profile fields

    def test_the_latest_word_wins_whatever_the_delivery_order(self) -> None:
        granted = update("p1", at=T0, **{"consent.SMS.marketing": "granted"})
        withdrawn = update(
            "p2", at=T0 + timedelta(days=1), **{"consent.SMS.marketing": "withdrawn"}
        )
        for events in ((granted, withdrawn), (withdrawn, granted)):
            consent = fold(*events).consent(Channel.SMS, "marketing")
            assert consent is not None
            assert (consent.granted, consent.source_event_id) == (False, "p2")

    def test_all_names_every_channel(self) -> None:
        state = fold(update("p1", **{"consent.ALL.marketing": "withdrawn"}))
        assert {c.channel for c in state.consents} == set(Channel)
        assert not any(c.granted for c in state.consents)

    @pytest.mark.parametrize(
        "key,value",
        [
            ("consent.SMS.marketing", "maybe"),
            ("consent.PIGEON.marketing", "granted"),
            ("consent.SMS.", "granted"),
            ("consent.SMS.Not A Purpose!", "granted"),
        ],
    )
    def test_a_consent_that_cannot_be_read_is_ignored(self, key: str, value: str) -> None:
        state = fold(update("p1", **{key: value}))
        assert state.consents == ()
        assert state.profile.extra == {}

    def test_an_opt_out_withdraws_marketing_on_its_channels(self) -> None:
        state = fold(
            update("p1", **{"consent.SMS.marketing": "granted", "consent.SMS.service": "granted"}),
            interaction("o1", OptOut(channels=[Channel.SMS]), at=T0 + timedelta(hours=1)),
        )
        marketing, service = (
            state.consent(Channel.SMS, "marketing"),
            state.consent(Channel.SMS, "service"),
        )
        assert marketing is not None and not marketing.granted
        assert marketing.source_event_id == "o1"
        assert service is not None and service.granted  # service messages are not marketing
        assert state.opted_out_channels == (Channel.SMS,)  # as before

    def test_an_opt_out_of_everything_withdraws_marketing_everywhere(self) -> None:
        state = fold(interaction("o1", OptOut(channels=[])))
        assert state.opted_out_all
        assert {c.channel for c in state.consents if not c.granted} == set(Channel)
