"""Avro wire format: the schema catalog, single-object encoding, Confluent framing, and
conversion between domain models and Avro records. Every failure is a SerializationError."""

from __future__ import annotations

import io
import json
import os
import struct
import urllib.error
import urllib.request
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import fastavro
import fastavro.schema
import fastavro.validation
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from streams.domain.campaign_policy import CampaignPolicy, DoNotContactEntry
from streams.domain.contact_holds import ContactRecheck
from streams.domain.customer import CustomerState
from streams.domain.decisions import DialListEntry, Suppression
from streams.domain.events import CampaignTarget, Interaction
from streams.domain.links import IdentityLink
from streams.domain.model import Fact, Millis, to_millis
from streams.domain.resolution import ProfileMerge, ProfileUnmerge
from streams.domain.screen_pop import ScreenPop

SINGLE_OBJECT_MAGIC = b"\xc3\x01"
CONFLUENT_MAGIC = b"\x00"
NAMESPACE = "touchline"


class SerializationError(Exception):
    """A record could not be encoded or decoded; `reason` is what the dead letter says."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def ensure_within(value: bytes | None, limit: int) -> None:
    """A consumed record larger than `limit` bytes is not read at all."""
    size = len(value or b"")
    if size > limit:
        raise SerializationError(f"a record of {size} bytes is over the limit of {limit} bytes")


class DeadLetter(Fact):
    model_config = ConfigDict(frozen=True, extra="forbid", ser_json_bytes="base64")

    topic: str
    partition: int
    offset: int
    key: bytes | None = None
    value: bytes | None = None
    error: str
    error_type: str
    failed_at: Millis = Field(default_factory=lambda: to_millis(datetime.now(UTC)))


MODELS: dict[str, type[BaseModel]] = {
    f"{NAMESPACE}.{cls.__name__}": cls
    for cls in (
        Interaction,
        CampaignTarget,
        Suppression,
        DialListEntry,
        CustomerState,
        DeadLetter,
        IdentityLink,
        ScreenPop,
        ProfileMerge,
        ProfileUnmerge,
        ContactRecheck,
        CampaignPolicy,
        DoNotContactEntry,
    )
}


def text_of(raw: bytes | str) -> str:
    """A key or raw table value as text: stores and topics hold UTF-8 bytes, values
    still waiting in the outbox are strings."""
    return raw.decode() if isinstance(raw, bytes) else str(raw)


def default_schema_dir() -> Path:
    configured = os.environ.get("TOUCHLINE_SCHEMA_DIR")
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parent / "schemas"


class SchemaCatalog:
    """Every schema in `schemas/`, parsed once, with named types from other files inlined
    (the parsing canonical form, and so the fingerprint, is of the expanded schema)."""

    def __init__(self, schema_dir: Path | None = None) -> None:
        directory = schema_dir or default_schema_dir()
        self.schemas: dict[str, Any] = {}
        self.canonical: dict[str, str] = {}
        self.expanded_json: dict[str, str] = {}
        self.fingerprints: dict[str, bytes] = {}
        self._by_fingerprint: dict[bytes, str] = {}
        files = sorted(directory.glob("*.avsc"))
        if not files:
            raise SerializationError(f"no .avsc schemas found in {directory}")
        for path in files:
            try:
                parsed = fastavro.schema.load_schema(str(path))
            except Exception as exc:  # fastavro raises several types for bad schemas
                raise SerializationError(f"schema {path.name} does not parse: {exc}") from exc
            name = parsed["name"] if isinstance(parsed, dict) else path.stem
            canonical = fastavro.schema.to_parsing_canonical_form(parsed)
            fingerprint = bytes.fromhex(fastavro.schema.fingerprint(canonical, "CRC-64-AVRO"))
            self.schemas[name] = parsed
            self.canonical[name] = canonical
            self.expanded_json[name] = json.dumps(_without_hints(parsed), sort_keys=True)
            self.fingerprints[name] = fingerprint
            self._by_fingerprint[fingerprint] = name

        # Writers of earlier releases: their records are read by schema resolution into
        # the current schema of the same name, so a worker upgraded in place keeps reading
        # the log (and its own changelogs) that older versions wrote.
        self._released: dict[bytes, tuple[str, Any]] = {}
        released_root = directory / "released"
        for release in sorted(released_root.iterdir()) if released_root.is_dir() else []:
            for path in sorted(release.glob("*.avsc")):
                parsed = fastavro.schema.load_schema(str(path))
                name = parsed["name"] if isinstance(parsed, dict) else path.stem
                fingerprint = bytes.fromhex(
                    fastavro.schema.fingerprint(
                        fastavro.schema.to_parsing_canonical_form(parsed), "CRC-64-AVRO"
                    )
                )
                if fingerprint not in self._by_fingerprint and name in self.schemas:
                    self._released[fingerprint] = (name, parsed)

    def writer_for_fingerprint(self, fingerprint: bytes) -> tuple[str, Any]:
        """The schema a record was written with: current, or of an earlier release."""
        name = self._by_fingerprint.get(fingerprint)
        if name is not None:
            return name, self.schemas[name]
        try:
            return self._released[fingerprint]
        except KeyError:
            raise SerializationError(
                f"no schema in the catalog has fingerprint {fingerprint.hex()}"
            ) from None

    def schema(self, name: str) -> Any:
        try:
            return self.schemas[name]
        except KeyError:
            raise SerializationError(f"unknown schema {name}") from None

    def name_for_fingerprint(self, fingerprint: bytes) -> str:
        try:
            return self._by_fingerprint[fingerprint]
        except KeyError:
            raise SerializationError(
                f"no schema in the catalog has fingerprint {fingerprint.hex()}"
            ) from None


def _without_hints(schema: Any) -> Any:
    """A parsed schema without fastavro's bookkeeping keys (they start with "__")."""
    if isinstance(schema, dict):
        return {k: _without_hints(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [_without_hints(item) for item in schema]
    return schema


class SchemaRegistry:
    """Minimal client of a Confluent-compatible schema registry, with caches: a schema is
    registered or fetched once per process."""

    def __init__(self, url: str, timeout: float = 5.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, tuple[str, Any]] = {}

    def _call(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SerializationError(f"schema registry {method} {path} failed: {exc}") from exc

    def register(self, subject: str, schema_json: str) -> int:
        cached = self._ids.get((subject, schema_json))
        if cached is not None:
            return cached
        answer = self._call("POST", f"/subjects/{subject}/versions", {"schema": schema_json})
        try:
            schema_id = int(answer["id"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SerializationError(f"schema registry answered without an id: {exc}") from exc
        self._ids[(subject, schema_json)] = schema_id
        return schema_id

    def schema(self, schema_id: int) -> tuple[str, Any]:
        """(full name, parsed writer schema) for a registry id."""
        cached = self._schemas.get(schema_id)
        if cached is None:
            answer = self._call("GET", f"/schemas/ids/{schema_id}")
            try:
                parsed = fastavro.parse_schema(json.loads(answer["schema"]))
            except Exception as exc:
                raise SerializationError(
                    f"registry schema {schema_id} does not parse: {exc}"
                ) from exc
            if not isinstance(parsed, dict):
                raise SerializationError(f"registry schema {schema_id} is not a named record")
            cached = (str(parsed["name"]), parsed)
            self._schemas[schema_id] = cached
        return cached


class AvroSerializer:
    """Encodes and decodes records in single-object encoding, or Confluent framing when a
    registry is configured (readers accept both either way)."""

    def __init__(
        self, catalog: SchemaCatalog | None = None, registry: SchemaRegistry | None = None
    ):
        self.catalog = catalog or SchemaCatalog()
        self.registry = registry

    # -- raw records ---------------------------------------------------------------
    def encode(
        self,
        name: str,
        datum: Mapping[str, Any],
        topic: str | None = None,
        *,
        validate: bool = True,
    ) -> bytes:
        """Encode a record. Raw records are validated first: fastavro would write an int
        outside 32 bits that Avro's Java decoder then refuses. Domain models skip that
        step; their own validation bounds every value already."""
        schema = self.catalog.schema(name)
        if validate:
            try:
                fastavro.validation.validate(datum, schema, raise_errors=True)
            except fastavro.validation.ValidationError as exc:
                raise SerializationError(f"cannot encode {name}: {exc}") from exc
        buffer = io.BytesIO()
        if self.registry is not None and topic is not None:
            # The expanded schema, not the canonical form: that form drops logical types.
            schema_id = self.registry.register(f"{topic}-value", self.catalog.expanded_json[name])
            buffer.write(CONFLUENT_MAGIC + struct.pack(">I", schema_id))
        else:
            buffer.write(SINGLE_OBJECT_MAGIC + self.catalog.fingerprints[name])
        try:
            fastavro.schemaless_writer(buffer, schema, datum)
        except Exception as exc:  # fastavro raises ValueError, TypeError, AttributeError...
            raise SerializationError(f"cannot encode {name}: {exc}") from exc
        return buffer.getvalue()

    def decode(self, data: bytes | None) -> tuple[str, dict[str, Any]]:
        if not data:
            raise SerializationError("empty value")
        if data[:2] == SINGLE_OBJECT_MAGIC:
            if len(data) < 10:
                raise SerializationError("truncated single-object header")
            name, writer = self.catalog.writer_for_fingerprint(bytes(data[2:10]))
            reader = self.catalog.schema(name)
            body = data[10:]
        elif data[:1] == CONFLUENT_MAGIC and len(data) >= 5:
            if self.registry is None:
                raise SerializationError(
                    "Confluent-framed record but no TOUCHLINE_SCHEMA_REGISTRY_URL configured"
                )
            (schema_id,) = struct.unpack(">I", data[1:5])
            name, writer = self.registry.schema(schema_id)
            reader = self.catalog.schema(name)
            body = data[5:]
        else:
            raise SerializationError(
                f"not Avro: expected single-object header C3 01, got {bytes(data[:2]).hex()}"
            )
        stream = io.BytesIO(body)
        try:
            record = fastavro.schemaless_reader(
                stream,
                writer,
                reader if reader is not writer else None,
                return_record_name=True,
                return_record_name_override=True,
            )
        except Exception as exc:
            raise SerializationError(f"cannot decode {name}: {exc}") from exc
        if stream.tell() != len(body):
            raise SerializationError(f"{len(body) - stream.tell()} trailing bytes after {name}")
        if not isinstance(record, dict):
            raise SerializationError(f"{name} did not decode to a record")
        return name, record

    # -- domain models -------------------------------------------------------------
    def encode_model(self, model: BaseModel, topic: str | None = None) -> bytes:
        name = f"{NAMESPACE}.{type(model).__name__}"
        return self.encode(name, to_record(model), topic, validate=False)

    def decode_model(self, data: bytes | None) -> BaseModel:
        name, record = self.decode(data)
        return from_record(name, record)


def to_record(model: BaseModel) -> dict[str, Any]:
    record = model.model_dump()
    if isinstance(model, Interaction):
        payload = dict(record["payload"])
        kind = payload.pop("type")
        record["payload"] = (f"{NAMESPACE}.{kind}", payload)
    return record


def from_record(name: str, record: dict[str, Any]) -> BaseModel:
    model = MODELS.get(name)
    if model is None:
        raise SerializationError(f"{name} has no domain model")
    if model is Interaction:
        kind, payload = record["payload"]
        record = {**record, "payload": {"type": kind.rsplit(".", 1)[-1], **payload}}
    try:
        return model.model_validate(record)
    except ValidationError as exc:
        raise SerializationError(f"{name} is not valid: {exc.errors()[0]['msg']}") from exc
