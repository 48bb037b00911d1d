"""The redaction of log lines (`streams.logs`): what it finds, what it leaves alone, and
that every handler of a worker writes through it."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import faust
import pytest

from streams import logs
from streams.cli.worker import _Worker
from streams.logs import RedactingFormatter, private, redact


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        # aiohttp refusing a raw byte that is not ASCII in a query string: the whole line
        # is in the exception it logs at ERROR.
        (
            r"    b'GET /v1/customers/search?q=ay\xc5\x9fe.yilmaz@example.com HTTP/1.1'",
            "    b'GET /v1/customers/search?<redacted> HTTP/1.1'",
        ),
        # ... and in a path: the segment goes, the route stays.
        (
            r"b'GET /v1/dnc/email/ay\xc5\x9fe.yilmaz@\xc3\xb6rnek.com HTTP/1.1'",
            "b'GET /v1/dnc/email/<redacted> HTTP/1.1'",
        ),
        (
            r"b'GET /v1/customers/Ay\xc5\x9fe-Y\xc4\xb1lmaz/timeline HTTP/1.1'",
            "b'GET /v1/customers/<redacted>/timeline HTTP/1.1'",
        ),
        # An access log line: query string, and a segment percent-encoded from UTF-8.
        (
            '127.0.0.1 [03/Dec/2026:16:57:20 +0000] "GET /v1/customers/search?q=Ay%C5%9Fe+Y'
            '%C4%B1lmaz&limit=5 HTTP/1.1" 200 123 "-" "curl/8.5"',
            '127.0.0.1 [03/Dec/2026:16:57:20 +0000] "GET /v1/customers/search?<redacted> '
            'HTTP/1.1" 200 123 "-" "curl/8.5"',
        ),
        (
            "GET /v1/customers/Ay%C5%9Fe/timeline HTTP/1.1",
            "GET /v1/customers/<redacted>/timeline HTTP/1.1",
        ),
        ("GET /v1/customers/c-42/timeline HTTP/1.1", "GET /v1/customers/c-42/timeline HTTP/1.1"),
        ("GET /healthz?x HTTP/1.0", "GET /healthz?<redacted> HTTP/1.0"),
        # Query strings in URLs anywhere else.
        (
            "URL('http://127.0.0.1:6066/v1/customers/by-identity?phone=%2B905321234567&x=1')",
            "URL('http://127.0.0.1:6066/v1/customers/by-identity?<redacted>')",
        ),
        ("what? where? 1 < 2?", "what? where? 1 < 2?"),
        # Phone numbers in paths, percent-encoded.
        (
            "DELETE /v1/dnc/phone/%2B905321234567 HTTP/1.1",
            "DELETE /v1/dnc/phone/%2B<phone> HTTP/1.1",
        ),
        ("GET /v1/dnc/phone/0532%20123%2045%2067 HTTP/1.1", "GET /v1/dnc/phone/<phone> HTTP/1.1"),
        # E-mail addresses: plain, Unicode, percent-encoded.
        ("from ayse.yilmaz+promo@example.com.tr:", "from <email>:"),
        ("ayşe.yılmaz@örnek.com.tr wrote", "<email> wrote"),
        ("/v1/dnc/email/ayse%40example.com", "/v1/dnc/email/<email>"),
        # Phone numbers, in any of the forms people write them.
        ("+905321234567", "+<phone>"),
        ("call +90 532 123 45 67 now", "call +<phone> now"),
        ("0532 123 45 67, 0532-123-45-67, 05321234567", "<phone>, <phone>, <phone>"),
        ("(0532) 123 45 67", "(0532) <phone>"),
        ("'phone': '5321234567'", "'phone': '<phone>'"),
        ("customer_id=905321234567", "customer_id=<phone>"),
        # Bytes as repr() shows them are raw data: aiokafka's DEBUG lines carry whole
        # records. Empty ones stay; a refused header line keeps its name.
        (
            r"Sending (key=b'phone:+905321234567' value=b'\xc3\x01 Merhaba, kart\xc4\xb1m') to"
            " TopicPartition(topic='x', partition=1)",
            "Sending (key=b'<redacted>' value=b'<redacted>') to TopicPartition(topic='x',"
            " partition=1)",
        ),
        (
            r"""message_set=b'\x00{"text": "Merhaba"...'), (partition=2, message_set=b'')""",
            "message_set=b'<redacted>'), (partition=2, message_set=b'')",
        ),
        ('messages=bytearray(b"it\'s Ay\\xc5\\x9fe")', 'messages=bytearray(b"<redacted>")'),
        (r"    b'X-Caller: Ay\xc5\x9fe Y\xc4\xb1lmaz\x01'", "    b'X-Caller: <redacted>'"),
        ("b'abc def", "b'<redacted>'"),  # a repr cut short
        # What is no phone number stays.
        (
            "[2026-12-03 16:57:20,123] 2026-11-23T10:00:00.123456+00:00 on 2026-11-23 10:00",
            "[2026-12-03 16:57:20,123] 2026-11-23T10:00:00.123456+00:00 on 2026-11-23 10:00",
        ),
        ("took 0.00012345678 s at 1732356000.123", "took 0.00012345678 s at 1732356000.123"),
        (
            "event 123e4567-e89b-12d3-a456-426614174000 member faust-12345678-1234-1234-1234-"
            "123456789012",
            "event 123e4567-e89b-12d3-a456-426614174000 member faust-12345678-1234-1234-1234-"
            "123456789012",
        ),
        (
            "<MetadataRequest object at 0x7f1234567f50> 0x1234567890",
            "<MetadataRequest object at 0x7f1234567f50> 0x1234567890",
        ),
        (
            "FetchRequest_v11(max_bytes=52428800, transaction_timeout_ms=1200000, offset=1234567)",
            "FetchRequest_v11(max_bytes=52428800, transaction_timeout_ms=1200000, offset=1234567)",
        ),
        ("partition 3 offset 120, 123456 records", "partition 3 offset 120, 123456 records"),
        ("127.0.0.1:9092 aiohttp/3.14.5", "127.0.0.1:9092 aiohttp/3.14.5"),
        (
            "Request to 127.0.0.1:42153 12: OffsetFetchRequest",
            "Request to 127.0.0.1:42153 12: OffsetFetchRequest",
        ),
        ("at 10:00 0532 123 45 67", "at 10:00 <phone>"),
        # A date does not shield what follows it.
        ("on 2026-11-23 0532 123 45 67", "on 2026-11-23 <phone>"),
        # ... nor a decimal point a number with spaces in it.
        ("5321234567 1.5", "<phone>.5"),
    ],
)
def test_redact(line: str, expected: str) -> None:
    assert redact(line) == expected


def test_what_the_hub_marks_is_redacted_also_inside_a_repr() -> None:
    name = private("Ayşe Yılmaz")
    assert redact(f"merged {name} into c-42") == "merged <redacted> into c-42"
    assert redact(repr(("x", name))) == "('x', '<redacted>')"
    assert redact(f"cut short: {name}"[:-1] + " and the rest") == "cut short: <redacted>"
    assert redact("a\ue000b\ue001c\ue000d\ue001e") == "a<redacted>c<redacted>e"


def test_redacting_twice_changes_nothing() -> None:
    line = r"b'GET /v1/x/\xc5?q=+905321234567 HTTP/1.1' a@b.com +90 532 123 45 67"
    once = redact(line)
    assert redact(once) == once


def record_line(formatter: logging.Formatter, logger: str, *args: object, **kwargs: object) -> str:
    """What a handler with `formatter` writes for a record of `logger`."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(formatter)
    log = logging.getLogger(logger)
    log.addHandler(handler)
    log.propagate, propagate = False, log.propagate
    try:
        log.error(*args, **kwargs)  # type: ignore[arg-type]
    finally:
        log.removeHandler(handler)
        log.propagate = propagate
    return stream.getvalue()


