"""The name index behind the agent desktop's search: which tokens a customer's name is
found by, and how an index entry changes when a profile does."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from streams.domain.customer import CustomerState

MAX_PER_TOKEN = 50  # a common surname lists at most this many customers
MAX_RESULTS = 20

_SPLIT = re.compile(r"[\s\-'’.,]+")
# Letters that NFKD does not take apart but a person searching types without the mark.
_FOLD = str.maketrans({"ı": "i", "ø": "o", "ß": "ss", "ł": "l", "đ": "d", "æ": "ae", "œ": "oe"})


def fold(text: str) -> str:
    """Lower-case, without diacritics: `Ayşe Yılmaz` and `ayse yilmaz` search alike."""
    decomposed = unicodedata.normalize("NFKD", text.replace("İ", "i").casefold())
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return bare.translate(_FOLD)


def name_tokens(name: str | None) -> frozenset[str]:
    """The keys a name is indexed under: each word, and the whole name."""
    if not name:
        return frozenset()
    words = [w for w in _SPLIT.split(fold(name)) if w]
    if not words:
        return frozenset()
    return frozenset({*words, " ".join(words)})


def query_tokens(query: str) -> list[str]:
    """The index keys a search looks up: the whole query first, then each word."""
    words = [w for w in _SPLIT.split(fold(query)) if w]
    if not words:
        return []
    whole = " ".join(words)
    return [whole, *[w for w in words if w != whole]]


@dataclass(frozen=True)
class Summary:
    """What a search result shows of a customer."""

    customer_id: str
    name: str
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    accounts: tuple[str, ...] = ()

    def as_json(self) -> dict[str, object]:
        return {
            "customer_id": self.customer_id,
            "name": self.name,
            "phones": list(self.phones),
            "emails": list(self.emails),
            "accounts": list(self.accounts),
        }

    @classmethod
    def from_json(cls, raw: dict[str, object]) -> Summary:
        def strings(key: str) -> tuple[str, ...]:
            value = raw.get(key) or []
            return tuple(str(v) for v in value) if isinstance(value, list) else ()

        return cls(
            customer_id=str(raw["customer_id"]),
            name=str(raw.get("name") or ""),
            phones=strings("phones"),
            emails=strings("emails"),
            accounts=strings("accounts"),
        )


def summary_of(state: CustomerState | None) -> Summary | None:
    """What search shows of a profile; None for one without a name or merged away."""
    if state is None or state.merged_into is not None:
        return None
    name = state.profile.name
    if not name:
        return None
    return Summary(
        customer_id=state.customer_id,
        name=name,
        phones=state.phones,
        emails=state.emails,
        accounts=state.accounts,
    )


@dataclass(frozen=True)
class IndexUpdate:
    """Put `summary` under `token`, or take `customer_id` off it (summary None)."""

    token: str
    customer_id: str
    summary: Summary | None


def index_updates(before: Summary | None, after: Summary | None) -> list[IndexUpdate]:
    """What the index must learn when a customer's summary goes from `before` to `after`."""
    if before == after:
        return []
    old = name_tokens(before.name) if before else frozenset()
    new = name_tokens(after.name) if after else frozenset()
    customer_id = (after or before).customer_id  # type: ignore[union-attr]
    updates = [IndexUpdate(t, customer_id, None) for t in sorted(old - new)]
    updates += [IndexUpdate(t, customer_id, after) for t in sorted(new)]
    return updates


def apply_update(entries: list[Summary], update: IndexUpdate) -> list[Summary]:
    """The customers listed under a token after `update`; the newest first, bounded."""
    rest = [e for e in entries if e.customer_id != update.customer_id]
    if update.summary is None:
        return rest
    return [update.summary, *rest][:MAX_PER_TOKEN]


def search(found: list[list[Summary]], query: str) -> list[Summary]:
    """Results for `query` from the entries of its tokens (as `query_tokens` orders them):
    customers whose name holds every word first, then those that match some."""
    words = set(query_tokens(query)[1:]) or set(query_tokens(query))
    scored: dict[str, tuple[int, Summary]] = {}
    for entries in found:
        for entry in entries:
            tokens = name_tokens(entry.name)
            score = len(words & tokens)
            if entry.customer_id not in scored or scored[entry.customer_id][0] < score:
                scored[entry.customer_id] = (score, entry)
    ranked = sorted(scored.values(), key=lambda s: (-s[0], s[1].name, s[1].customer_id))
    return [summary for _, summary in ranked][:MAX_RESULTS]
