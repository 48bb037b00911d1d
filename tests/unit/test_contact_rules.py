"""Tests for the contact rules and the dispatch-time check, rule by rule and as properties."""

from __future__ import annotations

import random
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streams.domain.campaign_policy import (
    MAX_CAP_CONTACTS,
    CampaignPolicy,
    DoNotContactEntry,
    FrequencyCap,
    Purpose,
    QuietHours,
    default_policy,
)
from streams.domain.contact_rules import (
    MAX_CONTACT_MOMENTS,
    RULES,
    CampaignResponse,
    ConsentRecord,
    ContactDecision,
    ContactFacts,
    ContactMoment,
    Reason,
    ReasonCode,
    Rule,
    check,
    complaint_cooldown_rule,
    consent_rule,
    customer_zone,
    do_not_contact_rule,
    frequency_cap_rule,
    offer_response_rule,
    phone_zone,
    quiet_hours_rule,
)
from streams.domain.model import Channel, Direction, OfferResponseKind, SuppressionReason

CAMPAIGN = "spring-loan"
TR_MOBILE = "+905321234567"  # Europe/Istanbul, UTC+3 all year
LA_NUMBER = "+12135550123"  # America/Los_Angeles
NY_NUMBER = "+12025550123"  # America/New_York (a Washington DC number)
RU_MOBILE = "+79161234567"  # Russia: many zones, phonenumbers lists Asia/Almaty first
# 12:00 in Istanbul, 02:00 in Los Angeles (summer time).
NOON_ISTANBUL = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)


def facts(**fields: Any) -> ContactFacts:
    fields.setdefault("customer_id", "c-42")
    fields.setdefault("phones", (TR_MOBILE,))
    return ContactFacts(**fields)


def policy(**fields: Any) -> CampaignPolicy:
    fields.setdefault("campaign_id", CAMPAIGN)
    fields.setdefault("version", 1)
    return CampaignPolicy(**fields)


def response(
    kind: OfferResponseKind, at: datetime, campaign_id: str = CAMPAIGN
) -> CampaignResponse:
    return CampaignResponse(campaign_id=campaign_id, response=kind, at=at)


def outbound(channel: Channel, at: datetime) -> ContactMoment:
    return ContactMoment(channel=channel, direction=Direction.OUTBOUND, at=at)


def consent(
    channel: Channel, granted: bool, at: datetime, purpose: Purpose = Purpose.MARKETING
) -> ConsentRecord:
    return ConsentRecord(channel=channel, purpose=purpose, granted=granted, at=at)


ACCEPTED, DECLINED = OfferResponseKind.ACCEPTED, OfferResponseKind.DECLINED
NOW = NOON_ISTANBUL
DAY = timedelta(days=1)


# -- 1. offer response ------------------------------------------------------------------


def test_an_acceptance_suppresses_the_campaign_for_good_by_default() -> None:
    answered = facts(offer_responses=(response(ACCEPTED, NOW - 400 * DAY),))
    reason = offer_response_rule(answered, policy(), Channel.VOICE, NOW)
    assert reason == Reason(
        rule=Rule.OFFER_RESPONSE,
        code=ReasonCode.OFFER_ACCEPTED,
        detail=f"accepted the offer of campaign {CAMPAIGN} on 2025-05-11 09:00 UTC",
        until=None,
    )
    assert reason.suppression_reason is SuppressionReason.OFFER_ACCEPTED


def test_a_decline_suppresses_for_good_unless_a_cooldown_is_set() -> None:
    declined_at = NOW - 10 * DAY
    answered = facts(offer_responses=(response(DECLINED, declined_at),))
    forever = offer_response_rule(answered, policy(), Channel.SMS, NOW)
    assert forever is not None and forever.code is ReasonCode.OFFER_DECLINED
    assert forever.until is None
    cooled = policy(response_cooldown_days=30)
    reason = offer_response_rule(answered, cooled, Channel.SMS, NOW)
    assert reason is not None and reason.until == declined_at + 30 * DAY
    assert offer_response_rule(answered, cooled, Channel.SMS, declined_at + 30 * DAY) is None
    # The decline cooldown does not shorten an acceptance.
    accepted = facts(offer_responses=(response(ACCEPTED, declined_at),))
    assert offer_response_rule(accepted, cooled, Channel.SMS, NOW + 400 * DAY) is not None


def test_an_acceptance_cooldown_can_be_configured() -> None:
    accepted = facts(offer_responses=(response(ACCEPTED, NOW - 10 * DAY),))
    rules = policy(accepted_cooldown_days=365)
    reason = offer_response_rule(accepted, rules, Channel.SMS, NOW)
    assert reason is not None and reason.until == NOW + 355 * DAY
    assert offer_response_rule(accepted, rules, Channel.SMS, NOW + 355 * DAY) is None


def test_only_answers_to_this_campaign_count() -> None:
    other = facts(offer_responses=(response(ACCEPTED, NOW, campaign_id="winter-card"),))
    assert offer_response_rule(other, policy(), Channel.SMS, NOW) is None


