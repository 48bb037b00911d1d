"""Branch and ATM batch files: a TOML mapping that says how each CSV row becomes an
`Interaction`, checked when loaded and against the file's header before any row is sent.

A mapping (see `streams/adapters/mappings/*.toml` for documented examples):

```toml
channel = "BRANCH"                       # literal text ...
direction = "INBOUND"
event_id = "branch-{branch_id}-{visit_id}"   # ... or a template over columns
occurred_at = { column = "visit_time", timezone = "Europe/Istanbul" }
region = "TR"                            # for national phone numbers (optional)
delimiter = ","                          # optional
[customer]                               # column names (or templates)
account = "account_no"
phone = "mobile"
[payload]
type = "ContactAttempt"                  # any payload type of streams.domain.events
outcome = "{purpose}"
```

Every column the mapping does not consume is kept in `metadata` (empty cells skipped), so
nothing in the file is dropped. Columns named only by `event_id` are kept there too: an
id is a key, not a place to store data. Mistakes in the mapping raise `MappingError`;
mistakes in a row raise `InputError` naming the CSV column.
"""

from __future__ import annotations

import re
import tomllib
import types
import typing
from collections import abc
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ValidationError

from streams.adapters.common import email, metadata, phone, timestamp
from streams.adapters.native import InputError
from streams.domain.events import PAYLOAD_TYPES, CustomerRef, Interaction
from streams.domain.identity import IdentityError, normalise_account, normalise_region
from streams.domain.model import Channel, Direction, Fact

__all__ = ["EXAMPLES", "Mapping", "MappingError", "load_mapping", "parse_mapping"]

# The documented example mappings shipped with the package.
EXAMPLES = Path(__file__).with_name("mappings")

TOP_LEVEL_KEYS = frozenset(
    {"channel", "direction", "event_id", "occurred_at", "region", "delimiter", "customer",
     "payload"}
)  # fmt: skip
CUSTOMER_KEYS = ("customer_id", "phone", "email", "account")
VALUE_KEYS = frozenset({"column", "template", "values", "default"})
TIME_KEYS = frozenset({"column", "template", "timezone", "format"})

# `{{` and `}}` are literal braces; `{name}` is the cell of column `name`, exactly as the
# header spells it (spaces and dots included); a lone brace is a mistake.
_TEMPLATE_PART = re.compile(r"\{\{|\}\}|\{([^{}]*)\}|[{}]")
# OptOut.channels from one cell: "SMS, VOICE" or "SMS;VOICE" or "SMS VOICE".
_LIST_SEPARATORS = re.compile(r"[,;|\s]+")


class MappingError(ValueError):
    """The mapping is wrong, or does not fit the file's header: nothing can be published."""


# -- values ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Value:
    """One mapped value: literal text and `{column}` references, optionally looked up in a
    `values` table (cell value -> mapped value) and with a `default` for empty cells.

    A value is absent (None) when any column it names has an empty cell; `required` turns
    that into an error naming the empty column."""

    where: str  # the mapping key, for error messages: "payload.outcome"
    parts: tuple[tuple[bool, str], ...]  # (is a column, text)
    values: abc.Mapping[str, str] | None = None
    default: str | None = None
    required: bool = False

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(text for is_column, text in self.parts if is_column))

    @property
    def field(self) -> str:
        """What a row error names: the column(s) the value comes from, else the key."""
        return ", ".join(self.columns) or self.where

    @property
    def literal(self) -> str | None:
        """The value when it names no column (the same for every row)."""
        if self.columns:
            return None
        return "".join(text for _, text in self.parts)

    def outcomes(self) -> list[str]:
        """Every value this can produce when that is knowable at load time."""
        if self.values is not None:
            return [*self.values.values(), *([self.default] if self.default else [])]
        literal = self.literal
        return [literal] if literal is not None else []

    def render(self, row: abc.Mapping[str, str]) -> str | None:
        pieces: list[str] = []
        for is_column, text in self.parts:
            if not is_column:
                pieces.append(text)
                continue
            cell = row.get(text)
            if cell is None:
                raise InputError(text, f"is not a column of the file ({self.where} needs it)")
            cell = cell.strip()
            if not cell:
                if self.default is not None:
                    return self.default
                if self.required:
                    raise InputError(text, f"is empty ({self.where} needs it)")
                return None
            pieces.append(cell)
        result = "".join(pieces)
        if self.values is not None:
            if result not in self.values:
                # The cell is not echoed: it may be personal data.
                listed = ", ".join(self.values)
                raise InputError(self.field, f"is none of the values {self.where} maps ({listed})")
            result = self.values[result]
        if not result and self.required:
            raise InputError(self.field, f"gives an empty {self.where}")
        return result or None


