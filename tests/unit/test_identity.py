"""Tests for identity normalisation and masking."""

from __future__ import annotations

import pickle
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.identity import (
    IdentityError,
    mask_email,
    mask_phone,
    normalise_account,
    normalise_email,
    normalise_phone,
    normalise_region,
)

TR_MOBILE = "+905321234567"


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def _assert_no_digits_leaked(err: IdentityError, raw: str) -> None:
    """The message must not contain the number, in whole or as a recognisable chunk."""
    message = str(err)
    digits = _digits(raw)
    assert raw.strip() not in message
    # Any run of 4+ digits from the input would let a log reader reconstruct part of it.
    for i in range(len(digits) - 3):
        assert digits[i : i + 4] not in _digits(message)


class TestIdentityError:
    def test_is_value_error_with_field(self) -> None:
        err = IdentityError("customer.phone", "customer.phone is empty")
        assert isinstance(err, ValueError)
        assert err.field == "customer.phone"
        assert str(err) == "customer.phone is empty"

    def test_pickle_keeps_field(self) -> None:
        err = pickle.loads(pickle.dumps(IdentityError("customer.email", "bad")))
        assert err.field == "customer.email"
        assert str(err) == "bad"


class TestNormaliseRegion:
    @pytest.mark.parametrize(
        ("raw", "expected"), [("TR", "TR"), ("tr", "TR"), (" am ", "AM"), (None, None), ("", None)]
    )
    def test_valid(self, raw: str | None, expected: str | None) -> None:
        assert normalise_region(raw) == expected

    @pytest.mark.parametrize("raw", ["XX", "TUR", "Turkey", "001"])
    def test_unknown_is_plain_value_error(self, raw: str) -> None:
        with pytest.raises(ValueError, match="unknown default phone region") as info:
            normalise_region(raw)
        assert not isinstance(info.value, IdentityError)