def test_a_later_decline_does_not_undo_an_acceptance() -> None:
    both = facts(
        offer_responses=(response(ACCEPTED, NOW - 20 * DAY), response(DECLINED, NOW - DAY))
    )
    reason = offer_response_rule(both, policy(response_cooldown_days=7), Channel.SMS, NOW)
    assert reason is not None and reason.code is ReasonCode.OFFER_ACCEPTED
    assert reason.until is None


def test_the_longest_holding_decline_is_named() -> None:
    both = facts(offer_responses=(response(DECLINED, NOW - DAY), response(DECLINED, NOW - 5 * DAY)))
    reason = offer_response_rule(both, policy(response_cooldown_days=7), Channel.SMS, NOW)
    assert reason is not None and reason.until == NOW + 6 * DAY


# -- 2. consent -------------------------------------------------------------------------


def test_an_opt_out_of_every_channel_forbids_every_channel() -> None:
    opted_out = facts(opted_out_all=True)
    for channel in (Channel.SMS, Channel.EMAIL, Channel.VOICE):
        reason = consent_rule(opted_out, policy(), channel, NOW)
        assert reason is not None and reason.code is ReasonCode.OPTED_OUT
        assert reason.until is None and reason.detail == "opted out of every channel"


def test_an_opt_out_of_a_channel_forbids_that_channel_only() -> None:
    stop = facts(opted_out_channels=(Channel.SMS,))
    reason = consent_rule(stop, policy(), Channel.SMS, NOW)
    assert reason is not None and reason.detail == "opted out of SMS"
    assert reason.suppression_reason is SuppressionReason.OPTED_OUT
    assert consent_rule(stop, policy(), Channel.VOICE, NOW) is None


def test_opt_outs_hold_even_when_the_policy_ignores_consent() -> None:
    ignoring = policy(respect_consent=False)
    assert consent_rule(facts(opted_out_channels=(Channel.SMS,)), ignoring, Channel.SMS, NOW)
    withdrawn = facts(consents=(consent(Channel.SMS, False, NOW - DAY),))
    assert consent_rule(withdrawn, ignoring, Channel.SMS, NOW) is None


def test_a_withdrawn_consent_for_the_purpose_and_channel_forbids() -> None:
    withdrawn = facts(consents=(consent(Channel.EMAIL, False, NOW - DAY),))
    reason = consent_rule(withdrawn, policy(), Channel.EMAIL, NOW)
    assert reason is not None and reason.code is ReasonCode.CONSENT_WITHDRAWN
    assert reason.detail == "withdrew marketing consent for EMAIL on 2026-06-14 09:00 UTC"
    assert reason.suppression_reason is SuppressionReason.OPTED_OUT
    assert consent_rule(withdrawn, policy(), Channel.SMS, NOW) is None
    assert consent_rule(withdrawn, policy(purpose=Purpose.SERVICE), Channel.EMAIL, NOW) is None


def test_consent_records_are_last_write_wins_by_time_whatever_their_order() -> None:
    regranted = (consent(Channel.SMS, True, NOW - DAY), consent(Channel.SMS, False, NOW - 2 * DAY))
    assert consent_rule(facts(consents=regranted), policy(), Channel.SMS, NOW) is None
    withdrawn = (consent(Channel.SMS, False, NOW - DAY), consent(Channel.SMS, True, NOW - 2 * DAY))
    assert consent_rule(facts(consents=withdrawn), policy(), Channel.SMS, NOW) is not None
    tie = (consent(Channel.SMS, True, NOW - DAY), consent(Channel.SMS, False, NOW - DAY))
    assert consent_rule(facts(consents=tie), policy(), Channel.SMS, NOW) is not None


def test_no_consent_record_means_no_objection() -> None:
    assert consent_rule(facts(), policy(), Channel.SMS, NOW) is None


# -- 3. do-not-contact ------------------------------------------------------------------


def dnc(
    value: str = TR_MOBILE, expires_at: datetime | None = None, **fields: Any
) -> DoNotContactEntry:
    kind: Literal["phone", "email"] = "email" if "@" in value else "phone"
    return DoNotContactEntry(kind=kind, value=value, expires_at=expires_at, **fields)


def test_a_dnc_entry_forbids_until_it_expires() -> None:
    expires = NOW + 3 * DAY
    listed = facts(dnc_matches=(dnc(expires_at=expires, list_id="national"),))
    reason = do_not_contact_rule(listed, policy(), Channel.VOICE, NOW)
    assert reason == Reason(
        rule=Rule.DO_NOT_CONTACT,
        code=ReasonCode.DO_NOT_CONTACT,
        detail="phone +90********67 is on do-not-contact list national",
        until=expires,
    )
    assert reason.suppression_reason is SuppressionReason.DO_NOT_CONTACT
    assert do_not_contact_rule(listed, policy(), Channel.VOICE, expires - timedelta(milliseconds=1))
    assert do_not_contact_rule(listed, policy(), Channel.VOICE, expires) is None


def test_dnc_expiry_lifts_the_check_without_any_new_fact() -> None:
    expires = NOW + 3 * DAY  # also 12:00 in Istanbul: inside the contact window
    listed = facts(dnc_matches=(dnc(expires_at=expires),))
    before = check(listed, policy(), Channel.VOICE, NOW)
    assert not before.allowed and before.next_allowed_at == expires
    assert check(listed, policy(), Channel.VOICE, expires).allowed


