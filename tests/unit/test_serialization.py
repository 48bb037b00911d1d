"""Tests for the Avro wire format: single-object encoding pinned byte for byte, the
CRC-64-AVRO fingerprints, round trips of every domain model, the failure reasons, and
Confluent framing against a registry stub."""

from __future__ import annotations

import io
import json
import re
import struct
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, time
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import avro.schema
import fastavro
import pytest
from pydantic import BaseModel

from streams.domain.campaign_policy import (
    CampaignPolicy,
    DoNotContactEntry,
    FrequencyCap,
    Purpose,
    QuietHours,
)
from streams.domain.contact_holds import ContactRecheck
from streams.domain.customer import (
    ChannelContacts,
    CustomerState,
    OfferRecord,
    SuppressionRecord,
    TargetRecord,
    event_digest,
)
from streams.domain.decisions import DialListEntry, Suppression
from streams.domain.events import (
    CampaignTarget,
    Complaint,
    ContactAttempt,
    CustomerRef,
    Interaction,
    Message,
    OfferPresented,
    OfferResponse,
    OptOut,
    Payload,
    ProfileUpdate,
    Purchase,
)
from streams.domain.links import IdentityLink
from streams.domain.model import Channel, Direction, OfferResponseKind, SuppressionReason
from streams.domain.resolution import MergeStep, ProfileMerge, ProfileUnmerge, UnmergeStep
from streams.domain.screen_pop import ScreenPop
from streams.wire.serialization import (
    MODELS,
    AvroSerializer,
    DeadLetter,
    SchemaCatalog,
    SchemaRegistry,
    SerializationError,
)

AT = datetime(2026, 11, 23, 10, 15, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 10, 16, 30, 123000, tzinfo=UTC)
INTERACTIONS_TOPIC = "touchline.interactions.v1"


@pytest.fixture(scope="module")
def catalog() -> SchemaCatalog:
    return SchemaCatalog()


@pytest.fixture(scope="module")
def serializer(catalog: SchemaCatalog) -> AvroSerializer:
    return AvroSerializer(catalog)


def offer_presented_sms() -> Interaction:
    return Interaction(
        event_id="e-1",
        occurred_at=AT,
        channel=Channel.SMS,
        direction=Direction.OUTBOUND,
        customer=CustomerRef(customer_id="c-42", phone="+905321234567"),
        payload=OfferPresented(campaign_id="spring-loan", offer_id="o-1"),
    )


def dial_list_entry() -> DialListEntry:
    return DialListEntry(
        campaign_id="spring-loan",
        customer_id="c-42",
        phone="+905321234567",
        priority=3,
        added_at=AT,
        source_id="u-1",
    )


# --------------------------------------------------------------------------------------
# Exact bytes
# --------------------------------------------------------------------------------------

# 2026-11-23T10:15:00Z is 1_795_428_900_000 ms; zig-zag 3_590_857_800_000; as a varint
# (7 bits at a time, least significant group first, high bit = more): c0 f2 b6 fe c0 68.
AT_VARINT = "c0 f2 b6 fe c0 68"

# The layout, field by field. Strings and bytes are a zig-zag varint length then the
# bytes; a union is the zig-zag branch index then the value; an enum is its index.
DIAL_LIST_ENTRY_LAYOUT = [
    "c3 01",  # single-object marker
    "52 3b 96 c4 e4 51 45 88",  # CRC-64-AVRO of touchline.DialListEntry, little-endian
    "16 73 70 72 69 6e 67 2d 6c 6f 61 6e",  # campaign_id: length 11 -> 0x16, "spring-loan"
    "08 63 2d 34 32",  # customer_id: length 4 -> 0x08, "c-42"
    "02",  # phone: union branch 1 (string)
    "1a 2b 39 30 35 33 32 31 32 33 34 35 36 37",  # length 13 -> 0x1a, "+905321234567"
    "06",  # priority: 3 -> zig-zag 0x06
    AT_VARINT,  # added_at (timestamp-millis)
    "06 75 2d 31",  # source_id: "u-1"
]