class TestNormalisePhone:
    @pytest.mark.parametrize(
        ("raw", "region"),
        [
            ("+90 532 123 45 67", None),
            ("+90 532 123 45 67", "TR"),
            ("+90 532 123 45 67", "US"),  # international form ignores the region
            ("0532 123 45 67", "TR"),
            ("0532 123 45 67", "tr"),
            ("(0532) 123-45-67", "TR"),
            ("5321234567", "TR"),
            ("00905321234567", None),
            ("00905321234567", "TR"),
            ("00905321234567", "US"),  # US dials 011, but "00" still means international
            ("00 90 532 123 45 67", None),
            ("whatsapp:+905321234567", None),
            ("WhatsApp:+905321234567", None),
            ("tel:+905321234567", None),
            ("tel:+90-532-123-45-67", None),
            ("  +905321234567\n", None),
            ("+905321234567", None),
        ],
    )
    def test_turkish_mobile(self, raw: str, region: str | None) -> None:
        assert normalise_phone(raw, region) == TR_MOBILE

    @pytest.mark.parametrize(
        ("raw", "region", "expected"),
        [
            ("+1 202 555 0100", None, "+12025550100"),
            ("(202) 555-0100", "US", "+12025550100"),
            ("+7 912 345 67 89", None, "+79123456789"),
            ("8 912 345 67 89", "RU", "+79123456789"),
            ("+98 912 345 6789", None, "+989123456789"),
            ("0912 345 6789", "IR", "+989123456789"),
            ("+374 77 123456", None, "+37477123456"),
            ("+90 212 123 45 67", None, "+902121234567"),  # Istanbul landline
        ],
    )
    def test_other_countries(self, raw: str, region: str | None, expected: str) -> None:
        assert normalise_phone(raw, region) == expected

    def test_idempotent(self) -> None:
        assert normalise_phone(normalise_phone("0532 123 45 67", "TR")) == TR_MOBILE

    @pytest.mark.parametrize(
        ("raw", "region"),
        [
            ("0532 123 45", "TR"),  # too short
            ("0532 123 45 67 89 01", "TR"),  # too long
            ("+90 000 000 00 00", None),  # impossible Turkish prefix
            ("+999 1234567", None),  # unassigned country code
            ("+44 7700 900123", None),  # UK drama range: possible but not valid
            ("not a number", "TR"),
            ("+", None),
            ("whatsapp:", None),
            ("00", None),
        ],
    )
    def test_invalid_numbers_raise_without_leaking(self, raw: str, region: str | None) -> None:
        with pytest.raises(IdentityError) as info:
            normalise_phone(raw, region, field="customer.phone")
        assert info.value.field == "customer.phone"
        assert str(info.value).startswith("customer.phone ")
        _assert_no_digits_leaked(info.value, raw)

    def test_message_names_region_for_national_numbers(self) -> None:
        with pytest.raises(IdentityError) as info:
            normalise_phone("0532 123 45", "TR", field="customer.phone")
        assert str(info.value) == "customer.phone is not a valid phone number for region TR"

    def test_message_for_international_numbers_has_no_region(self) -> None:
        with pytest.raises(IdentityError) as info:
            normalise_phone("+90 000 000 00 00", "TR", field="customer.phone")
        assert str(info.value) == "customer.phone is not a valid phone number"

    def test_national_number_without_region(self) -> None:
        with pytest.raises(IdentityError) as info:
            normalise_phone("0532 123 45 67", field="customer.phone")
        assert "no country code and no default region" in str(info.value)
        _assert_no_digits_leaked(info.value, "0532 123 45 67")

    def test_error_is_not_chained_to_parser_exception(self) -> None:
        with pytest.raises(IdentityError) as info:
            normalise_phone("not a number", "TR")
        assert info.value.__cause__ is None
        assert info.value.__context__ is None or info.value.__suppress_context__

    @pytest.mark.parametrize("raw", ["", "   ", "tel:", " whatsapp: "])
    def test_empty(self, raw: str) -> None:
        with pytest.raises(IdentityError, match=r"^phone is empty$") as info:
            normalise_phone(raw)
        assert info.value.field == "phone"

    def test_non_string(self) -> None:
        with pytest.raises(IdentityError, match="must be a string"):
            normalise_phone(905321234567)  # type: ignore[arg-type]

    def test_unknown_region_is_a_configuration_error(self) -> None:
        with pytest.raises(ValueError, match="unknown default phone region") as info:
            normalise_phone("+905321234567", "XX")
        assert not isinstance(info.value, IdentityError)

    @given(st.text(alphabet="0123456789 +-()", max_size=25), st.sampled_from([None, "TR", "US"]))
    def test_never_leaks_digits(self, raw: str, region: str | None) -> None:
        try:
            out = normalise_phone(raw, region, field="f")
        except IdentityError as err:
            assert err.field == "f"
            assert not _digits(str(err))  # messages carry no digits at all
        else:
            assert re.fullmatch(r"\+[1-9]\d{6,14}", out)


class TestNormaliseEmail:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Alice@Example.COM", "alice@example.com"),
            ("  bob.smith+tag@mail.example.co.uk \n", "bob.smith+tag@mail.example.co.uk"),
            ("x@y.z", "x@y.z"),
            ("ÖZGE@ÖRNEK.COM.TR", "özge@örnek.com.tr"),
        ],
    )
    def test_valid(self, raw: str, expected: str) -> None:
        assert normalise_email(raw) == expected

    def test_idempotent(self) -> None:
        once = normalise_email(" Alice@Example.com ")
        assert normalise_email(once) == once

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("", "is empty"),
            ("   ", "is empty"),
            ("alice", "exactly one '@'"),
            ("alice@@example.com", "exactly one '@'"),
            ("a@b@example.com", "exactly one '@'"),
            ("@example.com", "empty local part"),
            ("alice@", "domain"),
            ("alice@localhost", "domain"),
            ("alice@.com", "domain"),
            ("alice@example.", "domain"),
            ("alice@example..com", "domain"),
            ("alice smith@example.com", "spaces"),
            ("alice@exa mple.com", "spaces"),
            ("alice@example.com\tx", "spaces"),
        ],
    )
    def test_invalid(self, raw: str, reason: str) -> None:
        with pytest.raises(IdentityError, match=re.escape(reason)) as info:
            normalise_email(raw, field="customer.email")
        assert info.value.field == "customer.email"
        assert str(info.value).startswith("customer.email ")
        if raw.strip():
            assert raw.strip().lower() not in str(info.value).lower()
            assert "alice" not in str(info.value)

    def test_non_string(self) -> None:
        with pytest.raises(IdentityError, match="must be a string"):
            normalise_email(None)  # type: ignore[arg-type]