def test_an_indefinite_entry_outweighs_an_expiring_one() -> None:
    listed = facts(
        dnc_matches=(dnc(expires_at=NOW + DAY, list_id="a"), dnc("a@example.com", list_id="b"))
    )
    reason = do_not_contact_rule(listed, policy(), Channel.SMS, NOW)
    assert reason is not None and reason.until is None
    assert reason.detail == "email a***@example.com is on do-not-contact list b (and 1 more)"


def test_expired_entries_change_nothing() -> None:
    listed = facts(dnc_matches=(dnc(expires_at=NOW - DAY),))
    assert do_not_contact_rule(listed, policy(), Channel.SMS, NOW) is None


# -- 4. frequency caps ------------------------------------------------------------------


def test_a_channel_cap_counts_outbound_contacts_on_that_channel_in_the_window() -> None:
    history = facts(
        contact_moments=(
            outbound(Channel.VOICE, NOW - 8 * DAY),  # outside the 7 days
            outbound(Channel.VOICE, NOW - 5 * DAY),
            ContactMoment(channel=Channel.VOICE, direction=Direction.INBOUND, at=NOW - 4 * DAY),
            outbound(Channel.SMS, NOW - 3 * DAY),
            outbound(Channel.VOICE, NOW - 2 * DAY),
        )
    )
    capped = policy(frequency_caps=(FrequencyCap(channel=Channel.VOICE, max_contacts=2, days=7),))
    reason = frequency_cap_rule(history, capped, Channel.VOICE, NOW)
    assert reason == Reason(
        rule=Rule.FREQUENCY_CAP,
        code=ReasonCode.FREQUENCY_CAP,
        detail="2 outbound contacts on VOICE in the last 7 days (cap 2)",
        until=NOW + 2 * DAY,  # when the one five days ago leaves the window
    )
    assert frequency_cap_rule(history, capped, Channel.SMS, NOW) is None  # not its channel
    assert frequency_cap_rule(history, capped, Channel.VOICE, NOW + 2 * DAY) is None
    loose = policy(frequency_caps=(FrequencyCap(channel=Channel.VOICE, max_contacts=3, days=7),))
    assert frequency_cap_rule(history, loose, Channel.VOICE, NOW) is None


def test_an_all_channel_cap_counts_every_channel() -> None:
    history = facts(
        contact_moments=(
            outbound(Channel.EMAIL, NOW - 20 * DAY),
            outbound(Channel.SMS, NOW - 10 * DAY),
            outbound(Channel.VOICE, NOW - DAY),
        )
    )
    capped = policy(frequency_caps=(FrequencyCap(max_contacts=3, days=30),))
    reason = frequency_cap_rule(history, capped, Channel.EMAIL, NOW)
    assert reason is not None and reason.until == NOW + 10 * DAY
    assert reason.detail == "3 outbound contacts across all channels in the last 30 days (cap 3)"


def test_over_the_cap_the_rule_holds_until_enough_contacts_leave() -> None:
    history = facts(
        contact_moments=tuple(outbound(Channel.SMS, NOW - n * DAY) for n in (6, 5, 4, 1))
    )
    capped = policy(frequency_caps=(FrequencyCap(channel=Channel.SMS, max_contacts=2, days=7),))
    reason = frequency_cap_rule(history, capped, Channel.SMS, NOW)
    # Four in the window, two allowed: the third oldest (four days ago) must leave too.
    assert reason is not None and reason.until == NOW + 3 * DAY
    assert frequency_cap_rule(history, capped, Channel.SMS, NOW + 3 * DAY - timedelta(seconds=1))
    assert frequency_cap_rule(history, capped, Channel.SMS, NOW + 3 * DAY) is None


def test_the_cap_that_holds_longest_is_named() -> None:
    history = facts(
        contact_moments=(outbound(Channel.SMS, NOW - 20 * DAY), outbound(Channel.SMS, NOW - DAY))
    )
    capped = policy(
        frequency_caps=(
            FrequencyCap(channel=Channel.SMS, max_contacts=1, days=2),
            FrequencyCap(max_contacts=2, days=30),
        )
    )
    reason = frequency_cap_rule(history, capped, Channel.SMS, NOW)
    assert reason is not None and reason.until == NOW + 10 * DAY
    assert "across all channels" in reason.detail


# -- 5. quiet hours ---------------------------------------------------------------------


def test_the_same_instant_is_allowed_in_istanbul_and_quiet_in_los_angeles() -> None:
    morning_utc = datetime(2026, 6, 15, 6, 0, tzinfo=UTC)  # 09:00 Istanbul, 23:00 LA (day before)
    assert (
        quiet_hours_rule(facts(phones=(TR_MOBILE,)), policy(), Channel.VOICE, morning_utc) is None
    )
    reason = quiet_hours_rule(facts(phones=(LA_NUMBER,)), policy(), Channel.VOICE, morning_utc)
    assert reason == Reason(
        rule=Rule.QUIET_HOURS,
        code=ReasonCode.QUIET_HOURS,
        detail="23:00 in America/Los_Angeles (phone number) is outside the contact window "
        "08:00-21:00",
        until=datetime(2026, 6, 15, 15, 0, tzinfo=UTC),  # 08:00 PDT
    )
    assert reason.suppression_reason is SuppressionReason.QUIET_HOURS


