"""Tests for campaign policies and do-not-contact lists: the model, TOML, JSON and CSV."""

from __future__ import annotations

import json
import pickle
import re
from datetime import UTC, datetime, time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain import campaign_policy as policy_module
from streams.domain.campaign_policy import (
    MAX_CAP_CONTACTS,
    CampaignPolicy,
    DoNotContactEntry,
    FrequencyCap,
    PolicyError,
    Purpose,
    QuietHours,
    RejectedRow,
    default_policy,
    dnc_entry,
    ensure_newer,
    parse_dnc_csv,
    parse_policy,
    parse_policy_json,
    parse_policy_toml,
)
from streams.domain.model import Channel

TR_MOBILE = "+905321234567"


def documented_toml() -> str:
    """The example in the module docstring: the documentation must stay true."""
    doc = policy_module.__doc__ or ""
    found = re.search(r"```toml\n(.*?)```", doc, re.DOTALL)
    assert found, "the policy module documents its TOML format with an example"
    return found.group(1)


# -- the model and its defaults ---------------------------------------------------------


def test_default_policy_has_the_documented_defaults() -> None:
    policy = default_policy("spring-loan")
    assert policy.version is None
    assert policy.purpose is Purpose.MARKETING
    assert policy.channels == ()
    assert policy.product is None
    assert policy.response_cooldown_days is None
    assert policy.accepted_cooldown_days is None
    assert policy.frequency_caps == ()
    assert policy.quiet_hours == QuietHours(start=time(8), end=time(21), enabled=True)
    assert policy.complaint_cooldown_days == 30
    assert policy.respect_consent is True


def test_quiet_hours_cover_voice_and_sms_and_the_listed_realtime_channels() -> None:
    policy = CampaignPolicy(campaign_id="c", realtime_channels=(Channel.MESSAGING,))
    covered = {channel for channel in Channel if policy.quiet_hours_cover(channel)}
    assert covered == {Channel.VOICE, Channel.SMS, Channel.MESSAGING}
    off = CampaignPolicy(campaign_id="c", quiet_hours=QuietHours(enabled=False))
    assert not any(off.quiet_hours_cover(channel) for channel in Channel)


def test_a_window_may_span_midnight() -> None:
    night_shift = QuietHours(start=time(20), end=time(2))
    assert night_shift.allows(time(23, 30))
    assert night_shift.allows(time(1, 59, 59))
    assert not night_shift.allows(time(2))
    assert not night_shift.allows(time(12))


def test_policies_are_immutable() -> None:
    policy = default_policy("c")
    with pytest.raises(ValueError, match="frozen"):
        policy.complaint_cooldown_days = 1  # type: ignore[misc]


# -- TOML and JSON documents ------------------------------------------------------------


def test_the_documented_toml_example_parses() -> None:
    policy = parse_policy_toml(documented_toml())
    assert policy == CampaignPolicy(
        campaign_id="spring-loan",
        version=3,
        purpose=Purpose.MARKETING,
        channels=(Channel.VOICE, Channel.SMS),
        product="personal-loan",
        response_cooldown_days=90,
        accepted_cooldown_days=365,
        complaint_cooldown_days=30,
        respect_consent=True,
        realtime_channels=(Channel.MESSAGING,),
        quiet_hours=QuietHours(start=time(8), end=time(21)),
        frequency_caps=(
            FrequencyCap(channel=Channel.VOICE, max_contacts=2, days=7),
            FrequencyCap(max_contacts=5, days=30),
        ),
    )


def test_toml_local_times_are_accepted_as_well_as_strings() -> None:
    policy = parse_policy_toml(
        'campaign_id = "c"\nversion = 1\n[quiet_hours]\nstart = 09:30:00\nend = "18:00"\n'
    )
    assert policy.quiet_hours == QuietHours(start=time(9, 30), end=time(18))


def test_json_body_takes_the_campaign_from_the_path() -> None:
    body = json.dumps({"version": 2, "purpose": "service", "quiet_hours": {"enabled": False}})
    policy = parse_policy_json(body, campaign_id="payment-reminder")
    assert policy.campaign_id == "payment-reminder"
    assert policy.purpose is Purpose.SERVICE
    assert not policy.quiet_hours.enabled


def test_json_round_trip_gives_the_same_policy() -> None:
    policy = parse_policy_toml(documented_toml())
    assert parse_policy_json(policy.model_dump_json()) == policy


