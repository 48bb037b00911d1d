"""How the customers table stores a `CustomerState`: the value in RocksDB and in the
table's changelog.

A state is read on every view and contact check and written on every event, so its
format is chosen for speed. A value holds, behind the 4-byte marker `TLS2`:

1. the customer's contact facts (`facts_from_state`, without DNC matches), as pydantic's
   JSON behind a version byte and a 4-byte length: what the dispatch-time check reads,
   worked out once when the state changes instead of on every check;
2. the state itself, as pydantic's JSON compressed with zlib at its fastest level.
   Decoding takes about a third of the time Avro took for the same state (pydantic
   validates JSON in one pass in Rust), and encoding half.

Values of earlier formats are still read, so a worker upgraded in place recovers its old
changelog: Avro single-object encoding (0.2.0), and `TLS1`, the compressed state alone
(early 0.3.0 builds). Facts of another version than `FACTS_VERSION`, or of those formats,
are worked out from the state. Each value is rewritten in this format the next time the
customer's state changes."""

from __future__ import annotations

import zlib
from typing import Any

import orjson
from pydantic import ValidationError

from streams.domain.contact_facts import FACTS_VERSION, facts_from_state
from streams.domain.contact_rules import ContactFacts
from streams.domain.customer import CustomerState
from streams.wire.serialization import AvroSerializer, SerializationError

STATE_MARKER = b"TLS2"  # contact facts, then the state's JSON zlib-compressed
_STATE_ONLY = b"TLS1"  # the state's JSON zlib-compressed
_AVRO_MARKER = b"\xc3\x01"
_FACTS_HEADER = STATE_MARKER + bytes((FACTS_VERSION,))
_FACTS_AT = len(_FACTS_HEADER) + 4  # after the version byte and the length


def encode_state(state: CustomerState) -> bytes:
    return stored_value(encode_facts(state), state.model_dump_json().encode())


def encode_facts(state: CustomerState) -> bytes:
    """The JSON of the state's contact facts, as a value stores it (defaults left out)."""
    return facts_from_state(state).model_dump_json(exclude_defaults=True).encode()


def stored_value(facts: bytes, state: bytes) -> bytes:
    """The value of a state's JSON with its contact facts' JSON (of `FACTS_VERSION`)."""
    return b"".join((_FACTS_HEADER, len(facts).to_bytes(4, "big"), facts, zlib.compress(state, 1)))


def decode_state(data: bytes, avro: AvroSerializer) -> CustomerState:
    """A stored state in any of the formats; SerializationError if it is none of them."""
    marker = data[:4]
    if marker == STATE_MARKER:
        return _validate(_json(data, _FACTS_AT + _facts_length(data)))
    if marker == _STATE_ONLY:
        return _validate(_json(data, len(_STATE_ONLY)))
    return _from_avro(data, avro)


def decode_contact_facts(data: bytes, avro: AvroSerializer) -> ContactFacts:
    """What the contact rules read of a stored state (its DNC matches left to the caller):
    the stored facts when they are of this release's version, else worked out from the
    state; SerializationError if the value is not a state."""
    if data[: len(_FACTS_HEADER)] == _FACTS_HEADER:
        try:
            return ContactFacts.model_validate_json(
                data[_FACTS_AT : _FACTS_AT + _facts_length(data)]
            )
        except ValidationError:
            pass  # worked out from the state below, which says what is wrong with it
    return facts_from_state(decode_state(data, avro))


def _facts_length(data: bytes) -> int:
    if len(data) < _FACTS_AT:
        raise SerializationError("customer state is cut short")
    length = int.from_bytes(data[len(_FACTS_HEADER) : _FACTS_AT], "big")
    if len(data) < _FACTS_AT + length:
        raise SerializationError("customer state is cut short")
    return length


def _json(data: bytes, start: int) -> bytes:
    try:
        return zlib.decompress(memoryview(data)[start:])
    except zlib.error as exc:
        raise SerializationError(f"customer state is not valid zlib: {exc}") from exc


def _from_avro(data: bytes, avro: AvroSerializer) -> CustomerState:
    if data[:2] == _AVRO_MARKER:
        model = avro.decode_model(data)
        if not isinstance(model, CustomerState):
            raise SerializationError(f"customers table holds a {type(model).__name__}")
        return model
    raise SerializationError(f"not a customer state: starts with {bytes(data[:4]).hex()}")


def _validate(text: bytes) -> CustomerState:
    try:
        return CustomerState.model_validate_json(text)
    except ValidationError as exc:
        errors = exc.errors()
        if not errors or any(e["type"] != "extra_forbidden" for e in errors):
            raise SerializationError(f"customer state is not valid: {errors[0]['msg']}") from exc
    # Written by a newer release with fields this one does not know: they are left out,
    # as Avro schema resolution would (new fields are always optional).
    record = orjson.loads(text)
    for error in errors:
        _drop(record, error["loc"])
    try:
        return CustomerState.model_validate_json(orjson.dumps(record))
    except ValidationError as exc:
        raise SerializationError(f"customer state is not valid: {exc.errors()[0]['msg']}") from exc


def _drop(record: Any, location: tuple[int | str, ...]) -> None:
    *path, last = location
    for step in path:
        record = record[step]
    if isinstance(record, dict):
        record.pop(last, None)