def test_the_window_start_is_inclusive_and_its_end_exclusive() -> None:
    eight = datetime(2026, 6, 15, 5, 0, tzinfo=UTC)  # 08:00 in Istanbul
    assert quiet_hours_rule(facts(), policy(), Channel.SMS, eight) is None
    assert quiet_hours_rule(facts(), policy(), Channel.SMS, eight - timedelta(milliseconds=1))
    nine_pm = datetime(2026, 6, 15, 18, 0, tzinfo=UTC)
    assert quiet_hours_rule(facts(), policy(), Channel.SMS, nine_pm - timedelta(seconds=1)) is None
    late = quiet_hours_rule(facts(), policy(), Channel.SMS, nine_pm)
    assert late is not None and late.until == eight + DAY


def test_quiet_hours_across_the_spring_forward_change() -> None:
    # 2026-03-08 02:00 EST the clocks in New York jump to 03:00 EDT.
    evening = facts(phones=(NY_NUMBER,))
    before = datetime(2026, 3, 8, 3, 0, tzinfo=UTC)  # 22:00 EST on the 7th
    reason = quiet_hours_rule(evening, policy(), Channel.VOICE, before)
    assert reason is not None
    assert reason.until == datetime(2026, 3, 8, 12, 0, tzinfo=UTC)  # 08:00 EDT, not 13:00
    assert quiet_hours_rule(evening, policy(), Channel.VOICE, reason.until) is None


def test_quiet_hours_across_the_fall_back_change() -> None:
    # 2026-11-01 02:00 EDT the clocks in New York go back to 01:00 EST.
    evening = facts(timezone="America/New_York")
    before = datetime(2026, 11, 1, 2, 0, tzinfo=UTC)  # 22:00 EDT on 31 October
    reason = quiet_hours_rule(evening, policy(), Channel.SMS, before)
    assert reason is not None
    assert reason.until == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)  # 08:00 EST, not 12:00


def test_a_window_starting_in_the_skipped_hour_opens_at_the_change() -> None:
    early = policy(quiet_hours=QuietHours(start=time(2, 30), end=time(21)))
    ny = facts(timezone="America/New_York")
    reason = quiet_hours_rule(ny, early, Channel.SMS, datetime(2026, 3, 8, 6, 0, tzinfo=UTC))
    # 02:30 does not exist that night; at 07:00 UTC it is 03:00 EDT, already past 02:30.
    assert reason is not None and reason.until == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)


def test_a_window_reentered_by_the_clock_going_back_opens_at_the_change() -> None:
    # Window 08:00-01:30: at 01:45 EDT it is quiet, until the clock goes back to 01:00 EST.
    late = policy(quiet_hours=QuietHours(start=time(8), end=time(1, 30)))
    ny = facts(timezone="America/New_York")
    reason = quiet_hours_rule(ny, late, Channel.SMS, datetime(2026, 11, 1, 5, 45, tzinfo=UTC))
    assert reason is not None and reason.until == datetime(2026, 11, 1, 6, 0, tzinfo=UTC)


def test_quiet_hours_apply_to_real_time_channels_only() -> None:
    night = datetime(2026, 6, 15, 22, 0, tzinfo=UTC)  # 01:00 in Istanbul
    assert quiet_hours_rule(facts(), policy(), Channel.VOICE, night) is not None
    assert quiet_hours_rule(facts(), policy(), Channel.SMS, night) is not None
    assert quiet_hours_rule(facts(), policy(), Channel.EMAIL, night) is None
    assert quiet_hours_rule(facts(), policy(), Channel.MESSAGING, night) is None
    realtime = policy(realtime_channels=(Channel.MESSAGING,))
    assert quiet_hours_rule(facts(), realtime, Channel.MESSAGING, night) is not None
    off = policy(quiet_hours=QuietHours(enabled=False))
    assert quiet_hours_rule(facts(), off, Channel.VOICE, night) is None


def test_a_window_spanning_midnight() -> None:
    night_desk = policy(quiet_hours=QuietHours(start=time(20), end=time(2)))
    at_23 = datetime(2026, 6, 15, 20, 0, tzinfo=UTC)  # 23:00 Istanbul
    assert quiet_hours_rule(facts(), night_desk, Channel.VOICE, at_23) is None
    at_noon = quiet_hours_rule(facts(), night_desk, Channel.VOICE, NOON_ISTANBUL)
    assert at_noon is not None and at_noon.until == datetime(2026, 6, 15, 17, 0, tzinfo=UTC)


def test_the_time_zone_comes_from_the_profile_then_the_phone_then_utc() -> None:
    assert customer_zone(facts(timezone="Asia/Tehran", phones=(LA_NUMBER,))).key == "Asia/Tehran"
    assert customer_zone(facts(phones=(LA_NUMBER, TR_MOBILE))).key == "America/Los_Angeles"
    # A number without a zone of its own (a toll-free +800 one) gives way to the next one.
    assert customer_zone(facts(phones=("+80012345678", TR_MOBILE))).key == "Europe/Istanbul"
    assert customer_zone(facts(phones=())).key == "UTC"
    reason = quiet_hours_rule(
        facts(phones=()), policy(), Channel.SMS, datetime(2026, 6, 15, 22, tzinfo=UTC)
    )
    assert reason is not None and "in UTC (default)" in reason.detail