def test_the_formatter_redacts_message_arguments_and_traceback() -> None:
    try:
        raise ValueError("400, message:\n  b'GET /v1/customers/search?q=a@b.com HTTP/1.1'")
    except ValueError:
        line = record_line(
            RedactingFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s")),
            "tests.logs.formatter",
            "request from %s for %r",
            "ayse@example.com",
            {"phone": "+905321234567"},
            exc_info=True,
            stack_info=True,
        )
    assert line.startswith(
        "ERROR tests.logs.formatter: request from <email> for {'phone': '+<phone>'}\n"
    )
    assert "Traceback (most recent call last)" in line and "Stack (most recent call last)" in line
    assert "ValueError: 400, message:\n  b'GET /v1/customers/search?<redacted> HTTP/1.1'" in line
    assert "@" not in line and "905321234567" not in line


def test_the_formatter_redacts_the_extra_data_mode_prints() -> None:
    from mode.utils.logging import DefaultFormatter

    line = record_line(
        RedactingFormatter(DefaultFormatter("%(message)s %(extra)s")),
        "tests.logs.extra",
        "event",
        extra={"data": {"email": "ayse@example.com"}},
    )
    assert line == "event email='<email>'\n"


def test_a_record_that_cannot_be_formatted_is_written_without_its_arguments(
    capsys: pytest.CaptureFixture[str],
) -> None:
    line = record_line(
        RedactingFormatter(), "tests.logs.broken", "one %s, two %s", "ayse@example.com"
    )
    assert "cannot be formatted" in line and "one %s, two %s" in line
    assert "ayse" not in line + capsys.readouterr().err  # logging's own report is not needed


