"""What every channel adapter shares: reading vendor fields with errors that name them,
normalising identities and times, and keeping every field it was given.

An adapter is a pure function from what a vendor sent to `Interaction` events. It takes
the arrival time (`received_at`) as an argument, so the same input always gives the same
events; the HTTP views and the CLI around it do the I/O.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ParamSpec, TypeVar

from pydantic import ValidationError

from streams.adapters.native import InputError, first_error
from streams.domain.identity import IdentityError, normalise_email, normalise_phone

MAX_METADATA_VALUE = 4_000
P = ParamSpec("P")
R = TypeVar("R")


class VendorFields:
    """The fields of one vendor message. Every read marks the field as used; `extras()`
    returns the rest, so nothing the vendor sent is dropped."""

    def __init__(self, fields: Mapping[str, Any], prefix: str = "") -> None:
        self._fields = dict(fields)
        self._used: set[str] = set()
        self.prefix = prefix

    def path(self, name: str) -> str:
        return f"{self.prefix}{name}"

    def __contains__(self, name: str) -> bool:
        return name in self._fields

    def raw(self, name: str) -> Any:
        self._used.add(name)
        return self._fields.get(name)

    def _given(self, name: str, required: bool) -> Any:
        """The raw value, None when it is missing or empty (refused if `required`)."""
        value = self.raw(name)
        if value is None or value == "":
            if required:
                raise InputError(self.path(name), "is required")
            return None
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self.raw(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                raise InputError(self.path(name), "is required")
            return None
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise InputError(self.path(name), "must be a string")
        return str(value).strip()

    def required(self, name: str) -> str:
        value = self.text(name, required=True)
        assert value is not None
        return value

    def integer(self, name: str, *, required: bool = False) -> int | None:
        value = self._given(name, required)
        if value is None:
            return None
        if isinstance(value, bool):
            raise InputError(self.path(name), "must be a whole number")
        try:
            number = int(str(value).strip())
        except ValueError:
            raise InputError(self.path(name), "must be a whole number") from None
        if not 0 <= number < 2**31:
            raise InputError(self.path(name), "is out of range")
        return number

    def phone(self, name: str, region: str | None, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        return None if value is None else phone(value, region, self.path(name))

    def email(self, name: str, *, required: bool = False) -> str | None:
        value = self.text(name, required=required)
        return None if value is None else email(value, self.path(name))

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        value = self._given(name, required)
        return None if value is None else timestamp(value, self.path(name))

    def mark_used(self, *names: str) -> None:
        self._used.update(names)

    def mark_unused(self, *names: str) -> None:
        """Read but kept in metadata as given (a nested object only partly used)."""
        self._used.difference_update(names)

    def extras(self) -> dict[str, str]:
        """Every field not read into a typed field, as text (JSON for structured values)."""
        return metadata({k: v for k, v in self._fields.items() if k not in self._used})


def metadata(fields: Mapping[str, Any]) -> dict[str, str]:
    kept: dict[str, str] = {}
    for name, value in fields.items():
        if value is None:
            continue
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        kept[str(name)] = text[:MAX_METADATA_VALUE]
    return kept


def phone(value: str, region: str | None, field: str) -> str:
    try:
        return normalise_phone(value, region, field=field)
    except IdentityError as exc:
        raise InputError(exc.field, exc.message) from None


def email(value: str, field: str) -> str:
    try:
        return normalise_email(_address_only(value), field=field)
    except IdentityError as exc:
        raise InputError(exc.field, exc.message) from None


def _address_only(value: str) -> str:
    """`Ada Lovelace <Ada@Example.com>` -> `Ada@Example.com`."""
    if "<" in value and value.rstrip().endswith(">"):
        return value[value.rindex("<") + 1 : value.rstrip().rindex(">")].strip()
    return value.strip()


def phone_or_none(value: str | None, region: str | None) -> str | None:
    """A number when the value is one; SIP URIs, client ids and the like stay None."""
    if not value:
        return None
    try:
        return normalise_phone(value, region)
    except IdentityError:
        return None


def timestamp(value: Any, field: str) -> datetime:
    """Vendor times: Unix seconds (int, float or digits), ISO 8601, or RFC 2822. Naive
    ISO times are refused: a time without a zone is a guess."""
    if isinstance(value, bool):
        raise InputError(field, "must be a time")
    if isinstance(value, int | float) or (isinstance(value, str) and value.strip().isdigit()):
        seconds = float(value)
        if seconds > 1e11:  # milliseconds
            seconds /= 1000
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise InputError(field, "is not a valid Unix time") from None
    if not isinstance(value, str):
        raise InputError(field, "must be a time")
    text = value.strip()
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            moment = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            raise InputError(field, "is not a time (ISO 8601, RFC 2822 or Unix seconds)") from None
        if moment.tzinfo is None:  # RFC 2822's "-0000": universal time, source unknown
            moment = moment.replace(tzinfo=UTC)
    if moment.tzinfo is None:
        raise InputError(field, "needs a time zone (for example 2026-11-23T10:15:00Z)")
    return moment.astimezone(UTC)


def adapter(function: Callable[P, R]) -> Callable[P, R]:
    """Marks a public adapter function: a value a domain model refuses (too long, wrong
    type) becomes an InputError naming the field, like every other bad input, and never
    a pydantic error that would echo the value."""

    @functools.wraps(function)
    def checked(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return function(*args, **kwargs)
        except ValidationError as exc:
            prefix = kwargs.get("prefix")
            raise first_error(exc, prefix if isinstance(prefix, str) else "") from None

    return checked


def build(model: type[Any], data: Mapping[str, Any]) -> Any:
    """Validate a domain model, turning the first error into an InputError."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise first_error(exc) from None


def each(items: Any, field: str) -> Iterable[tuple[int, Any]]:
    if not isinstance(items, list):
        raise InputError(field, "must be a list")
    return enumerate(items)
