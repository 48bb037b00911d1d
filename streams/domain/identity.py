"""Customer identity normalisation (phone, e-mail, account) and log-safe masking."""

from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers

__all__ = [
    "IdentityError",
    "mask_account",
    "mask_email",
    "mask_phone",
    "normalise_account",
    "normalise_email",
    "normalise_phone",
    "normalise_region",
]

# Channel prefixes on addresses as delivered by providers: Twilio sends WhatsApp senders as
# "whatsapp:+90...", and click-to-call / SIP integrations send RFC 3966 "tel:" URIs.
_PHONE_PREFIXES = ("whatsapp:", "tel:")


class IdentityError(ValueError):
    """An identity value failed validation.

    Messages name the field but never echo the value: identities are personal data and these
    errors end up in logs and dead-letter records.
    """

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message

    def __reduce__(self) -> tuple[type[IdentityError], tuple[str, str]]:
        # The default reduce replays ``args`` (message only) and would lose ``field``.
        return (type(self), (self.field, self.message))


def normalise_region(region: str | None) -> str | None:
    """Validate a configured default phone region: ``"tr"`` -> ``"TR"``, blank -> ``None``.

    Raises plain ``ValueError`` (not :class:`IdentityError`) for an unknown region: that is a
    configuration mistake, best caught at start-up rather than blamed on a customer's number.
    """
    if region is None or not region.strip():
        return None
    code = region.strip().upper()
    if code not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown default phone region {region!r}")
    return code


def normalise_phone(raw: str, default_region: str | None = None, field: str = "phone") -> str:
    """Return the number in E.164 (``+905321234567``) or raise :class:`IdentityError`.

    Numbers in international form ("+..." or "00...") need no region; national numbers
    ("0532 ...") are read in ``default_region`` (ISO 3166 alpha-2, e.g. "TR").
    An unknown ``default_region`` raises plain ``ValueError`` (see :func:`normalise_region`).
    """
    if not isinstance(raw, str):
        raise IdentityError(field, f"{field} must be a string")
    result = _e164(raw, default_region)
    if result.startswith("+"):
        return result
    raise IdentityError(field, f"{field} {result}")


@functools.lru_cache(maxsize=100_000)
def _e164(raw: str, default_region: str | None) -> str:
    """The E.164 form, or the reason it has none (without the field's name). Cached:
    parsing is most of the cost of taking an event in, and a busy customer's number
    comes again and again."""
    region = normalise_region(default_region)
    text = raw.strip()
    lowered = text.lower()
    for prefix in _PHONE_PREFIXES:
        if lowered.startswith(prefix):
            text = text[len(prefix) :].strip()
            break
    if not text:
        return "is empty"

    international = text.startswith("+")
    if text.startswith("00"):
        # "00" is the international call prefix in most of Europe and the Middle East, but
        # phonenumbers only treats it so when the default region uses it; normalise it to
        # "+" so "0090..." parses the same whatever region is configured.
        text = "+" + text[2:]
        international = True

    if international:
        context = ""
    elif region:
        context = f" for region {region}"
    else:
        context = " (no country code and no default region)"
    invalid = f"is not a valid phone number{context}"

    try:
        number = phonenumbers.parse(text, None if international else region)
    except phonenumbers.NumberParseException:
        return invalid
    if not (phonenumbers.is_possible_number(number) and phonenumbers.is_valid_number(number)):
        return invalid
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(raw: str, field: str = "email") -> str:
    """Return the address stripped and lower-cased, or raise :class:`IdentityError`.

    Validation is deliberately minimal (one "@", non-empty local part, dotted domain, no
    whitespace): the only real check for an e-mail address is delivering to it, and rejecting
    unusual but valid addresses would lock customers out.
    """
    if not isinstance(raw, str):
        raise IdentityError(field, f"{field} must be a string")
    # Lower-casing the local part is technically lossy (RFC 5321 lets it be case-sensitive),
    # but every mainstream provider ignores case and one identity per mailbox matters more.
    text = raw.strip().lower()
    if not text:
        raise IdentityError(field, f"{field} is empty")
    if any(ch.isspace() for ch in text):
        raise IdentityError(field, f"{field} must not contain spaces")
    if text.count("@") != 1:
        raise IdentityError(field, f"{field} must contain exactly one '@'")
    local, domain = text.split("@")
    if not local:
        raise IdentityError(field, f"{field} has an empty local part")
    labels = domain.split(".")
    if len(labels) < 2 or not all(labels):
        raise IdentityError(field, f"{field} must have a domain such as example.com")
    return text


