"""Who may call what: API keys, their roles, and the role each operation needs.

The roles are ordered, each holding every right of the ones before it:
- `viewer` reads views, dial lists, contact checks and the audit;
- `agent` adds what an agent does at the desk (the screen-pop stream);
- `operator` adds publishing: interactions, campaign targets, channel adapters, DNC;
- `admin` adds campaign policies, merges and unmerges.

`TOUCHLINE_API_KEYS` lists the keys, comma-separated, each `secret[:role[:name]]`, where
`secret` is the key itself or `sha256:<64 hex digits>`, its SHA-256 digest (so the
environment need not hold the secret). A key without a role is an `admin`; a key without a
name is named by the first 8 hex digits of its digest (`key-1a2b3c4d`), and that name is
what the audit and the logs show, never the key."""

from __future__ import annotations

import hashlib
import hmac
import re
from dataclasses import dataclass, field
from enum import IntEnum


class Role(IntEnum):
    VIEWER = 1
    AGENT = 2
    OPERATOR = 3
    ADMIN = 4

    @property
    def label(self) -> str:
        return self.name.lower()


ROLES = {role.label: role for role in Role}
_DIGEST = re.compile(r"sha256:([0-9a-fA-F]{64})")


class AccessConfigError(ValueError):
    """The key list cannot be used; the message names the entry, never its secret."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes = field(repr=False)
    role: Role
    # The key itself when it was given in clear (the CLI can send it); None for a digest.
    secret: str | None = field(default=None, repr=False)


def digest_of(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def parse_api_keys(raw: str) -> tuple[ApiKey, ...]:
    keys: list[ApiKey] = []
    for position, item in enumerate((i.strip() for i in raw.split(",")), start=1):
        if not item:
            continue
        digest_match = _DIGEST.match(item)
        if digest_match:
            digest, secret = bytes.fromhex(digest_match.group(1)), None
            rest = item[digest_match.end() :].removeprefix(":")
        else:
            secret, _, rest = item.partition(":")
            if not secret:
                raise AccessConfigError(f"TOUCHLINE_API_KEYS: entry {position} has an empty key")
            digest = digest_of(secret)
        role_name, _, name = rest.partition(":")
        name = name.strip() or f"key-{digest.hex()[:8]}"
        role = ROLES.get((role_name or "admin").strip().lower())
        if role is None:
            raise AccessConfigError(
                f"TOUCHLINE_API_KEYS: key {name!r} has the unknown role {role_name.strip()!r}; "
                f"the roles are {', '.join(ROLES)}"
            )
        keys.append(ApiKey(name=name, digest=digest, role=role, secret=secret))
    names = [k.name for k in keys]
    if len(set(names)) != len(names):
        raise AccessConfigError("TOUCHLINE_API_KEYS: two keys have the same name")
    return tuple(keys)


def authenticate(keys: tuple[ApiKey, ...], presented: str) -> ApiKey | None:
    """The key `presented` is, if any. Every key is compared, in constant time, so the
    time taken says nothing about which one matched or how much of it."""
    digest = digest_of(presented)
    found = None
    for key in keys:
        if hmac.compare_digest(digest, key.digest):
            found = key
    return found


def allows(key: ApiKey, needed: Role) -> bool:
    return key.role >= needed
