"""Every schema must stay BACKWARD and FORWARD compatible with the released version.

`schemas/released/<version>/` holds the `.avsc` files as released; the check is Apache
Avro's own ReaderWriterCompatibilityChecker, run on the expanded schemas (named types
from other files inlined, defaults kept: the canonical form would drop the defaults the
checker depends on)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import avro.schema
import pytest
from avro.compatibility import (
    ReaderWriterCompatibilityChecker,
    SchemaCompatibilityResult,
    SchemaCompatibilityType,
    SchemaIncompatibilityType,
)

from streams.wire.serialization import MODELS, SchemaCatalog

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"
# Every release: the log and the changelogs hold records of each, so the current schemas
# must read all of them, and each release's readers must read what is written now.
RELEASES = sorted(
    (p.name for p in (SCHEMA_DIR / "released").iterdir() if p.is_dir()),
    key=lambda v: tuple(int(n) for n in v.split(".")),
)
RELEASED_VERSION = RELEASES[-1]  # the previous released version
RELEASED_DIR = SCHEMA_DIR / "released" / RELEASED_VERSION

CURRENT = SchemaCatalog(SCHEMA_DIR)
RELEASED = SchemaCatalog(RELEASED_DIR)
CATALOGS = {v: SchemaCatalog(SCHEMA_DIR / "released" / v) for v in RELEASES}
EVERY_RELEASED_SCHEMA = [(v, name) for v, c in CATALOGS.items() for name in sorted(c.expanded_json)]


def apache(expanded_json: str | dict[str, Any]) -> avro.schema.Schema:
    text = expanded_json if isinstance(expanded_json, str) else json.dumps(expanded_json)
    return avro.schema.parse(text)


def compatibility(
    reader: avro.schema.Schema, writer: avro.schema.Schema
) -> SchemaCompatibilityResult:
    """Can data written with `writer` be read with `reader`? A fresh checker each time:
    the checker memoises by object identity."""
    return ReaderWriterCompatibilityChecker().get_compatibility(reader, writer)


def explain(result: SchemaCompatibilityResult) -> str:
    return f"{sorted(result.messages)} at {sorted(result.locations)}"


def test_released_snapshot_is_complete() -> None:
    assert RELEASED_DIR.is_dir()
    # Every model has a schema now; every model of the last release still has one.
    assert set(MODELS) <= set(CURRENT.expanded_json)
    released_models = set(RELEASED.expanded_json) & set(CATALOGS["0.2.0"].expanded_json)
    assert {"touchline.Interaction", "touchline.CustomerState"} <= released_models
    assert released_models & set(MODELS) <= set(CURRENT.expanded_json)
    # The snapshot lives below schemas/ but is not part of the current catalog.
    assert len(CURRENT.expanded_json) == len(list(SCHEMA_DIR.glob("*.avsc")))


@pytest.mark.parametrize("directory", [SCHEMA_DIR, RELEASED_DIR], ids=["current", "released"])
def test_schema_files_are_named_by_full_name(directory: Path) -> None:
    for path in sorted(directory.glob("*.avsc")):
        schema = json.loads(path.read_text(encoding="utf-8"))
        assert f"{schema['namespace']}.{schema['name']}" == path.stem


def test_no_released_schema_was_removed() -> None:
    assert set(RELEASED.expanded_json) <= set(CURRENT.expanded_json)


def test_every_release_is_checked() -> None:
    assert RELEASES[:2] == ["0.1.0", "0.2.0"]
    assert len(EVERY_RELEASED_SCHEMA) >= sum(len(c.expanded_json) for c in CATALOGS.values())


@pytest.mark.parametrize(("version", "name"), EVERY_RELEASED_SCHEMA)
def test_backward_compatible_new_reader_reads_old_writer(version: str, name: str) -> None:
    released = CATALOGS[version]
    result = compatibility(
        reader=apache(CURRENT.expanded_json[name]), writer=apache(released.expanded_json[name])
    )
    assert result.compatibility is SchemaCompatibilityType.compatible, explain(result)


@pytest.mark.parametrize(("version", "name"), EVERY_RELEASED_SCHEMA)
def test_forward_compatible_old_reader_reads_new_writer(version: str, name: str) -> None:
    released = CATALOGS[version]
    result = compatibility(
        reader=apache(released.expanded_json[name]), writer=apache(CURRENT.expanded_json[name])
    )
    assert result.compatibility is SchemaCompatibilityType.compatible, explain(result)


# --------------------------------------------------------------------------------------
# The checker bites: changes that must be caught are caught.
# --------------------------------------------------------------------------------------


def _current(name: str) -> dict[str, Any]:
    return json.loads(CURRENT.expanded_json[name])


def _both_directions(
    old: dict[str, Any], new: dict[str, Any]
) -> tuple[SchemaCompatibilityResult, SchemaCompatibilityResult]:
    backward = compatibility(reader=apache(new), writer=apache(old))
    forward = compatibility(reader=apache(old), writer=apache(new))
    return backward, forward


def test_new_required_field_is_backward_incompatible() -> None:
    old = _current("touchline.Interaction")
    new = _current("touchline.Interaction")
    new["fields"].append({"name": "tenant", "type": "string"})
    backward, forward = _both_directions(old, new)
    assert backward.compatibility is SchemaCompatibilityType.incompatible
    assert SchemaIncompatibilityType.reader_field_missing_default_value in (
        backward.incompatibilities
    )
    assert "tenant" in backward.messages
    # An old reader just skips the field it does not know.
    assert forward.compatibility is SchemaCompatibilityType.compatible, explain(forward)


def test_new_required_field_in_a_nested_record_is_backward_incompatible() -> None:
    old = _current("touchline.Interaction")
    new = _current("touchline.Interaction")
    customer = next(f for f in new["fields"] if f["name"] == "customer")
    customer["type"]["fields"].append({"name": "segment", "type": "string"})
    backward, _ = _both_directions(old, new)
    assert backward.compatibility is SchemaCompatibilityType.incompatible
    assert "segment" in backward.messages


def test_new_field_with_default_is_compatible_both_ways() -> None:
    old = _current("touchline.Interaction")
    new = _current("touchline.Interaction")
    new["fields"].append({"name": "tenant", "type": ["null", "string"], "default": None})
    backward, forward = _both_directions(old, new)
    assert backward.compatibility is SchemaCompatibilityType.compatible, explain(backward)
    assert forward.compatibility is SchemaCompatibilityType.compatible, explain(forward)


def test_removed_field_without_default_is_forward_incompatible() -> None:
    old = _current("touchline.DialListEntry")
    new = _current("touchline.DialListEntry")
    new["fields"] = [f for f in new["fields"] if f["name"] != "source_id"]
    backward, forward = _both_directions(old, new)
    assert backward.compatibility is SchemaCompatibilityType.compatible, explain(backward)
    assert forward.compatibility is SchemaCompatibilityType.incompatible
    assert "source_id" in forward.messages


def test_new_enum_symbol_needs_an_enum_default_for_old_readers() -> None:
    # OfferResponseKind has no default: an old reader cannot read a new symbol.
    old = _current("touchline.OfferResponseKind")
    new = _current("touchline.OfferResponseKind")
    new["symbols"].append("MAYBE")
    backward, forward = _both_directions(old, new)
    assert backward.compatibility is SchemaCompatibilityType.compatible, explain(backward)
    assert forward.compatibility is SchemaCompatibilityType.incompatible
    assert SchemaIncompatibilityType.missing_enum_symbols in forward.incompatibilities
    # Channel and SuppressionReason default to OTHER: new symbols are fine both ways.
    for name, symbol in (
        ("touchline.Channel", "WHATSAPP"),
        ("touchline.SuppressionReason", "FRAUD"),
    ):
        old = _current(name)
        new = _current(name)
        new["symbols"].append(symbol)
        backward, forward = _both_directions(old, new)
        assert backward.compatibility is SchemaCompatibilityType.compatible, explain(backward)
        assert forward.compatibility is SchemaCompatibilityType.compatible, explain(forward)


def test_changed_field_type_is_incompatible() -> None:
    old = _current("touchline.DialListEntry")
    new = _current("touchline.DialListEntry")
    priority = next(f for f in new["fields"] if f["name"] == "priority")
    priority["type"] = "string"
    priority["default"] = "0"
    backward, forward = _both_directions(old, new)
    assert backward.compatibility is SchemaCompatibilityType.incompatible
    assert forward.compatibility is SchemaCompatibilityType.incompatible
    assert SchemaIncompatibilityType.type_mismatch in backward.incompatibilities
