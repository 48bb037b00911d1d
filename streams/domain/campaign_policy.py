"""Campaign contact policies and do-not-contact entries, read from TOML, JSON and CSV.

A `CampaignPolicy` is one version of a campaign's contact rules: what the campaign is for
(`purpose`), the channels it uses, the product it sells, and the settings of each rule in
`streams.domain.contact_rules`. Every setting has a default, so a campaign nobody wrote a
policy for is still checked (`default_policy`, version None).

The TOML document read by `touchline policy apply FILE.toml` (the JSON body of
`PUT /v1/campaigns/{id}/policy` has the same fields, with `null` for an absent value):

```toml
campaign_id = "spring-loan"
version = 3                      # required, 1 or more; each new version must be higher
                                 # (the current version again, unchanged, is a no-op)
purpose = "marketing"            # "marketing" (default) or "service"
channels = ["VOICE", "SMS"]      # outbound channels the campaign uses; absent = every one
product = "personal-loan"        # optional: customers who bought it are not contacted

response_cooldown_days = 90      # optional: a DECLINED offer stops suppressing after 90 days
                                 # (absent: a decline suppresses the campaign for good)
accepted_cooldown_days = 365     # optional: likewise for ACCEPTED (absent: for good)
complaint_cooldown_days = 30     # default 30: no marketing contact for 30 days after a
                                 # complaint; 0 turns the rule off
respect_consent = true           # default true: a withdrawn consent for (channel, purpose)
                                 # forbids contact; opt-outs are always respected
realtime_channels = ["MESSAGING"]  # quiet hours always cover VOICE and SMS; add others here

[quiet_hours]                    # when contact is allowed, in the customer's local time
start = "08:00"                  # default 08:00 (inclusive)
end = "21:00"                    # default 21:00 (exclusive); end < start spans midnight
enabled = true                   # false: no quiet hours for this campaign

[[frequency_caps]]               # at most 2 voice contacts in any 7 days
channel = "VOICE"
max_contacts = 2
days = 7

[[frequency_caps]]               # no channel: at most 5 contacts across all channels
max_contacts = 5
days = 30
```

Do-not-contact lists come as CSV with a header row, either `kind,value` (kind `phone` or
`email`) or a `phone` and/or an `email` column; optional columns `expires_at` (ISO 8601
with a UTC offset, or a date: the entry then holds through that day, UTC), `source` and
`list_id`. Values are normalised as identities are everywhere (E.164 phones, lower-case
e-mail addresses), so they match the customer state.

Every mistake in a policy raises `PolicyError` naming the field; a bad CSV row is reported
with its line (the header being line 1) and does not stop the rest of the list.
"""

from __future__ import annotations