INTERACTION_LAYOUT = [
    "c3 01",  # single-object marker
    "cd e7 85 b9 b9 8a 9d bd",  # CRC-64-AVRO of touchline.Interaction (expanded)
    "06 65 2d 31",  # event_id: "e-1"
    AT_VARINT,  # occurred_at (timestamp-millis)
    "00",  # received_at: union branch 0 (null)
    "00",  # channel: enum index 0 (SMS)
    "02",  # direction: enum index 1 (OUTBOUND)
    "02 08 63 2d 34 32",  # customer.customer_id: branch 1, "c-42"
    "02 1a 2b 39 30 35 33 32 31 32 33 34 35 36 37",  # customer.phone: branch 1, E.164
    "00",  # customer.email: null
    "00",  # customer.account: null
    "00",  # customer.device: null
    "00",  # customer.social: null
    "00",  # payload: union branch 0 (touchline.OfferPresented)
    "16 73 70 72 69 6e 67 2d 6c 6f 61 6e",  # payload.campaign_id: "spring-loan"
    "02 06 6f 2d 31",  # payload.offer_id: branch 1, "o-1"
    "00",  # metadata: empty map (a block count of 0)
    "00",  # context_token: null
    "00",  # delivery: null
    "00",  # call: null
    "00",  # ivr: null
    "00",  # context: null
]

DIAL_LIST_ENTRY_HEX = bytes.fromhex(" ".join(DIAL_LIST_ENTRY_LAYOUT)).hex()
INTERACTION_HEX = bytes.fromhex(" ".join(INTERACTION_LAYOUT)).hex()


def test_dial_list_entry_bytes_are_pinned(serializer: AvroSerializer) -> None:
    assert int(AT.timestamp()) * 1000 == 1_795_428_900_000
    data = serializer.encode_model(dial_list_entry())
    assert data.hex() == DIAL_LIST_ENTRY_HEX
    assert data.hex() == (
        "c301523b96c4e451458816737072696e672d6c6f616e08632d3432021a2b3930353332313233343536"
        "3706c0f2b6fec06806752d31"
    )


def test_interaction_bytes_are_pinned(serializer: AvroSerializer) -> None:
    data = serializer.encode_model(offer_presented_sms())
    assert data.hex() == INTERACTION_HEX
    assert data.hex() == (
        "c301cde785b9b98a9dbd06652d31c0f2b6fec0680000020208632d3432021a2b3930353332313233"
        "343536370000000000"
        "16737072696e672d6c6f616e02066f2d31000000000000"
    )


def test_pinned_bytes_decode_back(serializer: AvroSerializer) -> None:
    assert serializer.decode_model(bytes.fromhex(DIAL_LIST_ENTRY_HEX)) == dial_list_entry()
    assert serializer.decode_model(bytes.fromhex(INTERACTION_HEX)) == offer_presented_sms()


# The same event as release 0.2.0 wrote it: no device or social identity.
INTERACTION_0_2_0_HEX = (
    "c301ac33fda550696b9b06652d31c0f2b6fec0680000020208632d3432021a2b3930353332313233"
    "3435363700000016737072696e672d6c6f616e02066f2d31000000000000"
)


def test_records_of_release_0_2_0_are_read_by_schema_resolution(
    serializer: AvroSerializer,
) -> None:
    old = bytes.fromhex(INTERACTION_0_2_0_HEX)
    assert old[2:10] != serializer.catalog.fingerprints["touchline.Interaction"]
    event = serializer.decode_model(old)
    assert event == offer_presented_sms()
    assert isinstance(event, Interaction)
    assert (event.customer.device, event.customer.social) == (None, None)


# The same event as release 0.1.0 wrote it: its own fingerprint, none of the later fields.
INTERACTION_0_1_0_HEX = (
    "c3017bb3e1141cbd55b206652d31c0f2b6fec0680000020208632d3432021a2b3930353332313233"
    "3435363700000016737072696e672d6c6f616e02066f2d3100"
)


