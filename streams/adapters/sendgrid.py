"""SendGrid e-mail: the signed Event Webhook (delivery, engagement, opt-outs) and Inbound Parse.

The Event Webhook posts a JSON array of events and signs it with ECDSA P-256/SHA-256 over
the timestamp header followed by the raw body; `verify_signature` checks that with the
public key SendGrid shows in its dashboard. Inbound Parse posts one received e-mail as
form fields and is not signed: the HTTP view authenticates it by our API key instead.
"""

from __future__ import annotations

import binascii
import codecs
import hashlib
import json
from base64 import b64decode
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.message import Message as MimeMessage
from email.parser import HeaderParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from streams.adapters import common
from streams.adapters.common import VendorFields, build
from streams.adapters.native import InputError
from streams.domain.events import (
    ContactAttempt,
    CustomerRef,
    Delivery,
    Interaction,
    Message,
    OptOut,
)
from streams.domain.model import Channel, Direction, in_range

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
# A captured request replayed later than this is refused, even with a valid signature.
# Either side of now, so a sender clock running a little fast is not punished.
SIGNATURE_TOLERANCE = timedelta(minutes=10)

# Events about a message we sent, reported by SendGrid's mail servers.
DELIVERY_EVENTS = frozenset({"processed", "dropped", "deferred", "delivered", "bounce"})
# Things the recipient did with it. A resubscribe is kept as a fact; it does not lift an
# e-mail opt-out by itself (consent is granted back through the contact policy).
ENGAGEMENT_EVENTS = frozenset({"open", "click", "group_resubscribe"})
OPT_OUT_EVENTS = frozenset({"unsubscribe", "group_unsubscribe", "spamreport"})
EVENT_TYPES = DELIVERY_EVENTS | ENGAGEMENT_EVENTS | OPT_OUT_EVENTS

MAX_TEXT = 10_000  # Message.text's limit
MAX_EVENT_ID = 200  # Interaction.event_id's limit


# --- Event Webhook signature -------------------------------------------------------------


def load_public_key(key: str) -> ec.EllipticCurvePublicKey:
    """The verification key as SendGrid shows it (base64 of the DER SubjectPublicKeyInfo),
    or the same key as PEM. Raises ValueError when it is neither or not a P-256 key: a
    configuration mistake, best found at start-up."""
    text = key.strip()
    try:
        if text.startswith("-----BEGIN"):
            loaded = serialization.load_pem_public_key(text.encode())
        else:
            der = b64decode("".join(text.split()), validate=True)
            loaded = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm):
        raise ValueError(
            "is not a public key (expected base64 DER as SendGrid shows it, or PEM)"
        ) from None
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or not isinstance(
        loaded.curve, ec.SECP256R1
    ):
        raise ValueError("is not an ECDSA P-256 public key")
    return loaded