def _template(text: str, where: str) -> tuple[tuple[bool, str], ...]:
    parts: list[tuple[bool, str]] = []
    position = 0
    for match in _TEMPLATE_PART.finditer(text):
        if match.start() > position:
            parts.append((False, text[position : match.start()]))
        token = match.group(0)
        if token in ("{{", "}}"):
            parts.append((False, token[0]))
        elif match.group(1) is None:
            raise MappingError(f"{where}: unmatched {token!r} in {text!r} (write {token * 2})")
        elif not match.group(1).strip():
            raise MappingError(f"{where}: empty {{}} in {text!r}; name a column inside it")
        else:
            parts.append((True, match.group(1)))
        position = match.end()
    if position < len(text):
        parts.append((False, text[position:]))
    return tuple(parts)


def _value(raw: Any, where: str, *, column_name: bool = False, required: bool = False) -> Value:
    """`"text {column}"`, or `{ column = ..., values = ..., default = ... }`, or
    `{ template = ..., ... }`. With `column_name`, a plain string names a column."""
    if isinstance(raw, bool):
        raise MappingError(f"{where}: must be text, a template or a table, not true/false")
    if isinstance(raw, int | float):
        raw = str(raw)
    if isinstance(raw, str):
        if column_name and not any(brace in raw for brace in "{}"):
            if not raw:
                raise MappingError(f"{where}: names no column")
            return Value(where, ((True, raw),), required=required)
        return Value(where, _template(raw, where), required=required)
    if isinstance(raw, dict):
        _known_keys(raw, VALUE_KEYS, where)
        parts = _source(raw, where)
        values = raw.get("values")
        if values is not None:
            if not isinstance(values, dict) or not values:
                raise MappingError(f"{where}.values: must be a table of cell value = mapped value")
            for cell, mapped in values.items():
                if not isinstance(mapped, str):
                    raise MappingError(f"{where}.values.{cell}: must be text")
        default = raw.get("default")
        if default is not None and not isinstance(default, str):
            raise MappingError(f"{where}.default: must be text")
        return Value(where, parts, values=values, default=default, required=required)
    raise MappingError(f"{where}: must be text, a template or a table")


def _source(raw: dict[str, Any], where: str) -> tuple[tuple[bool, str], ...]:
    """A table's `column` or `template` (exactly one)."""
    if ("column" in raw) == ("template" in raw):
        raise MappingError(f"{where}: give exactly one of column or template")
    if "column" in raw:
        column = raw["column"]
        if not isinstance(column, str) or not column:
            raise MappingError(f"{where}.column: must be a column name")
        return ((True, column),)
    template = raw["template"]
    if not isinstance(template, str):
        raise MappingError(f"{where}.template: must be text")
    return _template(template, f"{where}.template")


def _known_keys(raw: dict[str, Any], known: abc.Set[str], where: str) -> None:
    unknown = sorted(set(raw) - known)
    if unknown:
        prefix = f"{where}." if where else ""
        allowed = ", ".join(sorted(known))
        raise MappingError(f"{prefix}{unknown[0]}: unknown key (known: {allowed})")


# -- times ----------------------------------------------------------------------------


@dataclass(frozen=True)
class TimeValue:
    """`occurred_at`: ISO 8601 (or Unix seconds, RFC 2822) unless a strptime `format` is
    given. A zone in the value wins; `timezone` is the zone of naive local times."""

    value: Value
    zone: tzinfo | None = None
    format: str | None = None

    def render(self, row: abc.Mapping[str, str]) -> datetime:
        text = self.value.render(row)
        assert text is not None  # required
        field = self.value.field
        if self.format is not None:
            try:
                moment = datetime.strptime(text, self.format)
            except ValueError:
                raise InputError(field, f"is not a time in the format {self.format}") from None
        else:
            try:
                moment = datetime.fromisoformat(text)
            except ValueError:
                return timestamp(text, field)  # Unix seconds, RFC 2822, or a clear error
        if moment.tzinfo is None:
            if self.zone is None:
                raise InputError(
                    field, "has no time zone; give occurred_at a timezone in the mapping"
                )
            # A local time in a DST fall-back hour is ambiguous; zoneinfo takes the
            # first occurrence (fold=0).
            moment = moment.replace(tzinfo=self.zone)
        return moment.astimezone(UTC)