def test_a_number_with_several_zones_gets_the_first_listed() -> None:
    assert phone_zone(RU_MOBILE) == "Asia/Almaty"
    assert phone_zone("not a number") is None


def test_an_unknown_profile_time_zone_is_refused() -> None:
    for name in ("Mars/Olympus", "America", "../etc/passwd", ""):
        with pytest.raises(ValueError, match="IANA time zone"):
            facts(timezone=name)


# -- 6. complaint cooldown --------------------------------------------------------------


def test_no_marketing_after_a_complaint_for_the_cooldown() -> None:
    complained = facts(last_complaint_at=NOW - 10 * DAY)
    reason = complaint_cooldown_rule(complained, policy(), Channel.EMAIL, NOW)
    assert reason == Reason(
        rule=Rule.COMPLAINT_COOLDOWN,
        code=ReasonCode.COMPLAINT,
        detail="complained on 2026-06-05 09:00 UTC: no marketing for 30 days",
        until=NOW + 20 * DAY,
    )
    assert reason.suppression_reason is SuppressionReason.COMPLAINT
    assert complaint_cooldown_rule(complained, policy(), Channel.EMAIL, NOW + 20 * DAY) is None
    assert (
        complaint_cooldown_rule(complained, policy(complaint_cooldown_days=7), Channel.EMAIL, NOW)
        is None
    )
    assert (
        complaint_cooldown_rule(complained, policy(complaint_cooldown_days=0), Channel.EMAIL, NOW)
        is None
    )


def test_service_contact_is_not_held_back_by_a_complaint() -> None:
    complained = facts(last_complaint_at=NOW - DAY)
    assert (
        complaint_cooldown_rule(complained, policy(purpose=Purpose.SERVICE), Channel.SMS, NOW)
        is None
    )


# -- 7. already converted ---------------------------------------------------------------


def test_a_customer_who_bought_the_product_is_not_contacted() -> None:
    bought = facts(products=("credit-card", "personal-loan"))
    reason = check(bought, policy(product="personal-loan"), Channel.EMAIL, NOW)
    assert reason.reasons == (
        Reason(
            rule=Rule.ALREADY_CONVERTED,
            code=ReasonCode.ALREADY_CONVERTED,
            detail="already bought personal-loan",
        ),
    )
    assert reason.next_allowed_at is None
    assert check(bought, policy(product="mortgage"), Channel.EMAIL, NOW).allowed
    assert check(bought, policy(), Channel.EMAIL, NOW).allowed


# -- check ------------------------------------------------------------------------------


def test_an_unremarkable_customer_may_be_contacted() -> None:
    assert check(facts(), policy(version=7), Channel.VOICE, NOW) == ContactDecision(
        allowed=True, reasons=(), policy_version=7, next_allowed_at=None
    )


def test_without_a_policy_the_defaults_apply_with_no_version() -> None:
    decision = check(facts(last_complaint_at=NOW - DAY), default_policy(CAMPAIGN), Channel.SMS, NOW)
    assert not decision.allowed and decision.policy_version is None
    assert [r.rule for r in decision.reasons] == [Rule.COMPLAINT_COOLDOWN]


def test_every_rule_reports_in_the_fixed_order() -> None:
    everything = facts(
        phones=(LA_NUMBER,),
        offer_responses=(response(DECLINED, NOW - DAY),),
        opted_out_channels=(Channel.VOICE,),
        dnc_matches=(dnc(LA_NUMBER, expires_at=NOW + DAY),),
        contact_moments=(outbound(Channel.VOICE, NOW - DAY),),
        last_complaint_at=NOW - DAY,
        products=("personal-loan",),
    )
    rules = policy(
        product="personal-loan",
        frequency_caps=(FrequencyCap(max_contacts=1, days=7),),
    )
    decision = check(everything, rules, Channel.VOICE, NOW)  # 02:00 in Los Angeles
    assert [reason.rule for reason in decision.reasons] == list(Rule)
    assert [rule for rule, _ in RULES] == list(Rule)
    assert decision.next_allowed_at is None  # permanent reasons among them


def test_next_allowed_at_is_the_latest_until_when_every_reason_lifts() -> None:
    temporary = facts(
        dnc_matches=(dnc(expires_at=NOW + 2 * DAY),),
        last_complaint_at=NOW - 25 * DAY,  # lifts in five days
    )
    decision = check(temporary, policy(), Channel.SMS, NOW)
    assert [r.rule for r in decision.reasons] == [Rule.DO_NOT_CONTACT, Rule.COMPLAINT_COOLDOWN]
    assert decision.next_allowed_at == NOW + 5 * DAY