def test_records_of_an_earlier_release_are_read_by_schema_resolution(
    serializer: AvroSerializer,
) -> None:
    old = bytes.fromhex(INTERACTION_0_1_0_HEX)
    assert old[2:10] != serializer.catalog.fingerprints["touchline.Interaction"]
    event = serializer.decode_model(old)
    assert event == offer_presented_sms()
    assert isinstance(event, Interaction)
    assert (event.delivery, event.call, event.ivr, event.context) == (None, None, None, None)


# --------------------------------------------------------------------------------------
# Fingerprints
# --------------------------------------------------------------------------------------

CRC64_EMPTY = 0xC15D213AA4D7A795


def _crc64_table() -> list[int]:
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (CRC64_EMPTY & -(fp & 1))
        table.append(fp)
    return table


CRC64_TABLE = _crc64_table()


def crc64_avro(data: bytes) -> bytes:
    """The Rabin fingerprint from the Avro specification, as 8 little-endian bytes."""
    fp = CRC64_EMPTY
    for byte in data:
        fp = (fp >> 8) ^ CRC64_TABLE[(fp ^ byte) & 0xFF]
    return fp.to_bytes(8, "little")


def test_crc64_reference_values() -> None:
    # The spec's algorithm maps the empty input to EMPTY itself; "null" is the canonical
    # form of the null schema, whose fingerprint the Avro test suites list as
    # 7195948357588979594 (0x63dd24e7cc258f8a).
    assert crc64_avro(b"") == CRC64_EMPTY.to_bytes(8, "little")
    assert crc64_avro(b'"null"') == (7195948357588979594).to_bytes(8, "little")


def test_catalog_covers_every_model(catalog: SchemaCatalog) -> None:
    assert set(MODELS) <= set(catalog.schemas)


@pytest.mark.parametrize("name", sorted(SchemaCatalog().canonical))
def test_fingerprint_is_crc64_avro_of_canonical_form(catalog: SchemaCatalog, name: str) -> None:
    canonical = catalog.canonical[name]
    fingerprint = catalog.fingerprints[name]
    assert len(fingerprint) == 8
    assert fingerprint == crc64_avro(canonical.encode("utf-8"))
    apache = avro.schema.parse(canonical)
    assert bytes(apache.fingerprint("CRC-64-AVRO")) == fingerprint
    # Apache avro re-derives the canonical form from what it parsed: the same text.
    assert apache.canonical_form == canonical


PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


@pytest.mark.parametrize("name", sorted(SchemaCatalog().canonical))
def test_canonical_form_is_fully_expanded(catalog: SchemaCatalog, name: str) -> None:
    """Named types from other files are inlined, so the canonical form stands alone."""
    canonical = json.loads(catalog.canonical[name])
    defined: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for branch in node:
                walk(branch)
        elif isinstance(node, str):
            assert node in PRIMITIVES or node in defined, f"{node} is used before its definition"
        elif node["type"] in ("record", "enum", "fixed"):
            defined.add(node["name"])
            for item in node.get("fields", []):
                walk(item["type"])
        elif node["type"] == "array":
            walk(node["items"])
        elif node["type"] == "map":
            walk(node["values"])
        else:
            walk(node["type"])

    walk(canonical)
    assert canonical["name"] == name


def test_header_carries_the_catalog_fingerprint(
    catalog: SchemaCatalog, serializer: AvroSerializer
) -> None:
    data = serializer.encode_model(dial_list_entry())
    assert data[:2] == b"\xc3\x01"
    assert data[2:10] == catalog.fingerprints["touchline.DialListEntry"]
    assert data[2:10] == crc64_avro(catalog.canonical["touchline.DialListEntry"].encode())


# --------------------------------------------------------------------------------------
# Round trips
# --------------------------------------------------------------------------------------