import csv
import io
import json
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import (
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from streams.domain.errors import FieldError
from streams.domain.identity import (
    IdentityError,
    normalise_email,
    normalise_phone,
    normalise_region,
)
from streams.domain.model import MOMENT_RANGE, Channel, Fact, Int32, KeptMillis, in_range

__all__ = [
    "MAX_CAP_CONTACTS",
    "QUIET_HOURS_CHANNELS",
    "CampaignPolicy",
    "DncImport",
    "DoNotContactEntry",
    "FrequencyCap",
    "PolicyError",
    "Purpose",
    "QuietHours",
    "RejectedRow",
    "default_policy",
    "dnc_entries_from_json",
    "dnc_entry",
    "dnc_entry_from_json",
    "dnc_key",
    "ensure_newer",
    "longer_entry",
    "one_entry_per_identity",
    "parse_dnc_csv",
    "parse_expiry",
    "parse_policy",
    "parse_policy_json",
    "parse_policy_toml",
]

# The most contacts one cap may allow: the contact facts keep a bounded history, and a cap
# can only be enforced over contacts that are still in it.
MAX_CAP_CONTACTS = 100
# Channels that reach the customer the moment they are sent, so quiet hours always apply.
QUIET_HOURS_CHANNELS: tuple[Channel, ...] = (Channel.VOICE, Channel.SMS)

CampaignId = Annotated[str, Field(min_length=1, max_length=200)]


class PolicyError(FieldError):
    """A policy document or a do-not-contact entry is wrong; `field` names where."""


class Purpose(StrEnum):
    """Why a campaign contacts people: consent is given per purpose, and service contact
    (a payment reminder, a fraud alert) is not held back by a complaint."""

    MARKETING = "marketing"
    SERVICE = "service"


class FrequencyCap(Fact):
    """At most `max_contacts` outbound contacts in any `days` days, on `channel` or (None)
    across all channels."""

    channel: Channel | None = None
    max_contacts: Annotated[int, Field(ge=1, le=MAX_CAP_CONTACTS)]
    days: Annotated[int, Field(ge=1, le=3660)]


class QuietHours(Fact):
    """The daily window in which contact is allowed, in the customer's local time:
    from `start` (inclusive) to `end` (exclusive); the rest of the day is quiet."""

    start: time = time(8, 0)
    end: time = time(21, 0)
    enabled: bool = True

    @field_validator("start", "end")
    @classmethod
    def _local_whole_seconds(cls, value: time) -> time:
        # A zone here would contradict "the customer's local time"; whole seconds keep the
        # moments derived from the window exact at millisecond precision.
        if value.tzinfo is not None:
            raise ValueError("must be a local time without a UTC offset, e.g. 08:00")
        if value.microsecond:
            raise ValueError("must be a whole second, e.g. 08:00 or 08:00:30")
        return value

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end are equal; to turn quiet hours off set enabled=false")
        return self

    def allows(self, local: time) -> bool:
        if self.start < self.end:
            return self.start <= local < self.end
        return local >= self.start or local < self.end  # the window spans midnight


Days = Annotated[int, Field(ge=0, le=36_600)]


class CampaignPolicy(Fact):
    """One version of a campaign's contact rules (see the module docstring for each)."""

    campaign_id: CampaignId
    # None only for the built-in defaults (`default_policy`): no document was applied.
    version: Annotated[Int32, Field(ge=1)] | None = None
    purpose: Purpose = Purpose.MARKETING
    # What the campaign sends on (senders and the dial list read it); the check itself
    # answers for whichever channel it is asked about.
    channels: tuple[Channel, ...] = Field(default=(), description="empty = every channel")
    product: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    response_cooldown_days: Days | None = None
    accepted_cooldown_days: Days | None = None
    frequency_caps: tuple[FrequencyCap, ...] = Field(default=(), max_length=20)
    quiet_hours: QuietHours = QuietHours()
    realtime_channels: tuple[Channel, ...] = ()
    complaint_cooldown_days: Days = 30
    respect_consent: bool = True
    # Who applied this version: the API key's name (an audit field, not a rule).
    applied_by: Annotated[str, Field(max_length=200)] | None = None

    def quiet_hours_cover(self, channel: Channel) -> bool:
        return self.quiet_hours.enabled and (
            channel in QUIET_HOURS_CHANNELS or channel in self.realtime_channels
        )


def default_policy(campaign_id: str) -> CampaignPolicy:
    """The rules a campaign is checked by before anyone applies a policy to it."""
    return CampaignPolicy(campaign_id=campaign_id)


def ensure_newer(current: CampaignPolicy | None, proposed: CampaignPolicy) -> bool:
    """Whether applying `proposed` over the campaign's `current` policy is a change: True
    for a version higher than the current one (to publish); False for the current policy
    itself again, same version and same fields (applying it twice changes nothing, so it
    is accepted and nothing is published again). Any other version not higher than the
    current one raises `PolicyError`: versions only go up, since replaying the policy
    topic must end at the latest one, and a decision's recorded version must name exactly
    one set of rules."""
    if proposed.version is None:
        raise PolicyError("version", "is required")
    if current is None or current.version is None:
        return True
    if _rules(proposed) == _rules(current):
        return False
    if proposed.version <= current.version:
        raise PolicyError("version", f"must be higher than the current version {current.version}")
    return True


def _rules(policy: CampaignPolicy) -> CampaignPolicy:
    """The policy without who applied it: what the same content means."""
    return policy.model_copy(update={"applied_by": None})


# -- policy documents -----------------------------------------------------------------


def parse_policy_toml(text: str, *, campaign_id: str | None = None) -> CampaignPolicy:
    """A policy from a TOML document; `campaign_id`, when given, must agree with it."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise PolicyError("", f"not valid TOML: {exc}") from None
    return parse_policy(document, campaign_id=campaign_id)


def parse_policy_json(body: str | bytes, *, campaign_id: str | None = None) -> CampaignPolicy:
    """A policy from a JSON object, e.g. the body of `PUT /v1/campaigns/{id}/policy`, whose
    path gives `campaign_id` (the body may then leave it out)."""
    try:
        document = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise PolicyError("", f"not valid JSON: {exc}") from None
    return parse_policy(document, campaign_id=campaign_id)


def parse_policy(document: object, *, campaign_id: str | None = None) -> CampaignPolicy:
    """A policy from an already decoded document (a mapping of its fields)."""
    if not isinstance(document, Mapping):
        raise PolicyError("", "a policy must be an object of settings")
    fields = dict(document)
    if campaign_id is not None:
        named = fields.setdefault("campaign_id", campaign_id)
        if named != campaign_id:
            raise PolicyError("campaign_id", f"does not match the campaign {campaign_id!r}")
    if fields.get("version") is None:
        # The model lets version be absent for the built-in defaults; a document must not.
        raise PolicyError("version", "is required")
    try:
        return CampaignPolicy.model_validate(fields)
    except ValidationError as exc:
        raise _policy_error(exc) from None


def _policy_error(exc: ValidationError) -> PolicyError:
    problems = [(_location(error["loc"]), _message(error)) for error in exc.errors()]
    field, message = problems[0]
    if len(problems) > 1:
        message += "; " + "; ".join(f"{where}: {what}" for where, what in problems[1:])
    return PolicyError(field, message)


def _location(loc: tuple[int | str, ...]) -> str:
    where = ""
    for part in loc:
        if isinstance(part, int):
            where += f"[{part}]"
        elif where:
            where += f".{part}"
        else:
            where = part
    return where


def _message(error: Any) -> str:
    kind = error["type"]
    if kind == "extra_forbidden":
        return "is not a known setting"
    if kind == "missing":
        return "is required"
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


# -- do-not-contact lists -------------------------------------------------------------

DncKind = Literal["phone", "email"]


class DoNotContactEntry(Fact):
    """A phone number or e-mail address nobody may contact until `expires_at` (None: for
    good), from one list (`list_id`: a national registry, the bank's own list...)."""

    kind: DncKind
    value: str
    # Held to the range of moments the hub takes in by `dnc_entry`, the way in of every
    # entry, not here: the compacted topic is read again at every start, entries written
    # before the range existed included.
    expires_at: KeptMillis | None = None
    source: Annotated[str, Field(max_length=200)] | None = None
    list_id: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    # Who added the entry: the API key's name (an audit field).
    added_by: Annotated[str, Field(max_length=200)] | None = None

    @field_validator("value")
    @classmethod
    def _normalised(cls, value: str, info: ValidationInfo) -> str:
        # Matching is by equality with the customer's normalised identities, so an entry
        # holds the normalised form or it would silently match nobody.
        kind = info.data.get("kind")
        if kind == "phone":
            return normalise_phone(value, field="value")
        if kind == "email":
            return normalise_email(value, field="value")
        return value  # the kind itself is wrong, and that is the error to report

    @property
    def key(self) -> str:
        """What the customer's identities are looked up by: `phone:+90...`."""
        return f"{self.kind}:{self.value}"

    def active(self, now: datetime) -> bool:
        return self.expires_at is None or now < self.expires_at


def dnc_entry(
    kind: str,
    value: str,
    *,
    expires_at: datetime | None = None,
    source: str | None = None,
    list_id: str | None = None,
    default_region: str | None = None,
) -> DoNotContactEntry:
    """An entry from loose input (an API body, a CSV row): national phone numbers are read
    in `default_region`; raises `PolicyError` naming the field."""
    kind = kind.strip().lower()
    if kind not in ("phone", "email"):
        raise PolicyError("kind", "must be phone or email")
    try:
        normalised = (
            normalise_phone(value, default_region, field="value")
            if kind == "phone"
            else normalise_email(value, field="value")
        )
    except IdentityError as exc:
        raise PolicyError(exc.field, exc.message.removeprefix(f"{exc.field} ")) from None
    if expires_at is not None and expires_at.tzinfo is None:
        raise PolicyError("expires_at", "needs a UTC offset, e.g. 2027-01-31T00:00:00Z")
    if expires_at is not None and not in_range(expires_at):
        raise PolicyError("expires_at", _EXPIRY_RANGE)
    try:
        return DoNotContactEntry(
            kind="phone" if kind == "phone" else "email",
            value=normalised,
            expires_at=expires_at,
            source=source or None,
            list_id=list_id or None,
        )
    except ValidationError as exc:
        raise _policy_error(exc) from None


_EXPIRY_RANGE = f"must be {MOMENT_RANGE} (leave it out: the entry never expires)"


@dataclass(frozen=True)
class RejectedRow:
    line: int
    reason: str


@dataclass(frozen=True)
class DncImport:
    """The entries of a do-not-contact file, and the rows that could not be read (nothing
    is dropped silently: the caller reports these)."""

    entries: tuple[DoNotContactEntry, ...]
    rejected: tuple[RejectedRow, ...]


_DNC_COLUMNS = frozenset({"kind", "value", "phone", "email", "expires_at", "source", "list_id"})


def parse_dnc_csv(
    text: str,
    *,
    default_region: str | None = None,
    source: str | None = None,
    list_id: str | None = None,
) -> DncImport:
    """Read a do-not-contact CSV (see the module docstring). `source` and `list_id` apply
    to rows without their own. The same identity listed twice on one list is kept once,
    with the later expiry. A file without a usable header raises `PolicyError`; an unknown
    `default_region` raises plain `ValueError`, as configuration mistakes do."""
    region = normalise_region(default_region)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline=""))
    header: list[str] | None = None
    entries: dict[tuple[str | None, str], DoNotContactEntry] = {}
    rejected: list[RejectedRow] = []
    while True:
        line = reader.line_num + 1  # where the next row starts (blank lines are rows too)
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            if header is None:
                raise PolicyError("header", f"is not valid CSV: {exc}") from None
            rejected.append(RejectedRow(line, f"malformed CSV: {exc}"))
            continue
        if not any(cell.strip() for cell in row):
            continue
        if header is None:
            header = _dnc_header(row)
            continue
        if len(row) != len(header):
            rejected.append(
                RejectedRow(line, f"has {len(row)} cells but the header has {len(header)}")
            )
            continue
        cells = {name: cell.strip() for name, cell in zip(header, row, strict=True)}
        try:
            for entry in _dnc_row(cells, region, source, list_id):
                key = (entry.list_id, entry.key)
                entries[key] = longer_entry(entries.get(key), entry)
        except PolicyError as exc:
            rejected.append(RejectedRow(line, str(exc)))
    if header is None:
        raise PolicyError("header", "is missing: the first row must name the columns")
    return DncImport(tuple(entries.values()), tuple(rejected))