def _time_value(raw: Any) -> TimeValue:
    where = "occurred_at"
    if isinstance(raw, str):
        return TimeValue(_value(raw, where, required=True))
    if not isinstance(raw, dict):
        raise MappingError(f"{where}: must be a template or a table with column and timezone")
    _known_keys(raw, TIME_KEYS, where)
    value = Value(where, _source(raw, where), required=True)
    if not value.columns:
        raise MappingError(f"{where}: must name a column")
    zone: tzinfo | None = None
    if "timezone" in raw:
        name = raw["timezone"]
        if not isinstance(name, str):
            raise MappingError(f"{where}.timezone: must be a zone name like Europe/Istanbul")
        try:
            zone = ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError):
            raise MappingError(
                f"{where}.timezone: {name!r} is not a time zone (IANA names like Europe/Istanbul)"
            ) from None
    time_format = raw.get("format")
    if time_format is not None:
        if not isinstance(time_format, str) or not time_format:
            raise MappingError(f"{where}.format: must be a strptime format like %d.%m.%Y %H:%M")
        if "%z" not in time_format and zone is None:
            raise MappingError(
                f"{where}: the format has no %z, so the times are local: give a timezone"
            )
    return TimeValue(value, zone, time_format)


# -- payload fields -------------------------------------------------------------------


@dataclass(frozen=True)
class ListField:
    """A list payload field (OptOut.channels): a TOML array of values, or one value whose
    text is split on commas, semicolons, bars or spaces."""

    where: str
    items: tuple[Value, ...] = ()
    split: Value | None = None

    @property
    def columns(self) -> tuple[str, ...]:
        values = (*self.items, *([self.split] if self.split else []))
        return tuple(dict.fromkeys(c for v in values for c in v.columns))

    @property
    def field(self) -> str:
        return ", ".join(self.columns) or self.where

    def render(self, row: abc.Mapping[str, str]) -> list[str] | None:
        if self.split is not None:
            text = self.split.render(row)
            return None if text is None else [t for t in _LIST_SEPARATORS.split(text) if t]
        return [text for item in self.items if (text := item.render(row)) is not None]


@dataclass(frozen=True)
class DictField:
    """A dict payload field (ProfileUpdate.fields): a table of name = value, or an array of
    column names (each becomes name = cell). Empty cells are left out."""

    where: str
    entries: tuple[tuple[str, Value], ...]

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(c for _, v in self.entries for c in v.columns))

    @property
    def field(self) -> str:
        return ", ".join(self.columns) or self.where

    def render(self, row: abc.Mapping[str, str]) -> dict[str, str]:
        return {name: text for name, value in self.entries if (text := value.render(row))}


FieldSpec = Value | ListField | DictField