def customer_state() -> CustomerState:
    return CustomerState(
        customer_id="c-42",
        phones=("+905321234567", "+905329876543"),
        emails=("ayse@example.com",),
        accounts=("acc-1",),
        first_seen_at=AT,
        last_seen_at=LATER,
        contacts={
            "SMS": ChannelContacts(inbound=2, outbound=3, last_contact_at=LATER),
            "VOICE": ChannelContacts(),
        },
        offers=(
            OfferRecord(
                campaign_id="spring-loan",
                offer_id="o-1",
                channel=Channel.SMS,
                presented_at=AT,
                event_id="e-1",
                response=OfferResponseKind.ACCEPTED,
                responded_at=LATER,
                response_event_id="e-2",
            ),
            OfferRecord(campaign_id="card", channel=Channel.EMAIL, presented_at=AT, event_id="e-3"),
        ),
        complaint_count=1,
        last_complaint_at=LATER,
        opted_out_channels=(Channel.EMAIL, Channel.SMS),
        opted_out_all=False,
        purchase_count=4,
        last_purchase_at=AT,
        targets=(
            TargetRecord(
                campaign_id="spring-loan",
                phone="+905321234567",
                priority=5,
                uploaded_at=AT,
                upload_id="u-1",
            ),
        ),
        suppressions=(
            SuppressionRecord(
                suppression_id="s-1",
                campaign_id="spring-loan",
                reason=SuppressionReason.OFFER_ACCEPTED,
                channels=(Channel.VOICE, Channel.SMS),
                source_event_id="e-2",
                decided_at=LATER,
            ),
        ),
        recent_event_digests=b"".join(event_digest(e) for e in ("e-1", "e-2", "e-3")),
        events_applied=3,
    )


def suppression() -> Suppression:
    return Suppression(
        suppression_id="5f0e4c1a-0000-5000-8000-000000000001",
        campaign_id="spring-loan",
        customer_id="c-42",
        reason=SuppressionReason.OFFER_ACCEPTED,
        channels=(),
        source_event_id="e-2",
        source_channel=Channel.SMS,
        policy="sms-reply-correlation/v1",
        occurred_at=AT,
        decided_at=LATER,
    )


SAMPLES: dict[str, BaseModel] = {
    "touchline.Interaction": offer_presented_sms(),
    "touchline.CampaignTarget": CampaignTarget(
        campaign_id="spring-loan",
        customer_id="c-42",
        phone=None,
        priority=-2,
        uploaded_at=LATER,
        upload_id="u-7",
    ),
    "touchline.Suppression": suppression(),
    "touchline.DialListEntry": dial_list_entry(),
    "touchline.CustomerState": customer_state(),
    "touchline.DeadLetter": DeadLetter(
        topic=INTERACTIONS_TOPIC,
        partition=3,
        offset=2**40 + 7,
        key=b"c-42",
        value=bytes(range(256)),
        error="not Avro: expected single-object header C3 01, got 7b22",
        error_type="SerializationError",
        failed_at=LATER,
    ),
    "touchline.IdentityLink": IdentityLink(
        identity="phone:+905321234567", customer_id="c-42", source_event_id="e-1"
    ),
    "touchline.ScreenPop": ScreenPop(
        agent_id="agent-7",
        customer_id="c-42",
        event_id="CA1",
        channel=Channel.VOICE,
        occurred_at=LATER,
        call_id="CA1",
    ),
    "touchline.ProfileMerge": ProfileMerge(
        merge_id="m-1",
        survivor_id="c-42",
        absorbed_id="anon-1",
        step=MergeStep.ABSORB,
        reason="identity-link",
        linked_by="phone",
        source_event_id="e-1",
        requested_at=LATER,
        absorbed_state=customer_state(),
    ),
    "touchline.ContactRecheck": ContactRecheck(customer_id="c-42", at=LATER, reason="wake-up"),
    "touchline.ProfileUnmerge": ProfileUnmerge(
        unmerge_id="u-1",
        survivor_id="c-42",
        absorbed_id="anon-1",
        step=UnmergeStep.REQUESTED,
        requested_at=LATER,
    ),
    "touchline.CampaignPolicy": CampaignPolicy(
        campaign_id="spring-loan",
        version=3,
        purpose=Purpose.SERVICE,
        channels=(Channel.VOICE, Channel.SMS),
        product="personal-loan",
        response_cooldown_days=90,
        accepted_cooldown_days=0,
        frequency_caps=(
            FrequencyCap(channel=Channel.VOICE, max_contacts=2, days=7),
            FrequencyCap(max_contacts=5, days=30),
        ),
        quiet_hours=QuietHours(start=time(21, 30), end=time(7, 45, 30)),
        realtime_channels=(Channel.MESSAGING,),
        complaint_cooldown_days=0,
        respect_consent=False,
    ),
    "touchline.DoNotContactEntry": DoNotContactEntry(
        kind="phone",
        value="+905321234567",
        expires_at=LATER,
        source="national-registry",
        list_id="iys",
    ),
}