def _dnc_header(row: list[str]) -> list[str]:
    names = [cell.strip().lower() for cell in row]
    unknown = [name for name in names if name not in _DNC_COLUMNS]
    if unknown:
        raise PolicyError(
            "header", f"unknown column {unknown[0]!r}; known: {', '.join(sorted(_DNC_COLUMNS))}"
        )
    if len(set(names)) != len(names):
        raise PolicyError("header", "names a column twice")
    paired = "kind" in names or "value" in names
    if paired and not {"kind", "value"} <= set(names):
        raise PolicyError("header", "needs both kind and value columns")
    if paired and ({"phone", "email"} & set(names)):
        raise PolicyError("header", "has kind,value or phone/email columns, not both")
    if not paired and not ({"phone", "email"} & set(names)):
        raise PolicyError("header", "needs kind,value columns or a phone or email column")
    return names


def _dnc_row(
    cells: dict[str, str], region: str | None, source: str | None, list_id: str | None
) -> Iterable[DoNotContactEntry]:
    expires_at = parse_expiry(cells.get("expires_at", ""))
    where = {"source": cells.get("source") or source, "list_id": cells.get("list_id") or list_id}
    if "kind" in cells:
        if not cells["value"]:
            raise PolicyError("value", "is empty")
        return [
            dnc_entry(
                cells["kind"], cells["value"], expires_at=expires_at, default_region=region, **where
            )
        ]
    identities = [(kind, cells[kind]) for kind in ("phone", "email") if cells.get(kind)]
    if not identities:
        raise PolicyError("", "has neither a phone nor an email")
    return [
        dnc_entry(kind, value, expires_at=expires_at, default_region=region, **where)
        for kind, value in identities
    ]


