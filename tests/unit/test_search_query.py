"""What a customer search is asked for (`streams.domain.search`): the identity a look-up
names, and which identities a search query could be before the name index is asked."""

from __future__ import annotations

import pickle

import pytest

from streams.domain.search import (
    IDENTITY_KINDS,
    MAX_QUERY,
    SearchError,
    identity_in,
    normalised_identity,
    query_identities,
    search_text,
)

EVERY_KIND = "give exactly one of phone=, email=, account=, device=, social="


class TestLookUpByIdentity:
    def test_one_identity_is_normalised_as_the_state_holds_it(self) -> None:
        assert identity_in({"phone": "0532 123 45 67"}, "TR") == "phone:+905321234567"
        assert identity_in({"email": " Ayse@Example.COM "}) == "email:ayse@example.com"
        assert identity_in({"account": "tr-12 34"}) == "account:TR1234"
        assert identity_in({"social": "Twitter:@AyseY"}) == "social:twitter:aysey"

    @pytest.mark.parametrize(
        "query", [{}, {"phone": "+905321234567", "email": "a@example.com"}, {"phone": ""}]
    )
    def test_exactly_one_kind_must_be_given(self, query: dict[str, str]) -> None:
        with pytest.raises(SearchError) as raised:
            identity_in(query)
        assert (raised.value.field, raised.value.message) == ("", EVERY_KIND)

    def test_a_bad_value_is_named_by_its_kind_without_echoing_it(self) -> None:
        with pytest.raises(SearchError) as raised:
            identity_in({"email": "secret-but-no-at-sign"})
        assert raised.value.field == "email"
        assert "secret" not in str(raised.value)

    def test_a_national_number_needs_the_default_region(self) -> None:
        with pytest.raises(SearchError) as raised:
            identity_in({"phone": "0532 123 45 67"})
        assert raised.value.field == "phone"

    def test_the_kinds_are_named_in_their_order(self) -> None:
        assert IDENTITY_KINDS == ("phone", "email", "account", "device", "social")
        assert normalised_identity("device", " dev-1 ") == "device:dev-1"


class TestSearchText:
    def test_the_query_is_trimmed(self) -> None:
        assert search_text("  ayse  ") == "ayse"

    @pytest.mark.parametrize("raw", [None, "", "   "])
    def test_an_empty_query_is_refused(self, raw: str | None) -> None:
        with pytest.raises(SearchError) as raised:
            search_text(raw)
        assert raised.value.field == "q"
        assert raised.value.message.startswith("say what to search for")

    def test_a_query_has_at_most_200_characters(self) -> None:
        assert search_text("a" * MAX_QUERY) == "a" * MAX_QUERY
        with pytest.raises(SearchError) as raised:
            search_text("a" * (MAX_QUERY + 1))
        assert (raised.value.field, raised.value.message) == ("q", "at most 200 characters")

    def test_the_error_survives_pickling_with_its_field(self) -> None:
        error = pickle.loads(pickle.dumps(SearchError("q", "at most 200 characters")))
        assert (error.field, error.message) == ("q", "at most 200 characters")


class TestQueryClassification:
    def test_a_name_is_no_identity(self) -> None:
        assert query_identities("Ayşe") == []
        assert query_identities("Ayşe Nur Yılmaz") == []

    def test_letters_alone_could_still_be_an_account_number(self) -> None:
        # Tried first; when nobody holds it, the name index answers.
        assert query_identities("ayse yilmaz") == ["account:AYSEYILMAZ"]

    def test_an_at_sign_makes_an_email_address_only(self) -> None:
        assert query_identities("AYSE@Example.com") == ["email:ayse@example.com"]
        assert query_identities("x@y") == []

    def test_digits_are_a_phone_then_an_account_then_a_device_as_typed(self) -> None:
        assert query_identities("0532 123 45 67", "TR") == [
            "phone:+905321234567",
            "account:05321234567",
            "device:0532 123 45 67",
        ]

    def test_a_national_number_without_a_region_is_no_phone(self) -> None:
        assert query_identities("0532 123 45 67") == [
            "account:05321234567",
            "device:0532 123 45 67",
        ]

    def test_an_international_number_is_a_phone_and_a_device(self) -> None:
        assert query_identities("+90 532 123 45 67") == [
            "phone:+905321234567",
            "device:+90 532 123 45 67",
        ]

    def test_a_colon_makes_a_social_handle_or_a_device(self) -> None:
        assert query_identities("Twitter:AyseY") == ["social:twitter:aysey", "device:Twitter:AyseY"]
        assert query_identities("dev:abc-123") == ["social:dev:abc-123", "device:dev:abc-123"]
