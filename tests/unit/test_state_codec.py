"""The customers table's value format: what it reads, what it refuses."""

from __future__ import annotations

import zlib
from datetime import UTC, datetime

import orjson
import pytest
from pydantic import AwareDatetime, TypeAdapter

from streams.domain.contact_facts import FACTS_VERSION, facts_from_state
from streams.domain.contact_rules import ContactFacts
from streams.domain.customer import CustomerState, evolve
from streams.domain.events import Message
from streams.domain.model import to_millis
from streams.wire.serialization import AvroSerializer, SerializationError
from streams.wire.state_codec import STATE_MARKER, decode_contact_facts, decode_state, encode_state
from tests.factories import CUSTOMER, interaction, offer

AVRO = AvroSerializer()


def state() -> CustomerState:
    folded = CustomerState.new(CUSTOMER)
    for event in (
        interaction("e1", Message(text="hi"), email="ayse@example.com"),
        offer("o1", "spring-loan"),
    ):
        folded = evolve(folded, event)
    return folded


def compressed(record: dict[str, object]) -> bytes:
    return zlib.compress(orjson.dumps(record), 1)


def state_only(record: dict[str, object]) -> bytes:
    """A value of early 0.3.0 builds: the compressed state alone."""
    return b"TLS1" + compressed(record)


def stored(facts: bytes, record: dict[str, object], version: int = FACTS_VERSION) -> bytes:
    return (
        STATE_MARKER
        + bytes((version,))
        + len(facts).to_bytes(4, "big")
        + facts
        + compressed(record)
    )


def record() -> dict[str, object]:
    return dict(orjson.loads(state().model_dump_json()))


def test_a_state_comes_back_equal_with_its_contact_facts() -> None:
    value = encode_state(state())
    assert value.startswith(STATE_MARKER)
    assert decode_state(value, AVRO) == state()
    assert decode_contact_facts(value, AVRO) == facts_from_state(state())


def test_states_of_earlier_formats_are_still_read() -> None:
    for value in (AVRO.encode_model(state()), state_only(record())):
        assert decode_state(value, AVRO) == state()
        assert decode_contact_facts(value, AVRO) == facts_from_state(state())


def test_the_check_reads_the_stored_facts_not_the_state() -> None:
    facts = facts_from_state(state()).model_copy(update={"opted_out_all": True})
    value = stored(facts.model_dump_json().encode(), record())
    assert decode_contact_facts(value, AVRO) == facts
    assert decode_state(value, AVRO) == state()


@pytest.mark.parametrize(
    ("facts", "version"),
    [
        (b'{"customer_id": "c", "opted_out_all": true}', FACTS_VERSION + 1),  # another version
        (b'{"customer_id": "c", "from_the_future": 1}', FACTS_VERSION),  # not this release's
        (b"{not json", FACTS_VERSION),
    ],
)
def test_facts_this_release_cannot_read_are_worked_out_from_the_state(
    facts: bytes, version: int
) -> None:
    value = stored(facts, record(), version)
    assert decode_contact_facts(value, AVRO) == facts_from_state(state())


def test_fields_written_by_a_newer_release_are_left_out() -> None:
    newer = record()
    newer["a_field_from_the_future"] = {"x": 1}
    newer["offers"][0]["another"] = "new"  # type: ignore[index]
    for value in (state_only(newer), stored(b"{}", newer, FACTS_VERSION + 1)):
        assert decode_state(value, AVRO) == state()
        assert decode_contact_facts(value, AVRO) == facts_from_state(state())


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"garbage", "not a customer state"),
        (b"", "not a customer state"),
        (STATE_MARKER, "cut short"),
        (STATE_MARKER + bytes((FACTS_VERSION,)) + (500).to_bytes(4, "big") + b"{}", "cut short"),
        (stored(b"{}", {})[:9] + b"not zlib", "not valid zlib"),
        (b"TLS1not zlib", "not valid zlib"),
        (b"TLS1" + zlib.compress(b"{not json"), "not valid"),
        (b"TLS1" + zlib.compress(b'{"phones": []}'), "not valid"),
        (state_only({"customer_id": CUSTOMER, "events_applied": "many"}), "not valid"),
    ],
)
def test_anything_else_is_refused_with_a_reason(value: bytes, message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        decode_state(value, AVRO)
    with pytest.raises(SerializationError, match=message):
        decode_contact_facts(value, AVRO)


def test_another_avro_record_is_not_a_state() -> None:
    with pytest.raises(SerializationError, match="holds a Interaction"):
        decode_state(AVRO.encode_model(offer("o1", "spring-loan")), AVRO)


def test_stored_facts_carry_no_dnc_matches_and_leave_defaults_out() -> None:
    value = encode_state(state())
    length = int.from_bytes(value[5:9], "big")
    facts = orjson.loads(value[9 : 9 + length])
    assert "dnc_matches" not in facts
    assert "opted_out_all" not in facts
    assert ContactFacts.model_validate(facts) == facts_from_state(state())


@pytest.mark.parametrize(
    "text",
    ["2026-11-23T10:15:00.123Z", "2026-11-23T13:15:00.123+03:00", "2026-11-23T10:15:00.123456Z"],
)
def test_moments_read_from_json_become_utc_milliseconds(text: str) -> None:
    moment = to_millis(TypeAdapter(AwareDatetime).validate_json(f'"{text}"'))
    assert moment.tzinfo is UTC
    assert moment == datetime(2026, 11, 23, 10, 15, 0, 123000, tzinfo=UTC)
