"""Personal data never reaches a log line: one redaction of every record every handler
writes (the hub's, aiohttp's, Faust's, aiokafka's, mode's), of its message and of its
traceback. `install()` puts it on the handlers; it is on in every worker, always.

What it rewrites:

- query strings: in an HTTP request line (`GET /path?... HTTP/1.1`) everything from `?`
  to the HTTP version, elsewhere a `?name=value...` after a path or host: `?<redacted>`;
- in a request line, a path segment with a character that is not ASCII, also escaped
  (aiohttp shows a request it refused as bytes: `b'GET /v1/customers/Ay\\xc5\\x9fe
  HTTP/1.1'`) or percent-encoded (`/Ay%C5%9Fe`): `<redacted>`;
- the contents of bytes literals (`b'...'`, as `repr` shows raw data: the keys, values
  and record batches aiokafka logs at DEBUG, a header line aiohttp refused), but for the
  request line of a refused request, redacted as above: `b'<redacted>'`;
- e-mail addresses, percent-encoded (`%40`) or with escaped bytes too: `<email>`;
- phone-number-like digit runs: 7 or more digits, single spaces or dashes between them
  (`+90 532 123 45 67`, `0532-123-45-67`, `%2B905321234567`): `<phone>` (a leading `+`
  stays). ISO dates, times, decimals, ports (`127.0.0.1:42153 12`), hexadecimal numbers,
  UUIDs and measures (`max_bytes=52428800`, `offset=1234567`) are left alone; any other
  long number (epoch milliseconds, `offset 1234567`) is taken for a phone number;
- anything the hub marks with `private(value)`: `<redacted>`.

It works on handlers, not loggers: a logger's filters see only the records logged on that
very logger, never those its children propagate to it (a filter on the root logger misses
every `aiohttp.server` record), while a handler writes every record that reaches it. And
it redacts the line the handler's formatter made, as written, not the record's message:
the traceback, the stack and whatever else a format prints (mode's `%(extra)s`: reprs of
a record's `data`) are in it too. `install()` wraps the formatter of every handler there
is in a `RedactingFormatter`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["RedactingFormatter", "install", "private", "redact"]

_MARK_START, _MARK_END = "\ue000", "\ue001"  # private-use characters: never in real text

# A marked value, also as repr() shows it (`\ue000` is not printable: repr escapes it);
# a start without its end (a cut line) runs to the end of the text.
_MARKED = re.compile(r"(?:\ue000|\\ue000).*?(?:\ue001|\\ue001|\Z)", re.DOTALL)

_REQUEST_LINE = re.compile(
    r"\b(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE) ([^\r\n]+?) (?=HTTP/\d)"
)
# A byte that is not ASCII, escaped by repr() or percent-encoded.
_ESCAPED_BYTE = re.compile(r"\\x[89a-fA-F]|%[89a-fA-F]")
# A query string outside a request line: `?` after a path or host, then `name=`.
_QUERY = re.compile(r"(?<=[\w/%\]-])\?[^\s'\"<>=]*=[^\s'\"<>]*")
# `\w` is Unicode: ş, ö and the like belong to names in addresses; `\` and `%` take in
# escaped and percent-encoded bytes. It starts where such a run starts: no backtracking
# through every start in a long word.
_EMAIL = re.compile(r"(?<![\w.+%\\-])[\w.+%\\-]+(?:@|%40)[\w%\\-]+(?:\.[\w%\\-]+)+")
# A bytes literal as repr() shows it: raw data (Kafka keys, values and record batches as
# aiokafka logs them at DEBUG, the bytes of a request aiohttp refused). A line cut inside
# one (a truncated repr) ends it.
_BYTES = re.compile(r"""\bb(?:'(?:[^'\\\n]|\\.)*(?:'|$)|"(?:[^"\\\n]|\\.)*(?:"|$))""", re.MULTILINE)
_REDACTED_REQUEST_LINE = re.compile(r"[A-Z]+ /[^\s?]*(?:\?<redacted>)? HTTP/\d(?:\.\d)?")
# A run of 7 or more digits, single spaces (or `%20`) or dashes between them; `_phone`
# keeps the runs that are no phone number. (A leading `+` or `%2B` stays.) The lookahead
# is the cheap test that skips most digits: it halves the cost of a line.
_DIGITS = re.compile(r"[0-9](?=[0-9 %-]{6})(?:[ -]?[0-9]|%20[0-9]){6,}")
_DATE = re.compile(r"[12]\d{3}-[01]\d-[0-3]\d(?!\d|-\d)")
_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_UUID_CHARS = _HEX_DIGITS | {"-"}
# Sizes, durations and positions aiokafka and Faust log as `name=value`.
_MEASURE = re.compile(r"(?:bytes|_ms|timeout|offset|size|timestamp)=\Z")
# A header line aiohttp refused, as bytes: its name is kept.
_HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+: ")


def private(value: object) -> str:
    """`value` as text marked as personal data: a log line shows `<redacted>` instead.
    For text meant for logs only: anything else shows the marks."""
    return f"{_MARK_START}{value}{_MARK_END}"


def _request_line(match: re.Match[str]) -> str:
    method, target = match.group(1, 2)
    path, query, _ = target.partition("?")
    if not path.isascii() or _ESCAPED_BYTE.search(path):
        path = "/".join(
            part if part.isascii() and not _ESCAPED_BYTE.search(part) else "<redacted>"
            for part in path.split("/")
        )
    return f"{method} {path}{'?<redacted>' if query else ''} "


def _bytes(match: re.Match[str]) -> str:
    literal = match.group()
    if len(literal) == 3 or _REDACTED_REQUEST_LINE.fullmatch(literal, 2, len(literal) - 1):
        return literal  # empty, or the request line of a refused request (redacted)
    quote = literal[1]
    header = _HEADER_NAME.match(literal, 2)
    kept = header.group() if header is not None else ""
    return f"b{quote}{kept}<redacted>{quote}"


def _phone(match: re.Match[str]) -> str:
    text, (start, end), whole = match.group(), match.span(), match.string
    before = whole[start - 1] if start else ""
    date = _DATE.match(text)
    if date is not None:  # an ISO date, then maybe more
        return text[: date.end()] + _DIGITS.sub(_phone, text[date.end() :])
    if before and before in ".:" and whole[start - 2 : start - 1].isdigit():
        # The fraction of a decimal, the seconds of a time, the port of 127.0.0.1: that
        # number stays, what follows it is looked at again.
        head = len(text) - len(text.lstrip("0123456789"))
        return text[:head] + _DIGITS.sub(_phone, text[head:])
    if text.isdigit():  # no spaces or dashes in it
        if whole[end : end + 1] in (".", ":") and whole[end + 1 : end + 2].isdigit():
            return text  # the whole part of a decimal, the hours of a time
        if before == "=" and _MEASURE.search(whole, max(0, start - 10), start):
            return text  # max_bytes=52428800, timeout=1200000
    if before in _UUID_CHARS or before == "x" or "-" in text:
        left = start
        while left and whole[left - 1] in _HEX_DIGITS:
            left -= 1
        if whole[left - 2 : left] in ("0x", "0X"):
            return text  # a hexadecimal number: 0x7f509ab75cd0
        left, right = start, end
        while left and whole[left - 1] in _UUID_CHARS:
            left -= 1
        while right < len(whole) and whole[right] in _UUID_CHARS:
            right += 1
        for uuid in _UUID.finditer(whole, left, right):
            if uuid.start() <= start and end <= uuid.end():
                return text  # part of a UUID
    return "<phone>"


def redact(text: str) -> str:
    """`text` without the personal data this module knows how to find."""
    if _MARK_START in text or "\\ue000" in text:
        text = _MARKED.sub("<redacted>", text)
    if "?" in text or " HTTP/" in text:
        text = _REQUEST_LINE.sub(_request_line, text)
        if "=" in text:
            text = _QUERY.sub("?<redacted>", text)
    if "b'" in text or 'b"' in text:
        text = _BYTES.sub(_bytes, text)
    if "@" in text or "%40" in text:
        text = _EMAIL.sub("<email>", text)
    return _DIGITS.sub(_phone, text)


class RedactingFormatter(logging.Formatter):
    """The text of another formatter (the handler's own), redacted: the whole line as it
    is written, message, traceback, stack and whatever else the format prints (mode's
    `%(extra)s` is the reprs of a record's `data`)."""

    def __init__(self, inner: logging.Formatter | None = None) -> None:
        super().__init__()
        # A handler without a formatter uses logging's default: the message alone.
        self.inner = inner if inner is not None else logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        try:
            text = self.inner.format(record)
        except Exception as exc:
            # Arguments that do not fit the message: logging would print the message and
            # the arguments to stderr as they are (Handler.handleError).
            text = (
                f"{record.levelname}:{record.name}: a log record that cannot be formatted "
                f"({type(exc).__name__}: {exc}), logged at {record.pathname}:{record.lineno}: "
                f"{record.msg!r}"
            )
        return redact(text)


def _handlers() -> Iterable[logging.Handler]:
    yield from logging.getLogger().handlers
    for logger in list(logging.Logger.manager.loggerDict.values()):
        if isinstance(logger, logging.Logger):
            yield from logger.handlers
    if logging.lastResort is not None:
        yield logging.lastResort  # writes what is logged before any handler is set up


def install() -> None:
    """Redact what every handler of every logger writes, and the handler of last resort:
    each gets its formatter wrapped in a `RedactingFormatter`. Call it again after
    anything sets up handlers (the Faust worker does, as it starts); calling it again is
    harmless."""
    for handler in _handlers():
        if not isinstance(handler.formatter, RedactingFormatter):
            handler.setFormatter(RedactingFormatter(handler.formatter))