def test_next_allowed_at_waits_for_the_window_when_the_last_reason_lifts_at_night() -> None:
    expires = datetime(2026, 6, 15, 20, 30, tzinfo=UTC)  # 23:30 in Istanbul
    decision = check(facts(dnc_matches=(dnc(expires_at=expires),)), policy(), Channel.SMS, NOW)
    assert decision.next_allowed_at == datetime(2026, 6, 16, 5, 0, tzinfo=UTC)  # 08:00 next day
    assert (
        check(
            facts(dnc_matches=(dnc(expires_at=expires),)), policy(), Channel.EMAIL, NOW
        ).next_allowed_at
        == expires
    )


def test_the_decision_serialises_byte_for_byte_the_same() -> None:
    some = facts(
        phones=(LA_NUMBER,),
        contact_moments=(outbound(Channel.SMS, NOW - DAY),),
        offer_responses=(response(DECLINED, NOW - DAY),),
    )
    rules = policy(response_cooldown_days=3, frequency_caps=(FrequencyCap(max_contacts=1, days=2),))
    first = check(some, rules, Channel.SMS, NOW).model_dump_json()
    again = check(ContactFacts.model_validate_json(some.model_dump_json()), rules, Channel.SMS, NOW)
    assert again.model_dump_json() == first
    assert first == (
        '{"allowed":false,"reasons":['
        '{"rule":"offer-response","code":"OFFER_DECLINED","detail":"declined the offer of '
        'campaign spring-loan on 2026-06-14 09:00 UTC","until":"2026-06-17T09:00:00Z"},'
        '{"rule":"frequency-cap","code":"FREQUENCY_CAP","detail":"1 outbound contacts across '
        'all channels in the last 2 days (cap 1)","until":"2026-06-16T09:00:00Z"},'
        '{"rule":"quiet-hours","code":"QUIET_HOURS","detail":"02:00 in America/Los_Angeles '
        '(phone number) is outside the contact window 08:00-21:00",'
        '"until":"2026-06-15T15:00:00Z"}],'
        '"policy_version":1,"next_allowed_at":"2026-06-17T15:00:00Z"}'
    )


def test_now_must_be_timezone_aware() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        check(facts(), policy(), Channel.SMS, datetime(2026, 6, 15, 12))


def test_facts_keep_times_to_the_millisecond_and_products_as_a_sorted_set() -> None:
    at = datetime(2026, 6, 15, 9, 0, 0, 123_456, tzinfo=UTC)
    some = facts(
        last_complaint_at=at, products=("b", "a", "b"), contact_moments=(outbound(Channel.SMS, at),)
    )
    assert some.last_complaint_at == at.replace(microsecond=123_000)
    assert some.contact_moments[0].at == at.replace(microsecond=123_000)
    assert some.products == ("a", "b")


def test_the_contact_history_is_bounded_above_the_largest_cap() -> None:
    assert MAX_CONTACT_MOMENTS >= MAX_CAP_CONTACTS
    moments = tuple(
        outbound(Channel.SMS, NOW - n * timedelta(minutes=1))
        for n in range(MAX_CONTACT_MOMENTS + 1)
    )
    with pytest.raises(ValueError, match="contact_moments"):
        facts(contact_moments=moments)


# -- properties -------------------------------------------------------------------------

# Zones with unusual clocks: 30-minute DST (Lord Howe), changes at midnight (Havana,
# Santiago), odd offsets (Kathmandu, Chatham), the southern hemisphere, and none at all.
ZONES = [
    "Europe/Istanbul",
    "America/Los_Angeles",
    "America/New_York",
    "Europe/London",
    "Asia/Tehran",
    "Australia/Lord_Howe",
    "America/Havana",
    "America/Santiago",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "UTC",
]
PHONES = [TR_MOBILE, LA_NUMBER, NY_NUMBER, RU_MOBILE, "+989121234567", "+37491123456"]
CAMPAIGNS = [CAMPAIGN, "winter-card"]
PRODUCTS = ["personal-loan", "credit-card"]
START = datetime(2025, 1, 1)

instants = st.datetimes(min_value=START, max_value=datetime(2027, 12, 31), timezones=st.just(UTC))
channels = st.sampled_from(list(Channel))
whole_seconds = st.builds(
    time, st.integers(0, 23), st.sampled_from([0, 15, 30, 59]), st.sampled_from([0, 30])
)
windows = st.tuples(whole_seconds, whole_seconds, st.booleans()).filter(lambda w: w[0] != w[1])

policies = st.builds(
    CampaignPolicy,
    campaign_id=st.just(CAMPAIGN),
    version=st.none() | st.integers(1, 100),
    purpose=st.sampled_from(list(Purpose)),
    product=st.none() | st.sampled_from(PRODUCTS),
    response_cooldown_days=st.none() | st.integers(0, 60),
    accepted_cooldown_days=st.none() | st.integers(0, 60),
    frequency_caps=st.lists(
        st.builds(
            FrequencyCap,
            channel=st.none() | channels,
            max_contacts=st.integers(1, 4),
            days=st.integers(1, 30),
        ),
        max_size=3,
    ).map(tuple),
    quiet_hours=windows.map(lambda w: QuietHours(start=w[0], end=w[1], enabled=w[2])),
    realtime_channels=st.lists(channels, max_size=2).map(tuple),
    complaint_cooldown_days=st.integers(0, 60),
    respect_consent=st.booleans(),
)