def verify_signature(
    public_key: str | ec.EllipticCurvePublicKey,
    signature_b64: str,
    timestamp: str,
    body: bytes,
    *,
    now: datetime | None = None,
    tolerance: timedelta = SIGNATURE_TOLERANCE,
) -> bool:
    """Whether SendGrid signed `timestamp` + `body` (the raw request bytes) with the key.

    `signature_b64` and `timestamp` are the `X-Twilio-Email-Event-Webhook-Signature` and
    `-Timestamp` headers. A timestamp (Unix seconds) more than `tolerance` away from `now`
    fails too: the signature covers the timestamp, so this stops a recorded request from
    being replayed later. Malformed headers give False; only a malformed configured key
    raises (ValueError, as `load_public_key`)."""
    key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    stamp = timestamp.strip()
    if not (stamp.isascii() and stamp.isdigit()) or len(stamp) > 12:
        return False
    try:
        signed_at = datetime.fromtimestamp(int(stamp), UTC)
    except (OverflowError, OSError, ValueError):
        return False
    if abs((now or datetime.now(UTC)) - signed_at) > tolerance:
        return False
    try:
        signature = b64decode(signature_b64.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    if not signature:
        return False
    try:
        key.verify(signature, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


# --- Event Webhook events ----------------------------------------------------------------


def events(batch: Any, *, now: datetime) -> list[Interaction]:
    """The Event Webhook's JSON array, one Interaction per event, in order.

    The whole batch is refused when one event is invalid, with an InputError naming the
    event's index and field (`[3].email`): SendGrid then retries the batch, and nothing is
    half-stored. `event_id` is SendGrid's `sg_event_id`, which its retries repeat, so a
    retried batch de-duplicates downstream."""
    if not isinstance(batch, list):
        raise InputError("", "must be a JSON array of SendGrid events")
    interactions = []
    for index, raw in enumerate(batch):
        prefix = f"[{index}]."
        if not isinstance(raw, Mapping):
            raise InputError(f"[{index}]", "must be a JSON object")
        try:
            interactions.append(_event(VendorFields(raw, prefix), raw, now))
        except InputError as exc:
            if exc.field.startswith(prefix):
                raise
            raise InputError(prefix + exc.field, exc.message) from None
    return interactions


def _event(fields: VendorFields, raw: Mapping[str, Any], now: datetime) -> Interaction:
    kind = fields.required("event").lower()
    if kind not in EVENT_TYPES:
        raise InputError(fields.path("event"), f"is not a SendGrid event type ({kind[:40]!r})")
    event_id = fields.required("sg_event_id")
    occurred_at = fields.time("timestamp", required=True)
    customer = CustomerRef(email=fields.email("email", required=True))
    # sg_message_id is the X-Message-Id the send API answered, then a suffix naming the
    # SendGrid filter that handled it: the prefix is what links the event to our send.
    full_message_id = fields.text("sg_message_id", required=kind not in OPT_OUT_EVENTS)
    message_id = full_message_id.split(".", 1)[0] if full_message_id else None
    if full_message_id is not None and not 0 < len(message_id or "") <= MAX_EVENT_ID:
        raise InputError(fields.path("sg_message_id"), "is not a SendGrid message id")
    # status/reason codes stay in metadata as well: they are SendGrid's own fields.
    error_code = _text(raw.get("status")) if kind in DELIVERY_EVENTS else None

    payload: ContactAttempt | OptOut
    if kind in DELIVERY_EVENTS:
        direction = Direction.OUTBOUND
        payload = ContactAttempt(campaign_id=fields.text("campaign_id"), outcome=kind)
    elif kind in ENGAGEMENT_EVENTS:
        direction = Direction.INBOUND
        payload = ContactAttempt(campaign_id=fields.text("campaign_id"), outcome=kind)
    else:
        direction = Direction.INBOUND
        payload = OptOut(channels=[Channel.EMAIL])
    url = fields.text("url") if kind == "click" else None
    delivery = (
        Delivery(message_id=message_id, status=kind, error_code=error_code, url=url)
        if message_id
        else None
    )
    metadata = fields.extras()
    if full_message_id is not None:
        metadata["sg_message_id"] = full_message_id
    return build(
        Interaction,
        {
            "event_id": event_id,
            "occurred_at": occurred_at,
            "received_at": now,
            "channel": Channel.EMAIL,
            "direction": direction,
            "customer": customer,
            "payload": payload,
            "delivery": delivery,
            "metadata": metadata,
        },
    )


def _text(value: Any) -> str | None:
    if value is None or isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value).strip() or None


# --- Inbound Parse -----------------------------------------------------------------------


def decode_form(parts: Mapping[str, bytes]) -> dict[str, str]:
    """Inbound Parse form fields as text. SendGrid sends each field in the charset of the
    original e-mail and names it in the `charsets` field (JSON, field -> charset), not in
    the part's headers. Undecodable bytes become U+FFFD: a customer's e-mail is never
    refused for its encoding."""
    charsets: dict[str, Any] = {}
    if "charsets" in parts:
        try:
            found = json.loads(parts["charsets"].decode("utf-8", "replace"))
        except ValueError:
            found = None
        if isinstance(found, dict):
            charsets = found
    decoded = {}
    for name, value in parts.items():
        charset = charsets.get(name)
        try:
            codec = codecs.lookup(charset).name if isinstance(charset, str) else "utf-8"
        except LookupError:
            codec = "utf-8"
        decoded[name] = value.decode(codec, "replace")
    return decoded


def inbound_parse(form: Mapping[str, str], *, now: datetime) -> Interaction:
    """A received e-mail, as Inbound Parse posts it: the sender (`from`) is the customer.

    `event_id` is the `Message-ID` header (inside the `headers` field), so a retried post
    de-duplicates; without one it is a SHA-256 of the headers and the text. `occurred_at`
    is the `Date` header when it reads as a date, else the arrival time. The text is
    `text`, else `html` without its tags; beyond Message's 10,000 characters it is cut and
    `text_full_length` says how long it was. Every other field (subject, to, envelope,
    headers, SPF, dkim, spam score, attachment descriptions...) is kept in metadata.

    With SendGrid's "POST the raw, full MIME message" option the e-mail comes whole in the
    `email` field instead; headers and text are then read from it."""
    fields = VendorFields(form)
    sender = (form.get("from") or "").strip()
    if not sender:
        raise InputError("from", "is required")
    # Read around `fields`, so `from` stays in metadata: it has the sender's display name.
    customer = CustomerRef(email=common.email(sender, "from"))
    headers_text = form.get("headers") or ""
    text, html = form.get("text") or "", form.get("html") or ""
    headers: MimeMessage = HeaderParser().parsestr(headers_text, headersonly=True)
    if not headers_text and form.get("email"):
        text, html, headers = _raw_mime(form["email"])
    fields.mark_used("text")
    if not text and html:
        text = html_text(html)
        fields.mark_used("html")

    message_id = "".join(str(headers.get("Message-ID") or "").split())  # unfolded
    if not message_id or len(message_id) > MAX_EVENT_ID:
        # Everything a retry repeats and two different e-mails hardly share.
        parts = [form.get(name) or "" for name in ("headers", "email", "from", "to", "subject")]
        seed = message_id or "\0".join([*parts, text])
        message_id = "sha256:" + hashlib.sha256(seed.encode("utf-8", "replace")).hexdigest()
    occurred_at = _header_date(headers.get("Date")) or now

    metadata = fields.extras()
    # Worth their own entries (the `headers` field may be cut): they thread a conversation.
    for name, key in (("In-Reply-To", "in_reply_to"), ("References", "references")):
        value = headers.get(name)
        if value:
            metadata.setdefault(key, str(value).strip()[: common.MAX_METADATA_VALUE])
    if len(text) > MAX_TEXT:
        metadata["text_full_length"] = str(len(text))
        text = text[:MAX_TEXT]
    return build(
        Interaction,
        {
            "event_id": message_id,
            "occurred_at": occurred_at,
            "received_at": now,
            "channel": Channel.EMAIL,
            "direction": Direction.INBOUND,
            "customer": customer,
            "payload": Message(text=text),
            "metadata": metadata,
        },
    )


def _raw_mime(raw: str) -> tuple[str, str, MimeMessage]:
    """(text, html, headers) of a whole MIME message."""
    # Parsed as bytes: each part is then decoded by its own charset (parsing the str would
    # mangle 8-bit text). Most raw e-mail is 7-bit (quoted-printable or base64) anyway.
    parsed = message_from_bytes(raw.encode("utf-8", "replace"), policy=policy.default)
    text = html = ""
    if isinstance(parsed, EmailMessage):
        for subtype in ("plain", "html"):
            part = parsed.get_body(preferencelist=(subtype,))
            if part is None:
                continue
            try:
                content = part.get_content()
            except (LookupError, ValueError):
                continue
            if isinstance(content, str):
                if subtype == "plain":
                    text = content
                else:
                    html = content
    return text, html, parsed


def _header_date(value: str | None) -> datetime | None:
    """A Date header as a time; None when absent or unreadable (mail clients write odd
    dates, and a bad one must not lose the e-mail). `-0000` (zone unknown) reads as UTC."""
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(str(value).strip())
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    # A date the hub does not take in (year 1900, 9999) is as good as none.
    return moment.astimezone(UTC) if in_range(moment) else None


class _HtmlText(HTMLParser):
    """The readable text of an HTML body: tags dropped, scripts and styles skipped,
    entities decoded, a line break where a block ends."""

    _SKIPPED = frozenset({"script", "style", "head", "title"})
    _BLOCKS = frozenset(
        {"br", "p", "div", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table",
         "blockquote", "pre", "hr"}
    )  # fmt: skip

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.chunks: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in self._SKIPPED:
            self._skipping += 1
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in self._SKIPPED:
            self._skipping = max(0, self._skipping - 1)
        elif tag in self._BLOCKS:
            self.chunks.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.chunks.append(data)


def html_text(html: str) -> str:
    parser = _HtmlText()
    parser.feed(html)
    parser.close()
    lines = (" ".join(line.split()) for line in "".join(parser.chunks).splitlines())
    return "\n".join(line for line in lines if line)