PAYLOADS: list[Payload] = [
    OfferPresented(campaign_id="spring-loan"),
    OfferResponse(campaign_id="spring-loan", response=OfferResponseKind.DECLINED),
    Message(text="Evet, İPTAL değil — ДА, بله, այո ✓"),
    Complaint(category="billing", severity="high", text="charged twice"),
    ContactAttempt(outcome="NO_ANSWER"),
    ContactAttempt(campaign_id="spring-loan", outcome="ANSWERED"),
    Purchase(amount=Decimal("-1234.5678"), currency="TRY", product="loan"),
    Purchase(amount=Decimal("99999999999999.9999"), currency="EUR"),
    ProfileUpdate(fields={"email": "a@example.com", "city": "İzmir"}),
    ProfileUpdate(fields={}),
    OptOut(channels=[]),
    OptOut(channels=[Channel.SMS, Channel.VOICE]),
]


def test_samples_cover_every_model() -> None:
    assert set(SAMPLES) == set(MODELS)
    for name, model in SAMPLES.items():
        assert isinstance(model, MODELS[name])


@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_every_model_round_trips(serializer: AvroSerializer, name: str) -> None:
    model = SAMPLES[name]
    data = serializer.encode_model(model)
    assert data[:2] == b"\xc3\x01"
    decoded = serializer.decode_model(data)
    assert type(decoded) is type(model)
    assert decoded == model
    # Encoding is deterministic: the decoded model encodes to the same bytes.
    assert serializer.encode_model(decoded) == data


def test_customer_state_nested_records_survive(serializer: AvroSerializer) -> None:
    decoded = serializer.decode_model(serializer.encode_model(customer_state()))
    assert isinstance(decoded, CustomerState)
    assert decoded.contacts["SMS"] == ChannelContacts(inbound=2, outbound=3, last_contact_at=LATER)
    assert decoded.offers[0].response is OfferResponseKind.ACCEPTED
    assert decoded.offers[1].response is None
    assert decoded.suppressions[0].reason is SuppressionReason.OFFER_ACCEPTED
    assert decoded.opted_out_channels == (Channel.EMAIL, Channel.SMS)
    assert decoded.last_seen_at == LATER
    assert decoded.last_seen_at.tzinfo is not None


def test_dead_letter_bytes_survive(serializer: AvroSerializer) -> None:
    decoded = serializer.decode_model(serializer.encode_model(SAMPLES["touchline.DeadLetter"]))
    assert isinstance(decoded, DeadLetter)
    assert decoded.value == bytes(range(256))
    assert decoded.key == b"c-42"
    empty = DeadLetter(topic="t", partition=0, offset=0, error="e", error_type="E", failed_at=AT)
    assert serializer.decode_model(serializer.encode_model(empty)) == empty


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: type(p).__name__)
def test_every_payload_type_round_trips(serializer: AvroSerializer, payload: Payload) -> None:
    event = Interaction(
        event_id="e-9",
        occurred_at=LATER,
        received_at=LATER,
        channel=Channel.MESSAGING,
        direction=Direction.INBOUND,
        customer=CustomerRef(email="ayse@example.com", account="acc-1"),
        payload=payload,
        metadata={"vendor": "twilio", "MessageSid": "SM123"},
    )
    assert serializer.decode_model(serializer.encode_model(event)) == event


# --------------------------------------------------------------------------------------
# Failures
# --------------------------------------------------------------------------------------


def _reason(serializer: AvroSerializer, data: bytes | None) -> str:
    with pytest.raises(SerializationError) as caught:
        serializer.decode_model(data)
    assert caught.value.reason
    assert str(caught.value) == caught.value.reason
    return caught.value.reason


def test_empty_value_is_rejected(serializer: AvroSerializer) -> None:
    assert _reason(serializer, b"") == "empty value"
    assert _reason(serializer, None) == "empty value"