def normalise_account(raw: str, field: str = "account") -> str:
    """Return the account number without spaces/dashes, upper-cased, or raise IdentityError.

    Only ASCII letters and digits are accepted: account numbers are ASCII in every upstream
    system, and allowing look-alike letters from other scripts (Cyrillic "А" vs Latin "A")
    would let two keys name what a person reads as the same account.
    """
    if not isinstance(raw, str):
        raise IdentityError(field, f"{field} must be a string")
    text = "".join(ch for ch in raw if not ch.isspace() and ch != "-").upper()
    if not text:
        raise IdentityError(field, f"{field} is empty")
    if not (text.isascii() and text.isalnum()):
        raise IdentityError(field, f"{field} may contain only letters A-Z and digits")
    return text


_SOCIAL_NETWORK = re.compile(r"^[a-z][a-z0-9_.-]{0,31}$")


def normalise_device(raw: str, field: str = "device") -> str:
    """A device id (app installation, browser fingerprint id) as the channel sent it,
    trimmed: ids are opaque and often case-sensitive, so nothing else is changed."""
    if not isinstance(raw, str):
        raise IdentityError(field, f"{field} must be a string")
    text = raw.strip()
    if not text:
        raise IdentityError(field, f"{field} is empty")
    if len(text) > 200 or any(ch.isspace() or not ch.isprintable() for ch in text):
        raise IdentityError(field, f"{field} must be at most 200 printable characters, no spaces")
    return text


def normalise_social(raw: str, field: str = "social") -> str:
    """A social handle as `network:handle`, lower-cased, without a leading @ on the handle
    (`Twitter:@AyseY` and `twitter:ayseY` are one identity)."""
    if not isinstance(raw, str):
        raise IdentityError(field, f"{field} must be a string")
    network, sep, handle = unicodedata.normalize("NFKC", raw).strip().partition(":")
    network, handle = network.strip().casefold(), handle.strip().lstrip("@").casefold()
    if not sep or not _SOCIAL_NETWORK.match(network) or not handle:
        raise IdentityError(field, f"{field} must be network:handle, e.g. twitter:ayse")
    if len(handle) > 100 or any(ch.isspace() for ch in handle):
        raise IdentityError(field, f"{field} handle must be at most 100 characters, no spaces")
    return f"{network}:{handle}"


def mask_phone(e164: str) -> str:
    """Log-safe form keeping the first three characters and last two digits: ``+90********67``.

    The length is kept: it only reflects the country's numbering plan, which the visible
    country code already gives away.
    """
    keep_head, keep_tail = 3, 2
    if len(e164) <= keep_head + keep_tail:
        # Too short to reveal anything safely (and not a real E.164 number anyway).
        return "*" * len(e164) if e164 else "***"
    hidden = len(e164) - keep_head - keep_tail
    return e164[:keep_head] + "*" * hidden + e164[-keep_tail:]


def mask_email(e: str) -> str:
    """Log-safe form keeping the first character and the domain: ``a***@example.com``.

    The number of stars is fixed so the local part's length is not revealed.
    """
    local, sep, domain = e.rpartition("@")
    if not sep:
        return "***"
    return f"{local[:1]}***@{domain}"


def mask_account(raw: str) -> str:
    """The form an account number entered by a caller is kept in: ``****1234``. Only the
    last four letters or digits survive, and the number of stars is fixed so the length is
    not revealed either."""
    kept = "".join(ch for ch in raw if ch.isalnum())[-4:]
    return "****" + kept.upper() if len(kept) == 4 else "****"
