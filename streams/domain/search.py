"""What a customer search is asked for: the identity a look-up names, and whether a search
query is an identity (phone, e-mail, account, device, social handle) or a name.

Pure rules, no I/O: the HTTP views (`streams.web.identities`) ask the tables for what these
functions say to look up."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from streams.domain.errors import FieldError
from streams.domain.identity import (
    IdentityError,
    normalise_account,
    normalise_device,
    normalise_email,
    normalise_phone,
    normalise_social,
)
from streams.domain.links import identity_key

# The kinds of identity a customer is looked up by, in the order they are named.
IDENTITY_KINDS: tuple[str, ...] = ("phone", "email", "account", "device", "social")
MAX_QUERY = 200


class SearchError(FieldError):
    """A look-up or a search that cannot be answered; `field` names the query parameter."""


def _normaliser(kind: str, default_region: str | None) -> Callable[[str], str]:
    if kind == "phone":
        return lambda raw: normalise_phone(raw, default_region)
    return {
        "email": normalise_email,
        "account": normalise_account,
        "device": normalise_device,
        "social": normalise_social,
    }[kind]


def normalised_identity(kind: str, raw: str, default_region: str | None = None) -> str:
    """The identity key (`phone:+90...`) of a raw value of `kind`, normalised as the
    customer state holds it (national phone numbers read in `default_region`); raises
    IdentityError."""
    return identity_key(kind, _normaliser(kind, default_region)(raw))


def identity_in(query: Mapping[str, str], default_region: str | None = None) -> str:
    """The identity a look-up by identity names: exactly one of the `IDENTITY_KINDS`
    parameters (`phone=...`), normalised. Raises SearchError naming the parameter."""
    given = [(kind, query[kind]) for kind in IDENTITY_KINDS if query.get(kind)]
    if len(given) != 1:
        raise SearchError("", "give exactly one of " + ", ".join(f"{k}=" for k in IDENTITY_KINDS))
    kind, raw = given[0]
    try:
        return normalised_identity(kind, raw, default_region)
    except IdentityError as exc:
        raise SearchError(kind, exc.message) from None


def search_text(raw: str | None) -> str:
    """The text of a search query (`q`), trimmed; raises SearchError when it is empty or
    longer than `MAX_QUERY` characters."""
    query = (raw or "").strip()
    if not query:
        raise SearchError("q", "say what to search for: a name, phone, e-mail or account")
    if len(query) > MAX_QUERY:
        raise SearchError("q", f"at most {MAX_QUERY} characters")
    return query


def query_identities(query: str, default_region: str | None = None) -> list[str]:
    """The identities a search query could be, most likely first; none when it can only be
    a name. An `@` makes it an e-mail address, a `:` (without one) a social handle or a
    device id, anything else a phone number or an account number; a query with a digit
    (and neither) may also be a device id as typed."""
    kinds = ["email"] if "@" in query else ["phone", "account"]
    if ":" in query and "@" not in query:
        kinds = ["social", "device"]
    found = []
    for kind in kinds:
        try:
            found.append(normalised_identity(kind, query, default_region))
        except IdentityError:
            continue
    if any(ch.isdigit() for ch in query) and "@" not in query and ":" not in query:
        found.append(identity_key("device", query))
    return found
