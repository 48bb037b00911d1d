"""Do-not-contact requests over HTTP, as pure rules (`streams.domain.campaign_policy`): the
JSON body of `POST /v1/dnc`, the identity in the path of `/v1/dnc/{kind}/{value}`, and one
entry per identity on the topic."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from streams.domain.campaign_policy import (
    PolicyError,
    dnc_entries_from_json,
    dnc_entry,
    dnc_entry_from_json,
    dnc_key,
    one_entry_per_identity,
)

PHONE = "+905321234567"


def error_of(body: Any, **options: Any) -> tuple[str, str]:
    with pytest.raises(PolicyError) as raised:
        dnc_entries_from_json(body, **options)
    return raised.value.field, raised.value.message


class TestJsonBody:
    def test_entries_are_normalised_and_take_the_request_list_and_source(self) -> None:
        entries = dnc_entries_from_json(
            [
                {"kind": "phone", "value": "0532 123 45 67"},
                {"kind": "EMAIL", "value": "Ayse@Example.com", "list_id": "own"},
            ],
            source="crm",
            list_id="registry",
            default_region="TR",
        )
        assert [(e.key, e.source, e.list_id) for e in entries] == [
            (f"phone:{PHONE}", "crm", "registry"),
            ("email:ayse@example.com", "crm", "own"),
        ]

    def test_a_date_expiry_holds_through_that_day(self) -> None:
        (entry,) = dnc_entries_from_json(
            [{"kind": "phone", "value": PHONE, "expires_at": "2027-01-31"}]
        )
        assert entry.expires_at == datetime(2027, 2, 1, tzinfo=UTC)

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            ({"kind": "phone"}, 'send a JSON list of {"kind", "value", "expires_at"?, ...}'),
            ("phone", 'send a JSON list of {"kind", "value", "expires_at"?, ...}'),
            ([], "no entries given"),
        ],
    )
    def test_the_body_must_be_a_list_of_entries(self, body: Any, message: str) -> None:
        assert error_of(body) == ("", message)

    @pytest.mark.parametrize(
        ("item", "field", "message"),
        [
            ("phone:+905321234567", "[1]", 'must be an object {"kind", "value", ...}'),
            ({"kind": "phone", "value": PHONE, "note": "x"}, "[1].note", "is not a known field"),
            ({"kind": "phone", "value": 905321234567}, "[1].value", "must be a string"),
            ({"kind": "phone", "value": PHONE, "source": 7}, "[1].source", "must be a string"),
            ({"value": PHONE}, "[1].kind", "is required"),
            ({"kind": "phone", "value": ""}, "[1].value", "is required"),
            ({"kind": "fax", "value": PHONE}, "[1].kind", "must be phone or email"),
            (
                {"kind": "phone", "value": PHONE, "expires_at": "soon"},
                "[1].expires_at",
                "must be an ISO 8601 date or date-time",
            ),
            (
                {"kind": "phone", "value": PHONE, "expires_at": "2027-01-31T00:00:00"},
                "[1].expires_at",
                "needs a UTC offset, e.g. 2027-01-31T00:00:00Z",
            ),
        ],
    )
    def test_the_first_bad_item_is_named_by_its_index_and_field(
        self, item: Any, field: str, message: str
    ) -> None:
        good = {"kind": "email", "value": "a@example.com"}
        assert error_of([good, item, {"kind": "fax"}]) == (field, message)

    def test_a_national_number_needs_the_default_region(self) -> None:
        field, _ = error_of([{"kind": "phone", "value": "0532 123 45 67"}])
        assert field == "[0].value"

    def test_the_first_wrong_type_is_reported_in_field_order(self) -> None:
        with pytest.raises(PolicyError) as raised:
            dnc_entry_from_json({"kind": 1, "value": 2, "list_id": 3})
        assert raised.value.field == "kind"


class TestPathIdentity:
    def test_the_key_is_the_normalised_identity(self) -> None:
        assert dnc_key("phone", "0532 123 45 67", default_region="TR") == f"phone:{PHONE}"
        assert dnc_key(" Email ", "Ayse@Example.com") == "email:ayse@example.com"

    def test_a_bad_identity_names_its_field(self) -> None:
        with pytest.raises(PolicyError) as raised:
            dnc_key("fax", PHONE)
        assert (raised.value.field, raised.value.message) == ("kind", "must be phone or email")
        with pytest.raises(PolicyError) as raised:
            dnc_key("email", "no-at-sign")
        assert raised.value.field == "value"


class TestOneEntryPerIdentity:
    def test_of_two_for_one_identity_the_longer_holds_in_first_listed_order(self) -> None:
        soon = dnc_entry("phone", PHONE, expires_at=datetime(2027, 1, 1, tzinfo=UTC))
        later = dnc_entry("phone", PHONE, expires_at=datetime(2028, 1, 1, tzinfo=UTC))
        email = dnc_entry("email", "a@example.com")
        forever = dnc_entry("phone", PHONE)
        assert one_entry_per_identity([soon, email, later]) == [later, email]
        assert one_entry_per_identity([forever, later]) == [forever]
        assert one_entry_per_identity([]) == []