@pytest.mark.parametrize(
    "garbage",
    [b"\xde\xad\xbe\xef", b'{"event_id": "e-1"}', b"\xc3", b"\x00", b"\x00\x00\x00\x01"],
    ids=["binary", "json", "half-marker", "lone-zero", "short-confluent"],
)
def test_garbage_is_rejected(serializer: AvroSerializer, garbage: bytes) -> None:
    reason = _reason(serializer, garbage)
    assert "not Avro" in reason
    assert garbage[:2].hex() in reason


def test_truncated_header_is_rejected(serializer: AvroSerializer) -> None:
    data = serializer.encode_model(dial_list_entry())
    for length in range(2, 10):
        assert "truncated" in _reason(serializer, data[:length])


def test_unknown_fingerprint_is_rejected(serializer: AvroSerializer) -> None:
    data = serializer.encode_model(dial_list_entry())
    forged = data[:2] + bytes(8) + data[10:]
    reason = _reason(serializer, forged)
    assert "fingerprint" in reason
    assert "0000000000000000" in reason
    # A big-endian fingerprint (a common mistake) is not accepted either.
    swapped = data[:2] + data[2:10][::-1] + data[10:]
    assert data[2:10][::-1].hex() in _reason(serializer, swapped)


@pytest.mark.parametrize("name", ["touchline.DialListEntry", "touchline.Interaction"])
def test_truncated_body_is_rejected(serializer: AvroSerializer, name: str) -> None:
    data = serializer.encode_model(SAMPLES[name])
    for length in range(10, len(data)):
        reason = _reason(serializer, data[:length])
        assert f"cannot decode {name}" in reason, (length, reason)


def test_trailing_bytes_are_rejected(serializer: AvroSerializer) -> None:
    data = serializer.encode_model(dial_list_entry())
    assert _reason(serializer, data + b"\x00") == "1 trailing bytes after touchline.DialListEntry"
    assert "3 trailing bytes" in _reason(serializer, data + b"abc")


def test_confluent_framing_without_registry_is_rejected(serializer: AvroSerializer) -> None:
    framed = b"\x00" + struct.pack(">I", 1) + b"\x06e-1"
    reason = _reason(serializer, framed)
    assert "Confluent" in reason
    assert "TOUCHLINE_SCHEMA_REGISTRY_URL" in reason


def test_invalid_model_on_the_wire_is_rejected(
    catalog: SchemaCatalog, serializer: AvroSerializer
) -> None:
    """Valid Avro that breaks a model rule (empty event id) is a SerializationError too."""
    record = {
        "event_id": "",
        "occurred_at": AT,
        "channel": "SMS",
        "direction": "INBOUND",
        "customer": {"customer_id": "c-42"},
        "payload": ("touchline.Message", {"text": "hi"}),
    }
    data = serializer.encode("touchline.Interaction", record)
    assert "touchline.Interaction is not valid" in _reason(serializer, data)


def test_unencodable_record_is_rejected(serializer: AvroSerializer) -> None:
    with pytest.raises(SerializationError, match=r"cannot encode touchline\.DialListEntry"):
        serializer.encode("touchline.DialListEntry", {"campaign_id": "x"})
    with pytest.raises(SerializationError, match="unknown schema"):
        serializer.encode("touchline.Nope", {})


@pytest.mark.parametrize("value", [2**31, -(2**31) - 1])
def test_int_out_of_range_is_rejected_at_encode(serializer: AvroSerializer, value: int) -> None:
    record = {
        "campaign_id": "spring-loan",
        "customer_id": "c-42",
        "priority": value,
        "added_at": AT,
        "source_id": "u-1",
    }
    with pytest.raises(SerializationError, match=r"cannot encode touchline\.DialListEntry"):
        serializer.encode("touchline.DialListEntry", record)


def test_dead_letter_failed_at_round_trips(serializer: AvroSerializer) -> None:
    letter = DeadLetter(
        topic="t",
        partition=0,
        offset=0,
        error="e",
        error_type="E",
        failed_at=datetime(2026, 11, 23, 10, 15, 0, 123456, tzinfo=UTC),
    )
    assert serializer.decode_model(serializer.encode_model(letter)) == letter