dnc_entries = st.builds(
    DoNotContactEntry,
    kind=st.just("phone"),
    value=st.sampled_from(PHONES),
    expires_at=st.none() | instants,
    list_id=st.none() | st.sampled_from(["national", "own"]),
)

consents = st.builds(
    ConsentRecord,
    channel=channels,
    purpose=st.sampled_from(list(Purpose)),
    granted=st.booleans(),
    at=instants,
)
offer_responses = st.builds(
    CampaignResponse,
    campaign_id=st.sampled_from(CAMPAIGNS),
    response=st.sampled_from(list(OfferResponseKind)),
    at=instants,
)
contact_moments = st.lists(
    st.builds(
        ContactMoment, channel=channels, direction=st.sampled_from(list(Direction)), at=instants
    ),
    max_size=12,
).map(lambda moments: tuple(sorted(moments, key=lambda m: m.at)))

contact_facts = st.builds(
    ContactFacts,
    customer_id=st.just("c-42"),
    phones=st.lists(st.sampled_from(PHONES), max_size=2, unique=True).map(tuple),
    timezone=st.none() | st.sampled_from(ZONES),
    consents=st.lists(consents, max_size=4).map(tuple),
    opted_out_channels=st.lists(channels, max_size=2).map(tuple),
    opted_out_all=st.sampled_from([False] * 4 + [True]),
    offer_responses=st.lists(offer_responses, max_size=3).map(tuple),
    contact_moments=contact_moments,
    last_complaint_at=st.none() | instants,
    products=st.lists(st.sampled_from(PRODUCTS), max_size=2).map(tuple),
    dnc_matches=st.lists(dnc_entries, max_size=2).map(tuple),
)

# Facts and policies whose every reason lifts with time: the ground for the properties of
# next_allowed_at, which is None whenever a reason is permanent.
passing_facts = st.builds(
    ContactFacts,
    customer_id=st.just("c-42"),
    phones=st.lists(st.sampled_from(PHONES), max_size=2, unique=True).map(tuple),
    timezone=st.none() | st.sampled_from(ZONES),
    offer_responses=st.lists(offer_responses, max_size=3).map(tuple),
    contact_moments=contact_moments,
    last_complaint_at=st.none() | instants,
    dnc_matches=st.lists(
        st.builds(
            DoNotContactEntry,
            kind=st.just("phone"),
            value=st.sampled_from(PHONES),
            expires_at=instants,
        ),
        max_size=2,
    ).map(tuple),
)
passing_policies = st.builds(
    CampaignPolicy,
    campaign_id=st.just(CAMPAIGN),
    response_cooldown_days=st.integers(0, 60),
    accepted_cooldown_days=st.integers(0, 60),
    frequency_caps=st.lists(
        st.builds(
            FrequencyCap,
            channel=st.none() | channels,
            max_contacts=st.integers(1, 4),
            days=st.integers(1, 30),
        ),
        max_size=3,
    ).map(tuple),
    quiet_hours=windows.map(lambda w: QuietHours(start=w[0], end=w[1], enabled=w[2])),
    complaint_cooldown_days=st.integers(0, 60),
)


@given(contact_facts, policies, channels, instants)
def test_check_is_deterministic(
    some: ContactFacts, rules: CampaignPolicy, channel: Channel, now: datetime
) -> None:
    decision = check(some, rules, channel, now)
    rebuilt = ContactFacts.model_validate_json(some.model_dump_json())
    assert check(rebuilt, rules, channel, now).model_dump_json() == decision.model_dump_json()
    assert ContactDecision.model_validate_json(decision.model_dump_json()) == decision


@given(contact_facts, policies, channels, instants, st.randoms(use_true_random=False))
def test_the_order_facts_are_kept_in_does_not_matter(
    some: ContactFacts, rules: CampaignPolicy, channel: Channel, now: datetime, rng: random.Random
) -> None:
    def shuffled(items: tuple[Any, ...]) -> tuple[Any, ...]:
        return tuple(rng.sample(items, len(items)))

    # Not the phones: the first one with a time zone is the customer's, by definition.
    reordered = some.model_copy(
        update={
            field: shuffled(getattr(some, field))
            for field in ("consents", "offer_responses", "contact_moments", "dnc_matches")
        }
    )
    assert check(reordered, rules, channel, now) == check(some, rules, channel, now)


@given(contact_facts, policies, channels, instants)
def test_a_decision_is_consistent(
    some: ContactFacts, rules: CampaignPolicy, channel: Channel, now: datetime
) -> None:
    decision = check(some, rules, channel, now)
    assert decision.allowed == (not decision.reasons)
    assert decision.policy_version == rules.version
    order = list(Rule)
    positions = [order.index(reason.rule) for reason in decision.reasons]
    assert positions == sorted(set(positions))  # one reason per rule, in rule order
    if decision.allowed or any(reason.until is None for reason in decision.reasons):
        assert decision.next_allowed_at is None
    else:
        assert decision.next_allowed_at is not None
        assert decision.next_allowed_at >= max(r.until for r in decision.reasons if r.until)


