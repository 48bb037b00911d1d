"""SMS keyword replies: text normalisation and classification into accept/decline/opt-out."""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "DEFAULT_KEYWORDS",
    "ENV_ACCEPT",
    "ENV_DECLINE",
    "ENV_OPT_OUT",
    "SmsIntent",
    "SmsKeywords",
    "from_env",
    "normalise_text",
]

ENV_ACCEPT = "TOUCHLINE_SMS_ACCEPT_KEYWORDS"
ENV_DECLINE = "TOUCHLINE_SMS_DECLINE_KEYWORDS"
ENV_OPT_OUT = "TOUCHLINE_SMS_OPTOUT_KEYWORDS"


class SmsIntent(StrEnum):
    ACCEPT = "ACCEPT"
    DECLINE = "DECLINE"
    OPT_OUT = "OPT_OUT"


# Customers type Turkish on phones with and without Turkish keyboards, so "İPTAL", "IPTAL",
# "iptal" and "ıptal" must be one word. Folding every i-variant to ASCII "i" is lossless for
# keyword matching: no keyword in any supported language is distinguished only by the dot.
_TURKISH_I = str.maketrans({"İ": "i", "I": "i", "ı": "i"})

# Persian text is often typed on Arabic keyboard layouts (and vice versa), producing
# visually identical words with different code points. Fold to the Persian forms.
_PERSIAN_ARABIC = str.maketrans(
    {
        "ي": "ی",  # Arabic yeh -> Persian yeh
        "ى": "ی",  # alef maksura -> Persian yeh
        "ك": "ک",  # Arabic kaf -> Persian keheh
        "ة": "ه",  # teh marbuta -> heh
        "ۀ": "ه",  # heh with yeh above (ezafe) -> heh
    }
)

# Characters that change how text looks or is shaped but not which word it is.
_COMBINING_DOT_ABOVE = "\u0307"  # left behind by casefolding "İ" typed in decomposed form
_TATWEEL = "\u0640"  # Arabic-script justification stretch


def _is_ignorable(ch: str) -> bool:
    if ch in (_COMBINING_DOT_ABOVE, _TATWEEL):
        return True
    if "\u064b" <= ch <= "\u065f" or ch == "\u0670":  # Arabic harakat, superscript alef
        return True
    # Cf covers ZWNJ/ZWJ (mandatory in some Persian spellings, optional in others), BOMs,
    # bidi marks that phones insert around mixed-direction text, and zero-width spaces.
    return unicodedata.category(ch) == "Cf"


def _is_edge_noise(ch: str) -> bool:
    # Punctuation (P*) and symbols (S*, which includes emoji) around a keyword do not change
    # the answer: "Yes!", "«да»", "evet.", "بله؟" and "yes 👍"-style decorations.
    return ch.isspace() or unicodedata.category(ch)[0] in "PS"


def normalise_text(text: str) -> str:
    """Fold an SMS body into the canonical form keywords are compared in.

    The result is idempotent: ``normalise_text(normalise_text(x)) == normalise_text(x)``.
    """
    # Compatibility forms first, so fullwidth letters, Arabic presentation forms and
    # precomposed "İ" reach the folding steps in their ordinary shape.
    s = unicodedata.normalize("NFKC", text)
    s = s.translate(_TURKISH_I).casefold()
    s = "".join(ch for ch in s if not _is_ignorable(ch)).translate(_PERSIAN_ARABIC)
    # Dropping characters can put a base letter next to a combining mark that was separated
    # from it (e.g. by a ZWNJ); recompose so a second pass finds nothing left to change.
    s = unicodedata.normalize("NFKC", s)
    s = " ".join(s.split())  # str.split() treats NBSP and other Unicode spaces as whitespace

    start, end = 0, len(s)
    while start < end and _is_edge_noise(s[start]):
        start += 1
    while end > start and _is_edge_noise(s[end - 1]):
        end -= 1
    return s[start:end]


def _normalise_set(words: Iterable[str], name: str) -> frozenset[str]:
    if isinstance(words, str):
        # A bare string would silently become a set of single characters.
        raise TypeError(f"{name} keywords must be an iterable of strings, not a string")
    result: set[str] = set()
    for word in words:
        folded = normalise_text(word)
        if not folded:
            # An empty keyword would match messages consisting only of punctuation or emoji.
            raise ValueError(f"{name} keyword {word!r} is empty after normalisation")
        result.add(folded)
    return frozenset(result)


