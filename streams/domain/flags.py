"""Flags an agent must know before answering: complaints and their status, abusive language."""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from pydantic import AwareDatetime

from streams.domain.contact_history import (
    COMPLAINT_ID_KEY,
    OPEN,
    RESOLVED,
    complaint_status,
)
from streams.domain.events import Complaint, Interaction
from streams.domain.keywords import normalise_text
from streams.domain.model import Channel, Fact

MAX_COMPLAINTS = 20
MAX_COMPLAINT_ID_CHARS = 100
ENV_ABUSIVE_WORDS = "TOUCHLINE_ABUSIVE_WORDS"

__all__ = [
    "DEFAULT_ABUSE_LEXICON",
    "ENV_ABUSIVE_WORDS",
    "MAX_COMPLAINTS",
    "OPEN",
    "RESOLVED",
    "AbuseLexicon",
    "ComplaintRecord",
    "record_complaint",
]


class ComplaintRecord(Fact):
    """One complaint, identified by the complaint system's id (metadata `complaint_id`)
    or, without one, by the event that raised it. Its text is never kept."""

    complaint_id: str
    opened_at: AwareDatetime  # the earliest event about it
    opened_event_id: str
    category: str
    severity: str
    channel: Channel
    status: str  # OPEN or RESOLVED: the status stated by the latest event about it
    status_at: AwareDatetime
    status_event_id: str

    @property
    def order(self) -> tuple[datetime, str]:
        return (self.opened_at, self.complaint_id)

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


def record_complaint(
    complaints: tuple[ComplaintRecord, ...], event: Interaction, payload: Complaint
) -> tuple[tuple[ComplaintRecord, ...], bool]:
    """The complaints with this event's news, and whether it was a complaint not seen
    before. A later event about the same complaint (metadata `complaint_status` RESOLVED
    or OPEN) changes its status; the earliest event about it says what it was about."""
    complaint_id = (event.metadata.get(COMPLAINT_ID_KEY) or event.event_id)[:MAX_COMPLAINT_ID_CHARS]
    status, at = complaint_status(event), event.occurred_at
    current = next((c for c in complaints if c.complaint_id == complaint_id), None)
    if current is None:
        record = ComplaintRecord(
            complaint_id=complaint_id,
            opened_at=at,
            opened_event_id=event.event_id,
            category=payload.category,
            severity=payload.severity,
            channel=event.channel,
            status=status,
            status_at=at,
            status_event_id=event.event_id,
        )
        return insert_complaint(complaints, record), True
    update: dict[str, object] = {}
    if (at, event.event_id) < (current.opened_at, current.opened_event_id):
        # The opening, delivered after news about it (the event id breaks a tie in time).
        update.update(opened_at=at, opened_event_id=event.event_id, channel=event.channel)
        update.update(category=payload.category, severity=payload.severity)
    if (at, event.event_id) > (current.status_at, current.status_event_id):
        update.update(status=status, status_at=at, status_event_id=event.event_id)
    if not update:
        return complaints, False
    others = tuple(c for c in complaints if c is not current)
    return insert_complaint(others, current.model_copy(update=update)), False


def insert_complaint(
    complaints: tuple[ComplaintRecord, ...], record: ComplaintRecord
) -> tuple[ComplaintRecord, ...]:
    """Kept in the order they were opened; the latest MAX_COMPLAINTS."""
    at = bisect.bisect_left([c.order for c in complaints], record.order)
    return (*complaints[:at], record, *complaints[at:])[-MAX_COMPLAINTS:]


# -- abusive language -----------------------------------------------------------------------

_WORD = re.compile(r"\w+")


def _fold(text: str) -> str:
    """The keyword normalisation (case, Turkish i, Persian letters, invisible marks), then
    without accents: "Şerefsiz" typed on a keyboard without Turkish letters is "serefsiz"."""
    decomposed = unicodedata.normalize("NFD", normalise_text(text))
    bare = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return unicodedata.normalize("NFC", bare)


@dataclass(frozen=True)
class AbuseLexicon:
    """Words that mark a message as abusive, matched as whole words after normalisation.
    A word ending in `*` also matches words it begins (Turkish and Russian inflect:
    "aptal*" matches "aptalsın"); a phrase of several words matches them in sequence."""

    words: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    phrases: tuple[str, ...] = ()

    @classmethod
    def of(cls, entries: Iterable[str]) -> AbuseLexicon:
        if isinstance(entries, str):
            raise TypeError("abusive words must be an iterable of strings, not a string")
        words: set[str] = set()
        prefixes: set[str] = set()
        phrases: set[str] = set()
        for entry in entries:
            prefix = entry.strip().endswith("*")
            folded = " ".join(_WORD.findall(_fold(entry.strip().rstrip("*"))))
            if not folded:
                raise ValueError(f"abusive word {entry!r} is empty after normalisation")
            if " " in folded:
                phrases.add(folded)
            elif prefix:
                prefixes.add(folded)
            else:
                words.add(folded)
        return cls(frozenset(words), tuple(sorted(prefixes)), tuple(sorted(phrases)))

    def __bool__(self) -> bool:
        return bool(self.words or self.prefixes or self.phrases)

    def matches(self, text: str) -> bool:
        tokens = _WORD.findall(_fold(text))
        if not tokens:
            return False
        if self.words.intersection(tokens):
            return True
        if self.prefixes and any(t.startswith(self.prefixes) for t in tokens):
            return True
        joined = f" {' '.join(tokens)} "
        return any(f" {phrase} " in joined for phrase in self.phrases)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], defaults: AbuseLexicon | None = None
    ) -> AbuseLexicon:
        """The defaults, or the comma-separated list in TOUCHLINE_ABUSIVE_WORDS instead
        (an operator can so remove a default word; blank means the defaults)."""
        raw = environ.get(ENV_ABUSIVE_WORDS, "")
        if not raw.strip():
            return DEFAULT_ABUSE_LEXICON if defaults is None else defaults
        try:
            return cls.of(item for item in raw.split(",") if item.strip())
        except ValueError as exc:
            raise ValueError(f"{ENV_ABUSIVE_WORDS}: {exc}") from None


DEFAULT_ABUSE_LEXICON = AbuseLexicon.of(
    (
        # English
        "idiot*",
        "stupid",
        "moron*",
        "bastard*",
        "asshole*",
        "fuck*",
        "shit*",
        "bitch*",
        "shut up",
        # Turkish
        "aptal*",
        "salak*",
        "gerizekalı*",
        "şerefsiz*",
        "ahmak*",
        "siktir*",
        "orospu*",
        # Russian
        "идиот*",
        "дурак*",
        "сука",
        "мудак*",
        "урод*",
        "заткнись",
        # Persian
        "احمق",
        "بی‌شعور",
        "کثافت",
        "خفه شو",
        # Armenian
        "ապուշ*",
        "հիմար*",
    )
)