def test_a_filter_on_the_root_logger_misses_what_child_loggers_propagate() -> None:
    """Why the redaction is on handlers: logging runs a logger's filters only for records
    logged on that logger itself, not for those its children propagate to its handlers."""
    seen: list[str] = []

    def see(record: logging.LogRecord) -> bool:
        seen.append(record.name)
        return True

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter())
    root = logging.getLogger()
    level = root.level
    root.addHandler(handler)
    root.addFilter(see)
    root.setLevel(logging.INFO)
    try:
        logging.getLogger("aiohttp.server").error("GET /x?q=ayse@example.com HTTP/1.1")
    finally:
        root.removeFilter(see)
        root.removeHandler(handler)
        root.setLevel(level)
    assert seen == []  # the root logger's filter never saw it
    assert stream.getvalue() == "GET /x?<redacted> HTTP/1.1\n"  # the handler redacted it


@pytest.fixture
def saved_logging() -> Iterator[None]:
    """The logging configuration as it was, after the test."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    last_resort = logging.lastResort
    formatter = last_resort.formatter if last_resort is not None else None
    try:
        yield
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        if last_resort is not None:
            last_resort.setFormatter(formatter)


def test_install_wraps_every_handler_once(saved_logging: None) -> None:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
    child = logging.getLogger("tests.logs.install")
    child.addHandler(handler)
    try:
        logs.install()
        logs.install()
        assert isinstance(handler.formatter, RedactingFormatter)
        assert not isinstance(handler.formatter.inner, RedactingFormatter)
        assert logging.lastResort is not None
        assert isinstance(logging.lastResort.formatter, RedactingFormatter)
        child.error("from %s", "+90 532 123 45 67")
    finally:
        child.removeHandler(handler)
    assert stream.getvalue() == "tests.logs.install from +<phone>\n"


def test_the_worker_redacts_through_the_handlers_faust_sets_up(saved_logging: None) -> None:
    """`faust.Worker` (mode) replaces the root logger's handlers as it starts; the hub's
    worker redacts through the new ones, for every logger."""
    app = faust.App("tests-logs", broker="kafka://127.0.0.1:1", web_enabled=False)
    worker = _Worker(app, loglevel="debug", quiet=True, redirect_stdouts=False)
    worker.spinner = None
    worker._setup_logging()  # what the worker does first as it starts (mode)
    root = logging.getLogger()
    assert root.handlers
    assert all(isinstance(h.formatter, RedactingFormatter) for h in root.handlers)
    stream = io.StringIO()
    for handler in root.handlers:
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
    for name in ("aiohttp.server", "faust.transport", "aiokafka.producer", "mode", "streams"):
        logging.getLogger(name).warning("%s: %s", name, "ayse@example.com")
    written = stream.getvalue()
    assert "@" not in written
    assert written.count("<email>") == 5, written
