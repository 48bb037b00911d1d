"""The customers table's value format: what it reads, what it refuses."""

from __future__ import annotations

import zlib

import orjson
import pytest

from streams.domain.customer import CustomerState, evolve
from streams.domain.events import Message
from streams.serialization import AvroSerializer, SerializationError
from streams.state_codec import STATE_MARKER, decode_contact_source, decode_state, encode_state
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


def stored(record: dict[str, object]) -> bytes:
    return STATE_MARKER + zlib.compress(orjson.dumps(record), 1)


def test_a_state_comes_back_equal() -> None:
    value = encode_state(state())
    assert value.startswith(STATE_MARKER)
    assert decode_state(value, AVRO) == state()


def test_a_state_stored_in_avro_before_0_3_0_is_still_read() -> None:
    assert decode_state(AVRO.encode_model(state()), AVRO) == state()


def test_fields_written_by_a_newer_release_are_left_out() -> None:
    record = orjson.loads(state().model_dump_json())
    record["a_field_from_the_future"] = {"x": 1}
    record["offers"][0]["another"] = "new"
    assert decode_state(stored(record), AVRO) == state()
    source = decode_contact_source(stored(record), AVRO)
    assert source.offers == state().offers


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (b"garbage", "not a customer state"),
        (b"", "not a customer state"),
        (STATE_MARKER + b"not zlib", "not valid zlib"),
        (STATE_MARKER + zlib.compress(b"{not json"), "not valid"),
        (STATE_MARKER + zlib.compress(b'{"phones": []}'), "not valid"),
        (stored({"customer_id": CUSTOMER, "events_applied": "many"}), "not valid"),
    ],
)
def test_anything_else_is_refused_with_a_reason(value: bytes, message: str) -> None:
    with pytest.raises(SerializationError, match=message):
        decode_state(value, AVRO)


def test_another_avro_record_is_not_a_state() -> None:
    with pytest.raises(SerializationError, match="holds a Interaction"):
        decode_state(AVRO.encode_model(offer("o1", "spring-loan")), AVRO)


def test_the_contact_source_is_read_from_either_format_and_refuses_garbage() -> None:
    assert decode_contact_source(encode_state(state()), AVRO).phones == state().phones
    assert decode_contact_source(AVRO.encode_model(state()), AVRO) == state()
    for bad in (b"garbage", STATE_MARKER + b"not zlib", stored({"phones": "+90"})):
        with pytest.raises(SerializationError):
            decode_contact_source(bad, AVRO)