# --------------------------------------------------------------------------------------
# Confluent framing against a registry stub
# --------------------------------------------------------------------------------------


@dataclass
class RegistryStub:
    """A Confluent-compatible schema registry, just enough of it: ids are global and the
    same schema text always gets the same id."""

    url: str = ""
    ids: dict[str, int] = field(default_factory=dict)
    schemas: dict[int, str] = field(default_factory=dict)
    subjects: dict[str, list[int]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, subject: str, schema: str) -> int:
        with self.lock:
            schema_id = self.ids.setdefault(schema, len(self.ids) + 1)
            self.schemas[schema_id] = schema
            versions = self.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
            return schema_id


def _handler(stub: RegistryStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _answer(self, status: int, body: dict[str, Any]) -> None:
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            stub.requests.append(("POST", self.path))
            match = re.fullmatch(r"/subjects/([^/]+)/versions", self.path)
            if match is None:
                self._answer(404, {"error_code": 404, "message": "not found"})
                return
            length = int(self.headers.get("Content-Length", "0"))
            body = json.loads(self.rfile.read(length))
            self._answer(200, {"id": stub.register(match.group(1), body["schema"])})

        def do_GET(self) -> None:
            stub.requests.append(("GET", self.path))
            match = re.fullmatch(r"/schemas/ids/(\d+)", self.path)
            schema = stub.schemas.get(int(match.group(1))) if match else None
            if schema is None:
                self._answer(404, {"error_code": 40403, "message": "Schema not found"})
                return
            self._answer(200, {"schema": schema})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def registry_stub() -> Iterator[RegistryStub]:
    stub = RegistryStub()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(stub))
    host, port = server.server_address[:2]
    stub.url = f"http://{host!s}:{port}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield stub
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_confluent_round_trip(catalog: SchemaCatalog, registry_stub: RegistryStub) -> None:
    event = Interaction(
        event_id="e-7",
        occurred_at=LATER,
        received_at=AT,
        channel=Channel.SMS,
        direction=Direction.INBOUND,
        customer=CustomerRef(phone="+905321234567"),
        payload=Purchase(amount=Decimal("12.5"), currency="TRY"),
    )
    producer = AvroSerializer(catalog, registry=SchemaRegistry(registry_stub.url))
    data = producer.encode_model(event, topic=INTERACTIONS_TOPIC)

    assert registry_stub.subjects == {f"{INTERACTIONS_TOPIC}-value": [1]}
    (schema_id,) = struct.unpack(">I", data[1:5])
    assert data[:1] == b"\x00"
    assert schema_id == registry_stub.ids[catalog.expanded_json["touchline.Interaction"]]
    # The registered schema keeps the logical types (the canonical form would drop them).
    registered = json.loads(registry_stub.schemas[schema_id])
    assert {"type": "long", "logicalType": "timestamp-millis"} in [
        f["type"] for f in registered["fields"]
    ]
    # After the 5-byte prefix comes the same datum as in single-object encoding.
    assert data[5:] == AvroSerializer(catalog).encode_model(event)[10:]

    consumer = AvroSerializer(SchemaCatalog(), registry=SchemaRegistry(registry_stub.url))
    decoded = consumer.decode_model(data)
    assert decoded == event
    assert isinstance(decoded, Interaction)
    assert decoded.occurred_at == LATER
    assert decoded.occurred_at.utcoffset() is not None
    assert decoded.received_at == AT
    assert isinstance(decoded.payload, Purchase)
    assert decoded.payload.amount == Decimal("12.5")
    assert ("GET", f"/schemas/ids/{schema_id}") in registry_stub.requests