@dataclass(frozen=True)
class SmsKeywords:
    """Keyword sets, stored in normalised form (normalised on construction)."""

    accept: frozenset[str]
    decline: frozenset[str]
    opt_out: frozenset[str]

    def __post_init__(self) -> None:
        # Normalising here (not only in ``of``) keeps the invariant for direct construction;
        # normalise_text is idempotent, so already-normalised sets are unchanged.
        object.__setattr__(self, "accept", _normalise_set(self.accept, "accept"))
        object.__setattr__(self, "decline", _normalise_set(self.decline, "decline"))
        object.__setattr__(self, "opt_out", _normalise_set(self.opt_out, "opt_out"))

    @classmethod
    def of(
        cls,
        *,
        accept: Iterable[str] = (),
        decline: Iterable[str] = (),
        opt_out: Iterable[str] = (),
    ) -> SmsKeywords:
        """Build from raw (unnormalised) keyword strings."""
        return cls(
            accept=_normalise_set(accept, "accept"),
            decline=_normalise_set(decline, "decline"),
            opt_out=_normalise_set(opt_out, "opt_out"),
        )

    def classify(self, text: str) -> SmsIntent | None:
        """Intent of a message that is exactly one keyword, else ``None``.

        Only whole-message matches count: "yes but call me later" needs a person to read
        it, not a keyword reply. Surrounding whitespace, punctuation and symbols are ignored.

        When a word is configured in several sets, opt-out wins over decline and decline over
        accept: wrongly opting a customer out or declining costs a follow-up, whereas wrongly
        accepting commits them to an offer and ignoring an opt-out breaks messaging consent rules.
        """
        folded = normalise_text(text)
        if not folded:
            return None
        if folded in self.opt_out:
            return SmsIntent.OPT_OUT
        if folded in self.decline:
            return SmsIntent.DECLINE
        if folded in self.accept:
            return SmsIntent.ACCEPT
        return None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str], defaults: SmsKeywords | None = None
    ) -> SmsKeywords:
        """Defaults, with each set replaced by its comma-separated environment variable if set.

        An unset variable keeps the default set; a set variable replaces it entirely, so an
        operator can remove a default word. Setting a variable to an empty string therefore
        disables that intent. Blank items (e.g. from a trailing comma) are ignored.
        """
        base = DEFAULT_KEYWORDS if defaults is None else defaults
        return cls(
            accept=_from_env_var(environ, ENV_ACCEPT, base.accept),
            decline=_from_env_var(environ, ENV_DECLINE, base.decline),
            opt_out=_from_env_var(environ, ENV_OPT_OUT, base.opt_out),
        )


def _from_env_var(environ: Mapping[str, str], name: str, default: frozenset[str]) -> frozenset[str]:
    raw = environ.get(name)
    # Empty counts as unset: compose files turn an unset ${VAR} into "", and silently
    # switching off opt-out keywords would be the worst possible reading.
    if raw is None or not raw.strip():
        return default
    items = [item for item in raw.split(",") if item.strip()]
    try:
        return _normalise_set(items, name)
    except ValueError as exc:
        raise ValueError(f"{name}: {exc}") from None


DEFAULT_KEYWORDS: SmsKeywords = SmsKeywords.of(
    accept=(
        # English
        "YES",
        "Y",
        "YEAH",
        "YEP",
        "ACCEPT",
        # Turkish
        "EVET",
        "KABUL",
        # Russian
        "ДА",
        # Persian
        "بله",
        "آره",
        # Armenian
        "այո",
        # "OK" is deliberately absent: it is as often an acknowledgement ("ok, will think")
        # as an acceptance, and an accidental acceptance is the costly mistake.
    ),
    decline=(
        # English
        "NO",
        "N",
        "NOPE",
        # Turkish
        "HAYIR",
        # Russian
        "НЕТ",
        # Persian
        "نه",
        "نخیر",
        # Armenian
        "ոչ",
    ),
    opt_out=(
        # Twilio's standard opt-out words. Twilio stops delivery after them on its side, so
        # the hub must record the opt-out too or its consent state drifts from reality.
        "STOP",
        "STOPALL",
        "UNSUBSCRIBE",
        "CANCEL",
        "END",
        "QUIT",
        # Turkish
        "İPTAL",
        # Russian
        "СТОП",
        "ОТПИСАТЬСЯ",
        # Persian
        "لغو",
        # Armenian
        "ՉԵՂԱՐԿԵԼ",
    ),
)


def from_env(environ: Mapping[str, str]) -> SmsKeywords:
    """Module-level shortcut for :meth:`SmsKeywords.from_env` with the built-in defaults."""
    return SmsKeywords.from_env(environ)