def parse_expiry(cell: str | None) -> datetime | None:
    """An entry's `expires_at`: an ISO 8601 date-time with an offset, or a date the entry
    still holds on (UTC); empty: for good."""
    if not cell:
        return None
    try:
        day = date.fromisoformat(cell)
    except ValueError:
        pass
    else:
        # "Expires 2027-01-31" on a list means the entry still holds on that day.
        if day == date.max:  # the day after it is past what a date can be
            raise PolicyError("expires_at", _EXPIRY_RANGE)
        return datetime.combine(day + timedelta(days=1), time(0), tzinfo=UTC)
    try:
        moment = datetime.fromisoformat(cell)
    except ValueError:
        raise PolicyError("expires_at", "must be an ISO 8601 date or date-time") from None
    if moment.tzinfo is None:
        raise PolicyError("expires_at", "needs a UTC offset, e.g. 2027-01-31T00:00:00Z")
    return moment


def longer_entry(known: DoNotContactEntry | None, entry: DoNotContactEntry) -> DoNotContactEntry:
    """Of two entries for one identity, the one that holds longer."""
    if known is None or known.expires_at is None:
        return entry if known is None else known
    if entry.expires_at is None or entry.expires_at > known.expires_at:
        return entry
    return known


# -- do-not-contact requests (the JSON body of POST /v1/dnc, the path of /v1/dnc/{kind}/{value})