def test_confluent_ids_are_stable_and_cached(
    catalog: SchemaCatalog, registry_stub: RegistryStub
) -> None:
    first = AvroSerializer(catalog, registry=SchemaRegistry(registry_stub.url))
    second = AvroSerializer(catalog, registry=SchemaRegistry(registry_stub.url))
    entry = dial_list_entry()
    a = first.encode_model(entry, topic="touchline.dial-list.v1")
    b = first.encode_model(entry, topic="touchline.dial-list.v1")
    c = second.encode_model(entry, topic="touchline.dial-list.v1")
    d = first.encode_model(suppression(), topic="touchline.suppressions.v1")
    assert a == b == c
    assert a[:5] != d[:5]
    posts = [path for method, path in registry_stub.requests if method == "POST"]
    # One registration per (client, subject, schema): the second encode hit the cache.
    assert posts.count("/subjects/touchline.dial-list.v1-value/versions") == 2
    assert set(registry_stub.subjects) == {
        "touchline.dial-list.v1-value",
        "touchline.suppressions.v1-value",
    }
    consumer = AvroSerializer(catalog, registry=SchemaRegistry(registry_stub.url))
    assert consumer.decode_model(a) == entry
    assert consumer.decode_model(d) == suppression()
    assert consumer.decode_model(a) == entry
    gets = [path for method, path in registry_stub.requests if method == "GET"]
    assert len(gets) == 2  # each id fetched once


def test_registry_configured_producer_without_topic_uses_single_object(
    catalog: SchemaCatalog, registry_stub: RegistryStub
) -> None:
    serializer = AvroSerializer(catalog, registry=SchemaRegistry(registry_stub.url))
    assert int(AT.timestamp()) * 1000 == 1_795_428_900_000
    data = serializer.encode_model(dial_list_entry())
    assert data.hex() == DIAL_LIST_ENTRY_HEX
    assert registry_stub.requests == []
    # And a registry-configured reader still reads single-object encoding.
    assert serializer.decode_model(data) == dial_list_entry()


def test_confluent_reader_resolves_an_older_writer_schema(
    catalog: SchemaCatalog, registry_stub: RegistryStub
) -> None:
    """The writer schema comes from the registry; the catalog's schema is the reader."""
    older = json.loads(catalog.expanded_json["touchline.Interaction"])
    older["fields"] = [f for f in older["fields"] if f["name"] != "metadata"]
    older_json = json.dumps(older)
    schema_id = registry_stub.register(f"{INTERACTIONS_TOPIC}-value", older_json)
    body = io.BytesIO()
    fastavro.schemaless_writer(
        body,
        fastavro.parse_schema(older),
        {
            "event_id": "e-old",
            "occurred_at": AT,
            "channel": "VOICE",
            "direction": "OUTBOUND",
            "customer": {"customer_id": "c-42"},
            "payload": ("touchline.ContactAttempt", {"outcome": "ANSWERED"}),
        },
    )
    data = b"\x00" + struct.pack(">I", schema_id) + body.getvalue()
    consumer = AvroSerializer(catalog, registry=SchemaRegistry(registry_stub.url))
    decoded = consumer.decode_model(data)
    assert decoded == Interaction(
        event_id="e-old",
        occurred_at=AT,
        channel=Channel.VOICE,
        direction=Direction.OUTBOUND,
        customer=CustomerRef(customer_id="c-42"),
        payload=ContactAttempt(outcome="ANSWERED"),
        metadata={},
    )


def test_confluent_unknown_schema_id_is_rejected(
    catalog: SchemaCatalog, registry_stub: RegistryStub
) -> None:
    consumer = AvroSerializer(catalog, registry=SchemaRegistry(registry_stub.url))
    with pytest.raises(SerializationError, match="schema registry GET /schemas/ids/999"):
        consumer.decode_model(b"\x00" + struct.pack(">I", 999) + b"\x06e-1")


def test_confluent_truncated_and_trailing_bodies_are_rejected(
    catalog: SchemaCatalog, registry_stub: RegistryStub
) -> None:
    producer = AvroSerializer(catalog, registry=SchemaRegistry(registry_stub.url))
    data = producer.encode_model(dial_list_entry(), topic="touchline.dial-list.v1")
    with pytest.raises(SerializationError, match=r"cannot decode touchline\.DialListEntry"):
        producer.decode_model(data[:-1])
    with pytest.raises(SerializationError, match="1 trailing bytes"):
        producer.decode_model(data + b"\x00")