def _container(annotation: Any) -> Any:
    """list or dict for `list[X]`, `dict[K, V]` and their optional forms; else None."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        kinds = {_container(arg) for arg in typing.get_args(annotation) if arg is not type(None)}
        return kinds.pop() if len(kinds) == 1 else None
    return origin if origin in (list, dict) else None


def _payload_field(model: type[Fact], name: str, raw: Any) -> FieldSpec:
    where = f"payload.{name}"
    info = model.model_fields[name]
    origin = _container(info.annotation)
    if origin is list:
        if isinstance(raw, list):
            return ListField(
                where, items=tuple(_value(r, f"{where}[{i}]") for i, r in enumerate(raw))
            )
        return ListField(where, split=_value(raw, where))
    if origin is dict:
        if isinstance(raw, list):
            entries = []
            for column in raw:
                if not isinstance(column, str) or not column:
                    raise MappingError(f"{where}: an array here lists column names")
                entries.append((column, _value(column, f"{where}.{column}", column_name=True)))
            return DictField(where, tuple(entries))
        if not isinstance(raw, dict):
            raise MappingError(f"{where}: must be a table of name = value, or column names")
        return DictField(where, tuple((key, _value(v, f"{where}.{key}")) for key, v in raw.items()))
    return _value(raw, where, required=info.is_required())


def _payload(raw: Any) -> tuple[str, dict[str, FieldSpec]]:
    if not isinstance(raw, dict):
        raise MappingError("[payload]: is required, with a type (" + ", ".join(PAYLOAD_TYPES) + ")")
    kind = raw.get("type")
    if kind not in PAYLOAD_TYPES:
        shown = "is required" if kind is None else f"{kind!r} is not a payload type"
        raise MappingError(f"payload.type: {shown} (one of {', '.join(PAYLOAD_TYPES)})")
    model = PAYLOAD_TYPES[kind]
    names = set(model.model_fields) - {"type"}
    _known_keys(raw, names | {"type"}, "payload")
    missing = sorted(n for n in names if model.model_fields[n].is_required() and n not in raw)
    if missing:
        raise MappingError(f"payload.{missing[0]}: is required for {kind}")
    return kind, {n: _payload_field(model, n, v) for n, v in raw.items() if n != "type"}


# -- the mapping ----------------------------------------------------------------------


@dataclass(frozen=True)
class Mapping:
    """How each row of a CSV file becomes an Interaction."""

    name: str
    channel: Value
    direction: Value
    event_id: Value
    occurred_at: TimeValue
    customer: dict[str, Value]
    payload_type: str
    payload: dict[str, FieldSpec]
    region: str | None = None
    delimiter: str = ","
    _consumed: frozenset[str] = field(default=frozenset(), init=False, repr=False)

    def __post_init__(self) -> None:
        # Columns whose value lands in a typed field; the rest become metadata.
        consumed = {
            c for _, spec in self._specs() if spec is not self.event_id for c in spec.columns
        }
        object.__setattr__(self, "_consumed", frozenset(consumed))

    def _specs(self) -> list[tuple[str, FieldSpec]]:
        specs: list[tuple[str, FieldSpec]] = [
            ("channel", self.channel),
            ("direction", self.direction),
            ("event_id", self.event_id),
            ("occurred_at", self.occurred_at.value),
        ]
        specs += [(f"customer.{k}", v) for k, v in self.customer.items()]
        specs += [(f"payload.{k}", v) for k, v in self.payload.items()]
        return specs

    @property
    def columns(self) -> dict[str, list[str]]:
        """Every column the mapping names, with the keys that use it."""
        used: dict[str, list[str]] = {}
        for where, spec in self._specs():
            for column in spec.columns:
                used.setdefault(column, []).append(where)
        return used

    def with_default_region(self, region: str | None) -> Mapping:
        """The mapping's own `region` wins; else the hub's TOUCHLINE_DEFAULT_REGION."""
        return self if self.region is not None or region is None else replace(self, region=region)

    def check_header(self, columns: abc.Sequence[str]) -> None:
        """Refuse a file whose header lacks a column the mapping names, or repeats one
        (a repeated column would silently lose all but one of its cells)."""
        seen: set[str] = set()
        for column in columns:
            if column in seen:
                shown = f"column {column!r} twice" if column else "more than one unnamed column"
                raise MappingError(
                    f"the header has {shown}; name each column once so no cell is lost"
                )
            seen.add(column)
        missing = [(c, keys) for c, keys in self.columns.items() if c not in seen]
        if missing:
            named = ", ".join(f"{c!r} (for {', '.join(keys)})" for c, keys in missing)
            have = ", ".join(repr(c) for c in columns) or "none"
            hint = ""
            if len(columns) == 1 and any(sep in columns[0] for sep in ",;\t|"):
                hint = f" (is the delimiter right? the mapping says {self.delimiter!r})"
            raise MappingError(
                f"{self.name}: the file lacks columns the mapping names: {named}; "
                f"its columns are: {have}{hint}"
            )

    def row(self, row: abc.Mapping[str, str], *, now: datetime) -> Interaction:
        """One row as an Interaction received at `now`; InputError names the bad column."""
        event_id = self.event_id.render(row)
        occurred_at = self.occurred_at.render(row)
        customer = self._customer(row)
        payload = self._payload(row)
        data: dict[str, Any] = {
            "event_id": event_id,
            "occurred_at": occurred_at,
            "received_at": now,
            "channel": self.channel.render(row),
            "direction": self.direction.render(row),
            "customer": customer,
            "payload": payload,
            "metadata": metadata(
                {
                    column: cell
                    for column, cell in row.items()
                    if column not in self._consumed and cell is not None and cell.strip()
                }
            ),
        }
        sources = {"event_id": self.event_id, "channel": self.channel, "direction": self.direction}
        return _validated(Interaction, data, sources, "")

    def _customer(self, row: abc.Mapping[str, str]) -> CustomerRef:
        data: dict[str, str] = {}
        for kind, spec in self.customer.items():
            text = spec.render(row)
            if text is None:
                continue
            field_name = spec.field
            if kind == "phone":
                text = phone(text, self.region, field_name)
            elif kind == "email":
                text = email(text, field_name)
            elif kind == "account":
                try:
                    text = normalise_account(text, field=field_name)
                except IdentityError as exc:
                    raise InputError(exc.field, exc.message) from None
            data[kind] = text
        if not data:
            columns = ", ".join(c for spec in self.customer.values() for c in spec.columns)
            raise InputError(
                columns or "customer",
                "is empty: the row needs at least one customer identity",
            )
        return _validated(CustomerRef, data, dict(self.customer), "customer.")

    def _payload(self, row: abc.Mapping[str, str]) -> Fact:
        data: dict[str, Any] = {"type": self.payload_type}
        for name, spec in self.payload.items():
            value = spec.render(row)
            if value is not None:
                data[name] = value
        model = PAYLOAD_TYPES[self.payload_type]
        return _validated(model, data, dict(self.payload), "payload.")


def _validated(
    model: type[Any],
    data: abc.Mapping[str, Any],
    sources: abc.Mapping[str, Value | TimeValue | FieldSpec],
    prefix: str,
) -> Any:
    """Validate with pydantic; the first error names the CSV column the field came from."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = exc.errors(include_url=False, include_input=False)[0]
        location = [str(part) for part in error["loc"]]
        where = prefix + ".".join(location)
        source = sources.get(location[0]) if location else None
        columns = source.columns if isinstance(source, Value | ListField | DictField) else ()
        if source is not None and columns:
            raise InputError(", ".join(columns), f"{error['msg']} ({where})") from None
        raise InputError(where, error["msg"]) from None