@given(passing_facts, passing_policies, channels, instants, st.floats(0, 1))
def test_next_allowed_at_is_the_first_moment_the_contact_is_allowed(
    some: ContactFacts, rules: CampaignPolicy, channel: Channel, now: datetime, fraction: float
) -> None:
    decision = check(some, rules, channel, now)
    if decision.next_allowed_at is None:
        assert decision.allowed  # no reason here is permanent
        return
    then = decision.next_allowed_at
    assert then > now
    later = check(some, rules, channel, then)
    assert later.allowed
    assert not {r.rule for r in decision.reasons} & {r.rule for r in later.reasons}
    between = now + (then - now) * fraction
    if between < then:
        assert not check(some, rules, channel, between).allowed


@given(contact_facts, policies, channels, instants)
def test_every_until_is_the_moment_its_rule_stops_holding(
    some: ContactFacts, rules: CampaignPolicy, channel: Channel, now: datetime
) -> None:
    for rule_name, rule in RULES:
        reason = rule(some, rules, channel, now)
        if reason is None or reason.until is None:
            continue
        assert reason.rule is rule_name
        assert reason.until > now
        assert rule(some, rules, channel, reason.until) is None
        assert rule(some, rules, channel, reason.until - timedelta(milliseconds=1)) is not None


@given(
    contact_facts, policies, channels, instants, st.timedeltas(timedelta(0), timedelta(days=400))
)
def test_only_quiet_hours_can_begin_to_forbid_as_time_passes(
    some: ContactFacts, rules: CampaignPolicy, channel: Channel, now: datetime, wait: timedelta
) -> None:
    # What `next_allowed_at` rests on: past the latest `until` only the window can hold.
    for rule_name, rule in RULES:
        if rule_name is Rule.QUIET_HOURS or rule(some, rules, channel, now) is not None:
            continue
        assert rule(some, rules, channel, now + wait) is None, rule_name


FORBIDDING = [
    "opt_out_all",
    "opt_out_channel",
    "withdraw_consent",
    "answer_offer",
    "list_dnc",
    "contact",
    "complain",
    "buy",
]


def add_forbidding_fact(
    some: ContactFacts, kind: str, channel: Channel, at: datetime, data: st.DataObject
) -> ContactFacts:
    update: dict[str, Any]
    if kind == "opt_out_all":
        update = {"opted_out_all": True}
    elif kind == "opt_out_channel":
        update = {"opted_out_channels": (*some.opted_out_channels, data.draw(channels))}
    elif kind == "withdraw_consent":
        newest = max([c.at for c in some.consents] + [at]) + timedelta(milliseconds=1)
        withdrawal = ConsentRecord(
            channel=data.draw(channels),
            purpose=data.draw(st.sampled_from(list(Purpose))),
            granted=False,
            at=newest,
        )
        update = {"consents": (*some.consents, withdrawal)}
    elif kind == "answer_offer":
        answer = CampaignResponse(
            campaign_id=data.draw(st.sampled_from(CAMPAIGNS)),
            response=data.draw(st.sampled_from(list(OfferResponseKind))),
            at=at,
        )
        update = {"offer_responses": (*some.offer_responses, answer)}
    elif kind == "list_dnc":
        update = {"dnc_matches": (*some.dnc_matches, data.draw(dnc_entries))}
    elif kind == "contact":
        update = {"contact_moments": (*some.contact_moments, outbound(channel, at))}
    elif kind == "complain":
        known = some.last_complaint_at
        update = {"last_complaint_at": at if known is None else max(known, at)}
    else:
        update = {"products": tuple(sorted({*some.products, data.draw(st.sampled_from(PRODUCTS))}))}
    return ContactFacts.model_validate({**some.model_dump(), **update})


@given(
    contact_facts, policies, channels, instants, st.sampled_from(FORBIDDING), instants, st.data()
)
def test_a_forbidding_fact_never_allows_what_was_forbidden(
    some: ContactFacts,
    rules: CampaignPolicy,
    channel: Channel,
    now: datetime,
    kind: str,
    at: datetime,
    data: st.DataObject,
) -> None:
    more = add_forbidding_fact(some, kind, data.draw(channels), at, data)
    before, after = check(some, rules, channel, now), check(more, rules, channel, now)
    if not before.allowed:
        assert not after.allowed
        # ... and it can only push the next allowed moment later, or to never.
        if before.next_allowed_at is None:
            assert after.next_allowed_at is None
        elif after.next_allowed_at is not None:
            assert after.next_allowed_at >= before.next_allowed_at
    assert {r.rule for r in before.reasons} <= {r.rule for r in after.reasons}


@given(st.sampled_from(ZONES), windows, instants)
def test_quiet_hours_lift_exactly_when_the_window_opens(
    zone: str, window: tuple[time, time, bool], now: datetime
) -> None:
    rules = policy(quiet_hours=QuietHours(start=window[0], end=window[1]))
    local = facts(timezone=zone)
    reason = quiet_hours_rule(local, rules, Channel.VOICE, now)
    if reason is None:
        return
    assert reason.until is not None and now < reason.until <= now + 2 * DAY
    assert quiet_hours_rule(local, rules, Channel.VOICE, reason.until) is None
    assert quiet_hours_rule(local, rules, Channel.VOICE, reason.until - timedelta(seconds=1))