@pytest.mark.parametrize(
    ("document", "field", "message"),
    [
        ({"campaign_id": "c"}, "version", "is required"),
        ({"campaign_id": "c", "version": 0}, "version", "greater than or equal to 1"),
        ({"version": 1}, "campaign_id", "is required"),
        ({"campaign_id": "c", "version": 1, "cooldown": 3}, "cooldown", "not a known setting"),
        ({"campaign_id": "c", "version": 1, "purpose": "sales"}, "purpose", "marketing"),
        ({"campaign_id": "c", "version": 1, "channels": ["FAX"]}, "channels[0]", "SMS"),
        (
            {"campaign_id": "c", "version": 1, "frequency_caps": [{"max_contacts": 1}]},
            "frequency_caps[0].days",
            "is required",
        ),
        (
            {
                "campaign_id": "c",
                "version": 1,
                "frequency_caps": [{"max_contacts": MAX_CAP_CONTACTS + 1, "days": 7}],
            },
            "frequency_caps[0].max_contacts",
            f"less than or equal to {MAX_CAP_CONTACTS}",
        ),
        (
            {"campaign_id": "c", "version": 1, "quiet_hours": {"start": "25:00"}},
            "quiet_hours.start",
            "time",
        ),
        (
            {"campaign_id": "c", "version": 1, "quiet_hours": {"start": "08:00Z"}},
            "quiet_hours.start",
            "local time",
        ),
        (
            {"campaign_id": "c", "version": 1, "quiet_hours": {"start": "08:00:00.5"}},
            "quiet_hours.start",
            "whole second",
        ),
        (
            {"campaign_id": "c", "version": 1, "quiet_hours": {"start": "10:00", "end": "10:00"}},
            "quiet_hours",
            "enabled=false",
        ),
        (
            {"campaign_id": "c", "version": 1, "complaint_cooldown_days": -1},
            "complaint_cooldown_days",
            "greater than or equal to 0",
        ),
    ],
)
def test_a_bad_setting_is_named(document: dict[str, object], field: str, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy_json(json.dumps(document))
    assert raised.value.field == field
    assert str(raised.value).startswith(f"{field}: ")
    assert message in str(raised.value)


def test_every_bad_setting_is_reported_the_first_is_the_field() -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy({"campaign_id": "c", "version": 1, "purpose": "x", "product": ""})
    assert raised.value.field == "purpose"
    assert "product:" in str(raised.value)


def test_the_path_and_the_body_must_name_the_same_campaign() -> None:
    with pytest.raises(PolicyError, match="campaign_id: does not match") as raised:
        parse_policy_json('{"campaign_id": "a", "version": 1}', campaign_id="b")
    assert raised.value.field == "campaign_id"


@pytest.mark.parametrize(
    ("text", "message"),
    [("{", "not valid JSON"), ("[1, 2]", "must be an object"), (b"\xff", "not valid JSON")],
)
def test_a_body_that_is_no_policy_object_is_refused(text: str | bytes, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy_json(text)


def test_invalid_toml_is_refused() -> None:
    with pytest.raises(PolicyError, match="not valid TOML"):
        parse_policy_toml("campaign_id = ")


def test_a_toml_file_names_the_bad_field_too() -> None:
    with pytest.raises(PolicyError) as raised:
        parse_policy_toml('campaign_id = "c"\nversion = 1\n[[frequency_caps]]\ndays = 7\n')
    assert raised.value.field == "frequency_caps[0].max_contacts"


def test_policy_error_survives_pickling_with_its_field() -> None:
    error = pickle.loads(pickle.dumps(PolicyError("version", "is required")))
    assert (error.field, error.message, str(error)) == (
        "version",
        "is required",
        "version: is required",
    )


def test_versions_only_go_up() -> None:
    current = CampaignPolicy(campaign_id="c", version=3)
    assert ensure_newer(None, current) is True
    assert ensure_newer(default_policy("c"), current) is True
    assert ensure_newer(current, CampaignPolicy(campaign_id="c", version=4)) is True
    for stale in (3, 2):
        with pytest.raises(PolicyError, match="higher than the current version 3"):
            ensure_newer(current, CampaignPolicy(campaign_id="c", version=stale, product="p"))
    with pytest.raises(PolicyError, match="version: is required"):
        ensure_newer(current, default_policy("c"))


def test_the_current_policy_applied_again_is_no_change() -> None:
    current = parse_policy_toml(documented_toml())
    # The same document again, however it arrives: TOML, or the JSON the CLI sends.
    assert ensure_newer(current, parse_policy_toml(documented_toml())) is False
    again = parse_policy_json(json.dumps(current.model_dump(mode="json")))
    assert ensure_newer(current, again) is False
    # The same version with any field changed is still a conflict, not a no-op.
    for change in (
        {"purpose": Purpose.SERVICE},
        {"channels": (Channel.SMS, Channel.VOICE)},  # the order is the policy's too
        {"complaint_cooldown_days": 31},
        {"quiet_hours": QuietHours(start=time(8), end=time(21), enabled=False)},
        {"campaign_id": "autumn-loan"},
    ):
        with pytest.raises(PolicyError, match="higher than the current version 3"):
            ensure_newer(current, current.model_copy(update=change))
    # An earlier version's exact content is not the current policy either.
    older = current.model_copy(update={"version": 2})
    with pytest.raises(PolicyError, match="higher than the current version 3"):
        ensure_newer(current, older)
    assert ensure_newer(older, current) is True


channels = st.sampled_from(list(Channel))
caps = st.builds(
    FrequencyCap,
    channel=st.none() | channels,
    max_contacts=st.integers(1, MAX_CAP_CONTACTS),
    days=st.integers(1, 3660),
)
whole_seconds = st.builds(time, st.integers(0, 23), st.integers(0, 59), st.integers(0, 59))
windows = st.tuples(whole_seconds, whole_seconds, st.booleans()).filter(lambda w: w[0] != w[1])
policies = st.builds(
    CampaignPolicy,
    campaign_id=st.text(min_size=1, max_size=20),
    version=st.integers(1, 2**31 - 1),
    purpose=st.sampled_from(list(Purpose)),
    channels=st.lists(channels, max_size=3).map(tuple),
    product=st.none() | st.text(min_size=1, max_size=20),
    response_cooldown_days=st.none() | st.integers(0, 3650),
    accepted_cooldown_days=st.none() | st.integers(0, 3650),
    frequency_caps=st.lists(caps, max_size=4).map(tuple),
    quiet_hours=windows.map(lambda w: QuietHours(start=w[0], end=w[1], enabled=w[2])),
    realtime_channels=st.lists(channels, max_size=3).map(tuple),
    complaint_cooldown_days=st.integers(0, 3650),
    respect_consent=st.booleans(),
)


@given(policies)
def test_any_policy_survives_its_json_form(policy: CampaignPolicy) -> None:
    assert parse_policy_json(policy.model_dump_json()) == policy


@given(policies)
def test_any_policy_sent_again_as_json_is_no_change(policy: CampaignPolicy) -> None:
    assert ensure_newer(policy, parse_policy_json(policy.model_dump_json())) is False


# -- do-not-contact entries -------------------------------------------------------------


def test_an_entry_holds_the_normalised_identity() -> None:
    assert DoNotContactEntry(kind="phone", value="+90 532 123 45 67").value == TR_MOBILE
    assert DoNotContactEntry(kind="email", value=" Ayse@Example.COM ").value == "ayse@example.com"
    assert DoNotContactEntry(kind="phone", value=TR_MOBILE).key == f"phone:{TR_MOBILE}"


def test_an_entry_expires_at_its_expiry_not_before() -> None:
    expires = datetime(2027, 1, 1, tzinfo=UTC)
    entry = DoNotContactEntry(kind="phone", value=TR_MOBILE, expires_at=expires)
    assert entry.active(datetime(2026, 12, 31, 23, 59, 59, 999_000, tzinfo=UTC))
    assert not entry.active(expires)
    assert DoNotContactEntry(kind="phone", value=TR_MOBILE).active(datetime(2999, 1, 1, tzinfo=UTC))


def test_entry_expiry_is_kept_to_the_millisecond() -> None:
    entry = DoNotContactEntry(
        kind="email", value="a@b.co", expires_at=datetime(2027, 1, 1, 0, 0, 0, 123_456, tzinfo=UTC)
    )
    assert entry.expires_at == datetime(2027, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)


def test_an_entry_needs_an_international_number_without_a_region() -> None:
    with pytest.raises(ValueError, match="no country code"):
        DoNotContactEntry(kind="phone", value="0532 123 45 67")
    entry = dnc_entry("PHONE", "0532 123 45 67", default_region="TR", list_id="own")
    assert (entry.value, entry.list_id) == (TR_MOBILE, "own")


@pytest.mark.parametrize(
    ("kind", "value", "field", "message"),
    [
        ("fax", "1", "kind", "phone or email"),
        ("phone", "12", "value", "is not a valid phone number"),
        ("email", "nobody", "value", "exactly one '@'"),
    ],
)
def test_a_bad_entry_names_its_field(kind: str, value: str, field: str, message: str) -> None:
    with pytest.raises(PolicyError) as raised:
        dnc_entry(kind, value, default_region="TR")
    assert raised.value.field == field
    assert message in str(raised.value)
    assert value not in raised.value.message  # identities are personal data: never echoed


def test_an_entry_expiry_needs_a_zone() -> None:
    with pytest.raises(PolicyError, match="expires_at: needs a UTC offset"):
        dnc_entry("phone", TR_MOBILE, expires_at=datetime(2027, 1, 1))


# -- do-not-contact CSV -----------------------------------------------------------------


def test_csv_with_kind_and_value_columns() -> None:
    text = (
        "kind,value,expires_at\n"
        f"phone,{TR_MOBILE},2027-01-31\n"
        "email,Ayse@Example.com,2027-02-01T12:00:00+03:00\n"
        "phone,0212 555 12 34,\n"
    )
    result = parse_dnc_csv(text, default_region="TR", source="national-registry", list_id="tr")
    assert result.rejected == ()
    assert [(e.kind, e.value, e.expires_at) for e in result.entries] == [
        # A date: the entry still holds on that day (UTC).
        ("phone", TR_MOBILE, datetime(2027, 2, 1, tzinfo=UTC)),
        ("email", "ayse@example.com", datetime(2027, 2, 1, 9, tzinfo=UTC)),
        ("phone", "+902125551234", None),
    ]
    assert {(e.source, e.list_id) for e in result.entries} == {("national-registry", "tr")}


def test_csv_with_phone_and_email_columns_and_own_list_per_row() -> None:
    text = (
        "\ufeffPhone,Email,list_id\n+90 532 123 45 67,,own\n,b@example.com,\n+12135550123,c@x.io,\n"
    )
    result = parse_dnc_csv(text, list_id="default-list")
    assert result.rejected == ()
    assert [(e.key, e.list_id) for e in result.entries] == [
        (f"phone:{TR_MOBILE}", "own"),
        ("email:b@example.com", "default-list"),
        ("phone:+12135550123", "default-list"),
        ("email:c@x.io", "default-list"),
    ]


def test_csv_bad_rows_are_named_by_line_and_the_rest_imported() -> None:
    text = (
        "kind,value,expires_at\n"  # line 1
        "\n"  # 2: blank, skipped
        "phone,12,\n"  # 3
        'email,"two\nlines@example.com",\n'  # 4-5: quoted cell over two lines
        "fax,123,\n"  # 6
        "phone,+905321234567,tomorrow\n"  # 7
        "phone,+905321234567,2027-01-01T00:00:00\n"  # 8: no zone
        "phone,+905321234567\n"  # 9: a cell short
        "phone,,\n"  # 10
        "email,ok@example.com,\n"  # 11
    )
    result = parse_dnc_csv(text)
    assert [e.value for e in result.entries] == ["ok@example.com"]
    assert [row.line for row in result.rejected] == [3, 4, 6, 7, 8, 9, 10]
    reasons = dict((row.line, row.reason) for row in result.rejected)
    assert reasons[3].startswith("value: is not a valid phone number")
    assert reasons[4] == "value: must not contain spaces"
    assert reasons[6] == "kind: must be phone or email"
    assert reasons[7] == "expires_at: must be an ISO 8601 date or date-time"
    assert reasons[8].startswith("expires_at: needs a UTC offset")
    assert reasons[9] == "has 2 cells but the header has 3"
    assert reasons[10] == "value: is empty"
    assert all(TR_MOBILE not in row.reason for row in result.rejected)


def test_csv_row_without_any_identity_is_rejected() -> None:
    assert parse_dnc_csv("phone,email\n,\n").rejected == ()  # an empty row holds nothing
    result = parse_dnc_csv("phone,email,expires_at\n,,2027-01-01\n")
    assert result.rejected == (RejectedRow(2, "has neither a phone nor an email"),)


def test_csv_listing_one_identity_twice_keeps_the_longer_entry() -> None:
    text = (
        "kind,value,expires_at\n"
        f"phone,{TR_MOBILE},2027-01-01\n"
        f"phone,{TR_MOBILE},2028-01-01\n"
        f"phone,{TR_MOBILE},2026-01-01\n"
        "email,a@b.co,\n"
        "email,A@B.co,2030-01-01\n"
    )
    entries = parse_dnc_csv(text).entries
    assert [(e.value, e.expires_at) for e in entries] == [
        (TR_MOBILE, datetime(2028, 1, 2, tzinfo=UTC)),
        ("a@b.co", None),
    ]


def test_csv_one_identity_on_two_lists_is_two_entries() -> None:
    text = f"kind,value,list_id\nphone,{TR_MOBILE},national\nphone,{TR_MOBILE},own\n"
    assert [e.list_id for e in parse_dnc_csv(text).entries] == ["national", "own"]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "header: is missing"),
        ("\n\n", "header: is missing"),
        ("phone,name\n", "unknown column 'name'"),
        ("kind,phone\n", "needs both kind and value"),
        ("kind,value,email\n", "not both"),
        ("expires_at,source\n", "needs kind,value columns or a phone or email column"),
        ("phone,Phone\n", "names a column twice"),
    ],
)
def test_csv_without_a_usable_header_is_refused(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_dnc_csv(text)


def test_csv_unknown_default_region_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="unknown default phone region") as raised:
        parse_dnc_csv("phone\n+905321234567\n", default_region="XX")
    assert not isinstance(raised.value, PolicyError)