# -- loading --------------------------------------------------------------------------


def load_mapping(path: str | Path) -> Mapping:
    """Read and check a mapping file; MappingError says what is wrong and where."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read the mapping {path}: {exc}") from None
    return parse_mapping(text, name=path.name)


def parse_mapping(text: str, *, name: str = "mapping") -> Mapping:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{name}: not valid TOML: {exc}") from None
    try:
        return _mapping(raw, name)
    except MappingError as exc:
        raise MappingError(f"{name}: {exc}") from None


def _mapping(raw: dict[str, Any], name: str) -> Mapping:
    _known_keys(raw, TOP_LEVEL_KEYS, "")
    for key in ("channel", "direction", "event_id", "occurred_at"):
        if key not in raw:
            raise MappingError(f"{key}: is required")
    channel = _value(raw["channel"], "channel", required=True)
    direction = _value(raw["direction"], "direction", required=True)
    _check_enum(channel, Channel)
    _check_enum(direction, Direction)
    event_id = _value(raw["event_id"], "event_id", required=True)
    if not event_id.columns:
        raise MappingError(
            "event_id: must name columns (like {branch_id}-{visit_id}) so that each row has "
            "its own id and publishing the file again changes nothing"
        )
    customer_raw = raw.get("customer")
    if not isinstance(customer_raw, dict) or not customer_raw:
        raise MappingError(
            f"[customer]: is required, with one or more of {', '.join(CUSTOMER_KEYS)}"
        )
    _known_keys(customer_raw, set(CUSTOMER_KEYS), "customer")
    customer = {
        kind: _value(customer_raw[kind], f"customer.{kind}", column_name=True)
        for kind in CUSTOMER_KEYS
        if kind in customer_raw
    }
    for spec in customer.values():
        if not spec.columns:
            raise MappingError(f"{spec.where}: must name a column")
    region = raw.get("region")
    if region is not None:
        try:
            region = normalise_region(region if isinstance(region, str) else None) or None
        except ValueError as exc:
            raise MappingError(f"region: {exc} (ISO 3166 codes like TR)") from None
        if region is None:
            raise MappingError("region: must be a country code like TR")
    delimiter = raw.get("delimiter", ",")
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise MappingError("delimiter: must be one character, like , or ;")
    payload_type, payload = _payload(raw.get("payload"))
    return Mapping(
        name=name,
        channel=channel,
        direction=direction,
        event_id=event_id,
        occurred_at=_time_value(raw["occurred_at"]),
        customer=customer,
        payload_type=payload_type,
        payload=payload,
        region=region,
        delimiter=delimiter,
    )


def _check_enum(value: Value, enum: type[Channel] | type[Direction]) -> None:
    for outcome in value.outcomes():
        if outcome not in enum.__members__:
            raise MappingError(
                f"{value.where}: {outcome!r} is not one of {', '.join(enum.__members__)}"
            )