class TestNormaliseAccount:
    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("ab-123-cd", "AB123CD"),
            ("  AB 123 CD  ", "AB123CD"),
            ("0012345", "0012345"),
            ("ab\u00a0123", "AB123"),
            ("a-b - c", "ABC"),
        ],
    )
    def test_valid(self, raw: str, expected: str) -> None:
        assert normalise_account(raw) == expected

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("", "is empty"),
            (" - - ", "is empty"),
            ("AB_123", "only letters"),
            ("AB.123", "only letters"),
            ("AB/123", "only letters"),
            ("АВ123", "only letters"),  # Cyrillic look-alikes of "AB"
            ("ab١٢٣", "only letters"),  # Arabic-Indic digits
        ],
    )
    def test_invalid(self, raw: str, reason: str) -> None:
        with pytest.raises(IdentityError, match=reason) as info:
            normalise_account(raw, field="customer.account")
        assert info.value.field == "customer.account"
        if raw.strip(" -"):
            assert raw not in str(info.value)

    def test_default_field_name(self) -> None:
        with pytest.raises(IdentityError) as info:
            normalise_account("")
        assert info.value.field == "account"

    @given(st.text(max_size=20))
    def test_output_is_upper_ascii_alnum_and_idempotent(self, raw: str) -> None:
        try:
            out = normalise_account(raw)
        except IdentityError:
            return
        assert re.fullmatch(r"[A-Z0-9]+", out)
        assert normalise_account(out) == out


class TestMasking:
    def test_mask_turkish_mobile(self) -> None:
        assert mask_phone(TR_MOBILE) == "+90********67"

    def test_mask_keeps_length_and_hides_middle(self) -> None:
        masked = mask_phone("+12025550100")
        assert masked == "+12*******00"
        assert len(masked) == len("+12025550100")
        assert "555" not in masked

    @pytest.mark.parametrize("short", ["", "+1", "+9012"])
    def test_mask_short_input_reveals_nothing(self, short: str) -> None:
        masked = mask_phone(short)
        assert set(masked) == {"*"}

    @given(st.from_regex(r"\+[1-9]\d{6,14}", fullmatch=True))
    def test_mask_phone_reveals_only_head_and_tail(self, e164: str) -> None:
        masked = mask_phone(e164)
        assert masked[:3] == e164[:3]
        assert masked[-2:] == e164[-2:]
        assert set(masked[3:-2]) == {"*"}

    @pytest.mark.parametrize(
        ("email", "expected"),
        [
            ("alice@example.com", "a***@example.com"),
            ("a@example.com", "a***@example.com"),
            ("bartholomew@mail.example.org", "b***@mail.example.org"),
            ("@example.com", "***@example.com"),
            ("not-an-email", "***"),
            ("", "***"),
        ],
    )
    def test_mask_email(self, email: str, expected: str) -> None:
        assert mask_email(email) == expected

    def test_mask_email_after_normalise(self) -> None:
        assert mask_email(normalise_email("Alice@Example.com")) == "a***@example.com"


class TestDeviceAndSocialIdentities:
    def test_device_ids_are_kept_as_sent_but_trimmed(self) -> None:
        from streams.domain.identity import normalise_device

        assert normalise_device("  iOS-7F3A-b2c1 ") == "iOS-7F3A-b2c1"

    @pytest.mark.parametrize("raw", ["", "   ", "has space", "x" * 201, "tab\there"])
    def test_unusable_device_ids_are_refused(self, raw: str) -> None:
        from streams.domain.identity import normalise_device

        with pytest.raises(IdentityError) as caught:
            normalise_device(raw, field="customer.device")
        assert caught.value.field == "customer.device"

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [
            ("Twitter:@AyseY", "twitter:aysey"),
            (" instagram : ayse.yilmaz ", "instagram:ayse.yilmaz"),
            ("ｘ:ＡＢＣ", "x:abc"),  # full-width forms fold to ASCII (NFKC)
        ],
    )
    def test_social_handles_are_network_and_folded_handle(self, raw: str, expected: str) -> None:
        from streams.domain.identity import normalise_social

        assert normalise_social(raw) == expected

    @pytest.mark.parametrize("raw", ["ayse", ":ayse", "twitter:", "twitter:@", "1x:ayse", "x:a b"])
    def test_malformed_social_handles_are_refused(self, raw: str) -> None:
        from streams.domain.identity import normalise_social

        with pytest.raises(IdentityError):
            normalise_social(raw)
