"""Edge cases of the channel adapters' pure functions, called directly with a fixed clock.

The HTTP round trip and the shared adapter contract are in tests/integration/test_adapters.py;
these tests pin the branches a single happy sample per channel does not reach.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from twilio.request_validator import RequestValidator

from streams.adapters import amazon_connect, ivr, sms_gateway, twilio, web_context
from streams.adapters.common import (
    MAX_METADATA_VALUE,
    VendorFields,
    email,
    phone_or_none,
    timestamp,
)
from streams.adapters.native import InputError
from streams.domain.events import ContactAttempt, Message, OfferPresented
from streams.domain.model import Channel, Direction

REGION = "TR"
NOW = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
AT_VENDOR = datetime(2026, 11, 23, 10, 16, tzinfo=UTC)
CUSTOMER = "+905321234567"
CUSTOMER_NATIONAL = "0532 123 45 67"
SYSTEM = "+908501112233"


# --- common: times ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1795428960, AT_VENDOR),
        (1795428960.5, AT_VENDOR.replace(microsecond=500_000)),
        ("1795428960", AT_VENDOR),
        (" 1795428960 ", AT_VENDOR),
        (1795428960123, AT_VENDOR.replace(microsecond=123_000)),  # milliseconds
        ("1795428960123", AT_VENDOR.replace(microsecond=123_000)),
        ("2026-11-23T10:16:00Z", AT_VENDOR),
        ("2026-11-23T13:16:00+03:00", AT_VENDOR),
        ("2026-11-23T05:16:00-05:00", AT_VENDOR),
        ("Mon, 23 Nov 2026 13:16:00 +0300", AT_VENDOR),
        ("Mon, 23 Nov 2026 10:16:00 GMT", AT_VENDOR),
    ],
)
def test_timestamp_reads_unix_iso_and_rfc2822_times_as_utc(value: Any, expected: datetime) -> None:
    moment = timestamp(value, "at")
    assert moment == expected
    assert moment.tzinfo is UTC


@pytest.mark.parametrize("value", ["2026-11-23T10:16:00", "2026-11-23", "2026-11-23 10:16:00"])
def test_timestamp_refuses_a_time_without_a_zone_naming_the_field(value: str) -> None:
    with pytest.raises(InputError, match="time zone") as caught:
        timestamp(value, "visits[0].at")
    assert caught.value.field == "visits[0].at"


@pytest.mark.parametrize(
    "value", ["yesterday", "", "1795428960.5", "23/11/2026", True, None, [1], {"at": 1}, 1e30]
)
def test_timestamp_refuses_what_is_not_a_time_naming_the_field(value: Any) -> None:
    with pytest.raises(InputError) as caught:
        timestamp(value, "Timestamp")
    assert caught.value.field == "Timestamp"


def test_timestamp_reads_rfc2822_minus_zero_zone_as_utc() -> None:
    assert timestamp("Mon, 23 Nov 2026 10:16:00 -0000", "Timestamp") == AT_VENDOR


# --- common: vendor fields, identities -------------------------------------------------------


def test_extras_keeps_only_the_fields_not_read() -> None:
    fields = VendorFields({"MessageSid": "SM1", "Body": "EVET", "FromCity": "ISTANBUL"})
    fields.required("MessageSid")
    fields.raw("Body")
    assert fields.extras() == {"FromCity": "ISTANBUL"}


def test_extras_json_encodes_non_strings_and_skips_none() -> None:
    fields = VendorFields(
        {
            "count": 3,
            "ratio": 0.5,
            "flag": False,
            "tags": ["kredi", "Şişli"],
            "nested": {"a": 1},
            "gone": None,
            "text": "as is",
        }
    )
    assert fields.extras() == {
        "count": "3",
        "ratio": "0.5",
        "flag": "false",
        "tags": '["kredi", "Şişli"]',  # not \u-escaped
        "nested": '{"a": 1}',
        "text": "as is",
    }


def test_extras_truncates_long_values() -> None:
    fields = VendorFields({"html": "x" * (MAX_METADATA_VALUE + 500), "short": "y"})
    extras = fields.extras()
    assert extras["html"] == "x" * MAX_METADATA_VALUE
    assert extras["short"] == "y"


def test_mark_unused_puts_a_read_field_back_into_extras() -> None:
    fields = VendorFields({"Queue": {"Name": "Q"}})
    fields.raw("Queue")
    assert fields.extras() == {}
    fields.mark_unused("Queue")
    assert fields.extras() == {"Queue": '{"Name": "Q"}'}


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("Ada Lovelace <Ada@Example.COM>", "ada@example.com"),
        ('"Lovelace, Ada" <ADA@example.com> ', "ada@example.com"),
        ("  Ada@Example.com ", "ada@example.com"),
    ],
)
def test_email_takes_the_address_out_of_a_name_and_lower_cases_it(
    value: str, expected: str
) -> None:
    assert email(value, "from") == expected


def test_email_refuses_a_name_without_an_address_naming_the_field() -> None:
    with pytest.raises(InputError) as caught:
        email("Ada <not an address>", "from")
    assert caught.value.field == "from"
    assert "ada" not in str(caught.value).lower()


@pytest.mark.parametrize(
    "value",
    [
        "sip:alice@example.com",
        "sip:+905321234567@trunk.example.com",
        "client:alice",
        "anonymous",
        "",
        None,
    ],
)
def test_phone_or_none_is_none_for_what_is_not_a_number(value: str | None) -> None:
    assert phone_or_none(value, REGION) is None


@pytest.mark.parametrize("value", [CUSTOMER, CUSTOMER_NATIONAL, "whatsapp:+905321234567"])
def test_phone_or_none_normalises_a_number(value: str) -> None:
    assert phone_or_none(value, REGION) == CUSTOMER


# --- Twilio ---------------------------------------------------------------------------------


def test_inbound_whatsapp_is_messaging() -> None:
    event = twilio.inbound_sms(
        {"MessageSid": "SM1", "From": "whatsapp:" + CUSTOMER, "Body": "EVET"},
        region=REGION,
        now=NOW,
    )
    assert event.channel is Channel.MESSAGING
    assert event.customer.phone == CUSTOMER
    assert event.payload == Message(text="EVET")


def test_inbound_sms_is_sms() -> None:
    event = twilio.inbound_sms(
        {"MessageSid": "SM1", "From": CUSTOMER_NATIONAL}, region=REGION, now=NOW
    )
    assert event.channel is Channel.SMS
    assert event.payload == Message(text="")
    assert event.occurred_at == event.received_at == NOW


def test_sms_status_takes_sms_status_when_message_status_is_missing() -> None:
    event = twilio.sms_status(
        {"MessageSid": "SM9", "SmsStatus": "Delivered", "To": CUSTOMER_NATIONAL},
        region=REGION,
        now=NOW,
    )
    assert event.event_id == "SM9:delivered"
    assert event.delivery is not None
    assert (event.delivery.message_id, event.delivery.status) == ("SM9", "delivered")
    assert event.customer.phone == CUSTOMER
    assert event.direction is Direction.OUTBOUND
    assert "SmsStatus" not in event.metadata


def test_sms_status_to_a_whatsapp_recipient_is_messaging() -> None:
    event = twilio.sms_status(
        {"MessageSid": "SM9", "MessageStatus": "read", "To": "whatsapp:" + CUSTOMER},
        region=REGION,
        now=NOW,
    )
    assert event.channel is Channel.MESSAGING


@pytest.mark.parametrize(
    "form",
    [
        {"MessageSid": "SM9", "MessageStatus": "exploded", "To": CUSTOMER},
        {"MessageSid": "SM9", "SmsStatus": "exploded", "To": CUSTOMER},
        {"MessageSid": "SM9", "To": CUSTOMER},
    ],
)
def test_sms_status_refuses_a_missing_or_unknown_status(form: dict[str, str]) -> None:
    with pytest.raises(InputError) as caught:
        twilio.sms_status(form, region=REGION, now=NOW)
    assert caught.value.field == "MessageStatus"


def _call(**fields: str) -> dict[str, str]:
    form = {
        "CallSid": "CA1",
        "CallStatus": "completed",
        "Direction": "inbound",
        "From": CUSTOMER_NATIONAL,
        "To": SYSTEM,
    }
    form.update(fields)
    return form


def test_voice_status_inbound_customer_is_the_caller() -> None:
    event = twilio.voice_status(_call(CallDuration="42"), region=REGION, now=NOW)
    assert event.direction is Direction.INBOUND
    assert event.customer.phone == CUSTOMER
    assert event.call is not None
    assert (event.call.ani, event.call.dnis) == (CUSTOMER, SYSTEM)
    assert event.call.answered
    assert event.payload == ContactAttempt(outcome="answered")


def test_voice_status_outbound_customer_is_the_called_party() -> None:
    form = _call(Direction="outbound-api", From=SYSTEM, To=CUSTOMER_NATIONAL, CallDuration="42")
    event = twilio.voice_status(form, region=REGION, now=NOW)
    assert event.direction is Direction.OUTBOUND
    assert event.customer.phone == CUSTOMER
    assert event.call is not None
    assert (event.call.ani, event.call.dnis) == (SYSTEM, CUSTOMER)
    assert event.metadata["Direction"] == "outbound-api"


@pytest.mark.parametrize("status", ["no-answer", "busy", "canceled", "failed"])
def test_voice_status_unanswered_final_status_is_the_outcome(status: str) -> None:
    event = twilio.voice_status(_call(CallStatus=status), region=REGION, now=NOW)
    assert event.event_id == f"CA1:{status}"
    assert event.payload == ContactAttempt(outcome=status)
    assert event.call is not None
    assert event.call.status == status
    assert not event.call.answered


@pytest.mark.parametrize("duration", [{"CallDuration": "0"}, {}])
def test_voice_status_completed_without_duration_is_not_answered(
    duration: dict[str, str],
) -> None:
    event = twilio.voice_status(_call(**duration), region=REGION, now=NOW)
    assert event.call is not None
    assert not event.call.answered
    assert event.payload == ContactAttempt(outcome="completed")


@pytest.mark.parametrize(("status", "answered"), [("ringing", False), ("in-progress", True)])
def test_voice_status_in_flight_status_is_the_outcome(status: str, answered: bool) -> None:
    event = twilio.voice_status(_call(CallStatus=status), region=REGION, now=NOW)
    assert event.payload == ContactAttempt(outcome=status)
    assert event.call is not None
    assert event.call.answered is answered


def test_voice_status_status_is_case_insensitive() -> None:
    event = twilio.voice_status(_call(CallStatus="No-Answer"), region=REGION, now=NOW)
    assert event.event_id == "CA1:no-answer"


def test_voice_status_refuses_an_unknown_status() -> None:
    with pytest.raises(InputError) as caught:
        twilio.voice_status(_call(CallStatus="exploded"), region=REGION, now=NOW)
    assert caught.value.field == "CallStatus"


@pytest.mark.parametrize(
    ("form", "field"),
    [
        (_call(From="client:alice"), "From"),
        (_call(Direction="outbound-api", From=SYSTEM, To="sip:bob@example.com"), "To"),
    ],
)
def test_voice_status_refuses_a_customer_that_is_not_a_number(
    form: dict[str, str], field: str
) -> None:
    with pytest.raises(InputError) as caught:
        twilio.voice_status(form, region=REGION, now=NOW)
    assert caught.value.field == field


def test_voice_status_keeps_ani_and_dnis_raw_when_not_numbers() -> None:
    inbound = twilio.voice_status(_call(To="sip:ivr@pbx.example.com"), region=REGION, now=NOW)
    assert inbound.call is not None
    assert (inbound.call.ani, inbound.call.dnis) == (CUSTOMER, "sip:ivr@pbx.example.com")
    outbound = twilio.voice_status(
        _call(Direction="outbound-dial", From="client:alice", To=CUSTOMER_NATIONAL),
        region=REGION,
        now=NOW,
    )
    assert outbound.call is not None
    assert (outbound.call.ani, outbound.call.dnis) == ("client:alice", CUSTOMER)


def test_voice_status_parent_call_time_campaign_and_token() -> None:
    form = _call(
        ParentCallSid="CA0",
        Timestamp="Mon, 23 Nov 2026 10:16:00 +0000",
        campaign_id="loan-1",
        ContextToken="ctx_abc",
        SequenceNumber="3",
    )
    event = twilio.voice_status(form, region=REGION, now=NOW)
    assert event.call is not None
    assert event.call.previous_call_id == "CA0"
    assert event.occurred_at == AT_VENDOR
    assert event.received_at == NOW
    assert event.payload == ContactAttempt(campaign_id="loan-1", outcome="completed")
    assert event.context_token == "ctx_abc"
    assert event.metadata == {"SequenceNumber": "3", "Direction": "inbound"}


@pytest.mark.parametrize(
    ("url", "params"),
    [
        ("https://hub.example.com/v1/webhooks/sms/twilio", {}),
        (
            "https://hub.example.com/v1/webhooks/sms/twilio",
            {"MessageSid": "SM1", "From": "+905321234567", "Body": "Evet, arayın."},
        ),
        (
            "https://hub.example.com/v1/webhooks/voice/twilio?campaign_id=loan-1",
            {"CallSid": "CA1", "CallStatus": "completed", "To": "", "AccountSid": "AC0"},
        ),
    ],
)
def test_signature_matches_twilios_own_library(url: str, params: dict[str, str]) -> None:
    expected = RequestValidator("auth-token").compute_signature(url, params)
    assert twilio.signature("auth-token", url, list(params.items())) == expected
    assert twilio.signature("other-token", url, list(params.items())) != expected


# --- generic SMS gateway -----------------------------------------------------------------------


def test_gateway_outbound_with_a_campaign_is_an_offer_keeping_its_text() -> None:
    event = sms_gateway.message(
        {
            "message_id": "gw-2",
            "direction": "OUTBOUND",
            "to": CUSTOMER_NATIONAL,
            "text": "Your loan offer",
            "campaign_id": "spring-loan",
            "offer_id": "o-1",
        },
        region=REGION,
        now=NOW,
    )
    assert event.direction is Direction.OUTBOUND
    assert event.customer.phone == CUSTOMER
    assert event.payload == OfferPresented(campaign_id="spring-loan", offer_id="o-1")
    assert event.metadata == {"text": "Your loan offer"}
    assert event.occurred_at == NOW


def test_gateway_outbound_without_a_campaign_is_a_message() -> None:
    event = sms_gateway.message(
        {"message_id": "gw-3", "direction": "outbound", "to": CUSTOMER, "text": "Hello"},
        region=REGION,
        now=NOW,
    )
    assert event.payload == Message(text="Hello")
    assert "text" not in event.metadata


def test_gateway_status_report() -> None:
    event = sms_gateway.message(
        {
            "message_id": "gw-2",
            "status": "Undelivered",
            "to": CUSTOMER_NATIONAL,
            "from": SYSTEM,
            "error_code": 30003,
            "timestamp": 1795428960,
            "customer_id": "c-42",
        },
        region=REGION,
        now=NOW,
    )
    assert event.event_id == "gw-2:undelivered"
    assert event.direction is Direction.OUTBOUND
    assert event.customer.phone == CUSTOMER
    assert event.customer.customer_id == "c-42"
    assert event.delivery is not None
    assert (event.delivery.message_id, event.delivery.status, event.delivery.error_code) == (
        "gw-2",
        "undelivered",
        "30003",
    )
    assert event.payload == ContactAttempt(outcome="undelivered")
    assert event.occurred_at == AT_VENDOR
    assert event.metadata == {"from": SYSTEM}


def test_gateway_refuses_an_unknown_status() -> None:
    with pytest.raises(InputError) as caught:
        sms_gateway.message(
            {"message_id": "gw-2", "status": "exploded", "to": CUSTOMER}, region=REGION, now=NOW
        )
    assert caught.value.field == "status"


def test_gateway_inbound_keeps_a_campaign_id_it_does_not_use() -> None:
    event = sms_gateway.message(
        {"message_id": "gw-1", "direction": "inbound", "from": CUSTOMER, "text": "EVET",
         "campaign_id": "spring-loan"},
        region=REGION,
        now=NOW,
    )  # fmt: skip
    assert event.payload == Message(text="EVET")
    assert event.metadata.get("campaign_id") == "spring-loan"


def _gateway(**fields: Any) -> dict[str, Any]:
    body = {"message_id": "gw-1", "direction": "inbound", "from": CUSTOMER, "text": "EVET"}
    body.update(fields)
    return body


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (_gateway(**{"from": "call me"}), "[1].from"),
        (_gateway(message_id=None), "[1].message_id"),
        (_gateway(direction="sideways"), "[1].direction"),
        (_gateway(timestamp="yesterday"), "[1].timestamp"),
        (_gateway(status="exploded"), "[1].status"),
        ("not an object", "[1]"),
    ],
)
def test_gateway_list_errors_name_the_index(bad: Any, field: str) -> None:
    with pytest.raises(InputError) as caught:
        sms_gateway.messages([_gateway(), bad, _gateway()], region=REGION, now=NOW)
    assert caught.value.field == field


def test_gateway_list_gives_one_event_per_item_in_order() -> None:
    body = [_gateway(message_id="gw-a"), _gateway(message_id="gw-b")]
    events = sms_gateway.messages(body, region=REGION, now=NOW)
    assert [e.event_id for e in events] == ["gw-a", "gw-b"]


def test_gateway_refuses_an_empty_list() -> None:
    with pytest.raises(InputError, match="empty"):
        sms_gateway.messages([], region=REGION, now=NOW)


# --- Amazon Connect -----------------------------------------------------------------------------


def _ctr(**fields: Any) -> dict[str, Any]:
    record: dict[str, Any] = {
        "ContactId": "ctr-1",
        "Channel": "VOICE",
        "InitiationMethod": "INBOUND",
        "InitiationTimestamp": "2026-11-23T10:00:00Z",
        "DisconnectTimestamp": "2026-11-23T10:03:45Z",
        "CustomerEndpoint": {"Address": CUSTOMER_NATIONAL, "Type": "TELEPHONE_NUMBER"},
        "SystemEndpoint": {"Address": SYSTEM, "Type": "TELEPHONE_NUMBER"},
    }
    record.update(fields)
    return {k: v for k, v in record.items() if v is not None}


def test_connect_outbound_answered_by_the_system() -> None:
    record = _ctr(InitiationMethod="OUTBOUND", ConnectedToSystemTimestamp="2026-11-23T10:00:20Z")
    event = amazon_connect.contact_trace_record(record, region=REGION, now=NOW)
    assert event.direction is Direction.OUTBOUND
    assert event.customer.phone == CUSTOMER
    assert event.call is not None
    assert (event.call.ani, event.call.dnis) == (SYSTEM, CUSTOMER)
    assert event.call.answered
    assert event.call.duration_seconds == 225
    assert event.payload == ContactAttempt(outcome="answered")
    assert event.metadata["ConnectedToSystemTimestamp"] == "2026-11-23T10:00:20Z"
    assert event.metadata["InitiationMethod"] == "OUTBOUND"


def test_connect_inbound_reaching_only_the_system_is_not_answered() -> None:
    record = _ctr(ConnectedToSystemTimestamp="2026-11-23T10:00:20Z")
    event = amazon_connect.contact_trace_record(record, region=REGION, now=NOW)
    assert event.call is not None
    assert not event.call.answered
    assert (event.call.ani, event.call.dnis) == (CUSTOMER, SYSTEM)


@pytest.mark.parametrize(
    ("reason", "outcome"),
    [("CUSTOMER_DISCONNECT", "customer_disconnect"), ("Telecom_Busy", "telecom_busy"),
     (None, "not_answered")],
)  # fmt: skip
def test_connect_unanswered_outcome_is_the_disconnect_reason(
    reason: str | None, outcome: str
) -> None:
    record = _ctr(InitiationMethod="OUTBOUND", DisconnectReason=reason)
    event = amazon_connect.contact_trace_record(record, region=REGION, now=NOW)
    assert event.payload == ContactAttempt(outcome=outcome)
    assert event.call is not None
    assert not event.call.answered
    assert event.call.disconnect_reason == reason


def test_connect_chat_with_customer_id_and_token_attributes() -> None:
    record = _ctr(
        Channel="CHAT",
        CustomerEndpoint=None,
        SystemEndpoint=None,
        Attributes={"customer_id": "c-42", "context_token": "ctx_abc", "campaign_id": "cards"},
    )
    event = amazon_connect.contact_trace_record(record, region=REGION, now=NOW)
    assert event.channel is Channel.CHAT
    assert event.customer.customer_id == "c-42"
    assert event.customer.phone is None
    assert event.context_token == "ctx_abc"
    assert event.payload == ContactAttempt(campaign_id="cards", outcome="not_answered")


def test_connect_anonymous_caller_with_a_customer_id_is_accepted() -> None:
    record = _ctr(
        CustomerEndpoint={"Address": "anonymous", "Type": "TELEPHONE_NUMBER"},
        Attributes={"customer_id": "c-42"},
    )
    event = amazon_connect.contact_trace_record(record, region=REGION, now=NOW)
    assert event.customer.customer_id == "c-42"
    assert event.customer.phone is None
    assert event.call is not None
    assert event.call.ani == "anonymous"


def test_connect_without_any_customer_identity_is_refused() -> None:
    record = _ctr(CustomerEndpoint={"Address": "anonymous"}, Attributes={"customer_id": ""})
    with pytest.raises(InputError) as caught:
        amazon_connect.contact_trace_record(record, region=REGION, now=NOW)
    assert caught.value.field == "CustomerEndpoint.Address"


def test_connect_keeps_nested_objects_whole_in_metadata() -> None:
    queue = {"Name": "Collections", "ARN": "arn:aws:connect:queue/1", "Duration": 12}
    agent = {"Username": "ayse", "ConnectedToAgentTimestamp": "2026-11-23T10:01:00Z",
             "HierarchyGroups": {"Level1": {"GroupName": "İstanbul"}}}  # fmt: skip
    attributes = {"customer_id": "c-42", "language": "tr"}
    record = _ctr(Queue=queue, Agent=agent, Attributes=attributes, AWSAccountId="123")
    event = amazon_connect.contact_trace_record(record, region=REGION, now=NOW)
    assert json.loads(event.metadata["Queue"]) == queue
    assert json.loads(event.metadata["Agent"]) == agent
    assert json.loads(event.metadata["Attributes"]) == attributes
    assert json.loads(event.metadata["CustomerEndpoint"]) == record["CustomerEndpoint"]
    assert event.metadata["AWSAccountId"] == "123"
    assert event.call is not None
    assert (event.call.queue, event.call.agent_id) == ("Collections", "ayse")
    assert event.call.answered


def test_connect_refuses_a_nested_field_that_is_not_an_object() -> None:
    with pytest.raises(InputError) as caught:
        amazon_connect.contact_trace_record(_ctr(Queue="Collections"), region=REGION, now=NOW)
    assert caught.value.field == "Queue"


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (_ctr(ContactId=None), "[1].ContactId"),
        (_ctr(InitiationTimestamp="yesterday"), "[1].InitiationTimestamp"),
        (_ctr(DisconnectTimestamp="2026-11-23T10:03:45"), "[1].DisconnectTimestamp"),
        (_ctr(Channel="FAX"), "[1].Channel"),
        (_ctr(CustomerEndpoint={"Address": "anonymous"}), "[1].CustomerEndpoint.Address"),
        (_ctr(Agent=["ayse"]), "[1].Agent"),
        ("not a record", "[1]"),
    ],
)
def test_connect_list_errors_name_the_index(bad: Any, field: str) -> None:
    with pytest.raises(InputError) as caught:
        amazon_connect.contact_trace_records([_ctr(), bad], region=REGION, now=NOW)
    assert caught.value.field == field


def test_connect_refuses_an_empty_list() -> None:
    with pytest.raises(InputError, match="empty"):
        amazon_connect.contact_trace_records([], region=REGION, now=NOW)


# --- IVR ------------------------------------------------------------------------------------


ACCOUNT = "TR98 7654 3210 5678"


def _session(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "session_id": "ivr-1",
        "call_id": "CA1",
        "caller": CUSTOMER_NATIONAL,
        "dialled": SYSTEM,
        "started_at": "2026-11-23T10:16:00Z",
        "menu_path": ["main", "cards"],
    }
    body.update(fields)
    return {k: v for k, v in body.items() if v is not None}


@pytest.mark.parametrize("account", [ACCOUNT, "TR98-7654-3210-5678", "tr98765432105678"])
def test_ivr_account_is_kept_only_masked(account: str) -> None:
    event = ivr.session(_session(account=account), region=REGION, now=NOW)
    assert event.ivr is not None
    assert event.ivr.account_masked == "****5678"
    assert event.customer.account is None
    assert "account" not in event.metadata
    dumped = event.model_dump_json()
    assert account not in dumped
    for piece in ("TR98", "tr98", "7654", "3210"):
        assert piece not in dumped
    assert "5678" not in dumped.replace("****5678", "")


def test_ivr_without_an_account_has_no_mask() -> None:
    event = ivr.session(_session(), region=REGION, now=NOW)
    assert event.ivr is not None
    assert event.ivr.account_masked is None
    assert event.payload == ContactAttempt(outcome="self_service")
    # call_id and dialled are read but kept as given
    assert event.metadata == {"call_id": "CA1", "dialled": SYSTEM}


def test_ivr_customer_id_without_a_caller_is_accepted() -> None:
    event = ivr.session(_session(caller=None, customer_id="c-42"), region=REGION, now=NOW)
    assert event.customer.customer_id == "c-42"
    assert event.customer.phone is None


def test_ivr_without_caller_or_customer_id_is_refused() -> None:
    with pytest.raises(InputError) as caught:
        ivr.session(_session(caller=None), region=REGION, now=NOW)
    assert caught.value.field == "caller"


@pytest.mark.parametrize(
    ("fields", "outcome"),
    [
        ({"left_for_agent": True}, "transferred_to_agent"),
        ({"left_for_agent": True, "outcome": "hung_up"}, "hung_up"),
        ({"outcome": "card_blocked"}, "card_blocked"),
    ],
)
def test_ivr_outcome(fields: dict[str, Any], outcome: str) -> None:
    event = ivr.session(_session(**fields), region=REGION, now=NOW)
    assert event.payload == ContactAttempt(outcome=outcome)
    assert "outcome" not in event.metadata


# --- web and app context ------------------------------------------------------------------------


def _context(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"requested": "chat", "customer": {"customer_id": "c-42"}}
    body.update(fields)
    return body


def test_context_token_is_generated_fresh_with_its_prefix() -> None:
    first = web_context.context_request(_context(), region=REGION, now=NOW)
    second = web_context.context_request(_context(), region=REGION, now=NOW)
    assert first.context is not None
    assert second.context is not None
    assert first.context.token.startswith(web_context.TOKEN_PREFIX)
    assert len(first.context.token) > len(web_context.TOKEN_PREFIX) + 16
    assert first.context.token != second.context.token
    assert first.event_id == first.context.token  # the event id defaults to the token


def test_context_uses_a_given_token_and_event_id() -> None:
    event = web_context.context_request(
        _context(event_id="web-1"), region=REGION, now=NOW, token="ctx_given"
    )
    assert event.context is not None
    assert event.context.token == "ctx_given"
    assert event.event_id == "web-1"


def test_context_from_the_mobile_app() -> None:
    event = web_context.context_request(
        _context(channel="mobile_app", requested="CALL", occurred_at="2026-11-23T10:16:00Z"),
        region=REGION,
        now=NOW,
    )
    assert event.channel is Channel.MOBILE_APP
    assert event.payload == ContactAttempt(outcome="call_requested")
    assert event.occurred_at == AT_VENDOR


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"channel": "KIOSK"}, "channel"),
        ({"requested": "fax"}, "requested"),
        ({"visits": [{"location": "/loans", "referrer": "/"}]}, "visits[0].referrer"),
        ({"visits": [{"location": "/a"}, {"location": "/b", "at": "soon"}]}, "visits[1].at"),
        ({"visits": [{"title": "Loans"}]}, "visits[0].location"),
        ({"visits": "/loans"}, "visits"),
        ({"geolocation": {"latitude": 41.0, "longitude": 29.0, "altitude": 40}},
         "geolocation.altitude"),
        ({"geolocation": {"latitude": 91, "longitude": 29.0}}, "geolocation.latitude"),
        ({"geolocation": [41.0, 29.0]}, "geolocation"),
    ],
)  # fmt: skip
def test_context_errors_name_the_field(fields: dict[str, Any], field: str) -> None:
    with pytest.raises(InputError) as caught:
        web_context.context_request(_context(**fields), region=REGION, now=NOW)
    assert caught.value.field == field


# --- model errors surface as InputError ---------------------------------------------------------


@pytest.mark.parametrize(
    "adapt",
    [
        pytest.param(
            lambda: twilio.sms_status(
                {"MessageSid": "S" * 201, "MessageStatus": "sent", "To": CUSTOMER},
                region=REGION, now=NOW,
            ),
            id="twilio-long-MessageSid",
        ),
        pytest.param(
            lambda: twilio.voice_status(_call(CallSid="C" * 201), region=REGION, now=NOW),
            id="twilio-long-CallSid",
        ),
        pytest.param(
            lambda: sms_gateway.message(
                {"message_id": "m" * 201, "status": "sent", "to": CUSTOMER},
                region=REGION, now=NOW,
            ),
            id="gateway-long-message_id",
        ),
        pytest.param(
            lambda: sms_gateway.message(
                {"message_id": "m1", "direction": "outbound", "to": CUSTOMER,
                 "campaign_id": "c" * 201},
                region=REGION, now=NOW,
            ),
            id="gateway-long-campaign_id",
        ),
        pytest.param(
            lambda: amazon_connect.contact_trace_record(
                _ctr(Attributes={"customer_id": 42}), region=REGION, now=NOW
            ),
            id="connect-numeric-customer_id",
        ),
        pytest.param(
            lambda: amazon_connect.contact_trace_record(
                _ctr(Attributes={"campaign_id": 7}), region=REGION, now=NOW
            ),
            id="connect-numeric-campaign_id",
        ),
    ],
)  # fmt: skip
def test_a_value_the_model_refuses_is_an_input_error(adapt: Any) -> None:
    with pytest.raises(InputError):
        adapt()


def test_a_context_token_for_a_named_event_is_repeatable_and_secret_bound() -> None:
    first = web_context.new_token("web-1", b"secret-a")
    assert first == web_context.new_token("web-1", b"secret-a")
    assert first.startswith("ctx_") and len(first) == len("ctx_") + 22
    assert first != web_context.new_token("web-2", b"secret-a")
    assert first != web_context.new_token("web-1", b"secret-b")
    assert web_context.new_token() != web_context.new_token()  # random without an event id