# The fields of one entry in a JSON request, in the order their mistakes are reported.
DNC_REQUEST_FIELDS: tuple[str, ...] = ("kind", "value", "expires_at", "source", "list_id")


def dnc_entries_from_json(
    body: object,
    *,
    source: str | None = None,
    list_id: str | None = None,
    default_region: str | None = None,
) -> list[DoNotContactEntry]:
    """The entries of a JSON list of `{"kind", "value", "expires_at"?, "source"?,
    "list_id"?}` objects; `source` and `list_id` apply to items without their own. The
    first bad item raises `PolicyError`, its field prefixed with the item's index
    (`[2].value`): a JSON request is taken whole or not at all."""
    if not isinstance(body, list):
        raise PolicyError("", 'send a JSON list of {"kind", "value", "expires_at"?, ...}')
    if not body:
        raise PolicyError("", "no entries given")
    entries = []
    for index, item in enumerate(body):
        try:
            entries.append(
                dnc_entry_from_json(
                    item, source=source, list_id=list_id, default_region=default_region
                )
            )
        except PolicyError as exc:
            raise PolicyError(f"[{index}].{exc.field}".rstrip("."), exc.message) from None
    return entries


def dnc_entry_from_json(
    item: object,
    *,
    source: str | None = None,
    list_id: str | None = None,
    default_region: str | None = None,
) -> DoNotContactEntry:
    """One entry of a JSON request: an object of string fields among
    `DNC_REQUEST_FIELDS`, `kind` and `value` required; raises `PolicyError`."""
    if not isinstance(item, dict):
        raise PolicyError("", 'must be an object {"kind", "value", ...}')
    unknown = sorted(set(item) - set(DNC_REQUEST_FIELDS))
    if unknown:
        raise PolicyError(unknown[0], "is not a known field")
    for name in DNC_REQUEST_FIELDS:
        if item.get(name) is not None and not isinstance(item[name], str):
            raise PolicyError(name, "must be a string")
    for name in ("kind", "value"):
        if not item.get(name):
            raise PolicyError(name, "is required")
    return dnc_entry(
        item["kind"],
        item["value"],
        expires_at=parse_expiry(item.get("expires_at")),
        source=item.get("source") or source,
        list_id=item.get("list_id") or list_id,
        default_region=default_region,
    )


def dnc_key(kind: str, value: str, *, default_region: str | None = None) -> str:
    """The key (`phone:+90...`) an identity's do-not-contact entry is kept under, from the
    loose kind and value of a request path; raises `PolicyError`."""
    return dnc_entry(kind, value, default_region=default_region).key


def one_entry_per_identity(entries: Iterable[DoNotContactEntry]) -> list[DoNotContactEntry]:
    """The entries to publish: the topic keeps one entry per identity, so of two for the
    same one, the one that holds longer (`longer_entry`); in the order first listed."""
    by_key: dict[str, DoNotContactEntry] = {}
    for entry in entries:
        by_key[entry.key] = longer_entry(by_key.get(entry.key), entry)
    return list(by_key.values())
