"""No personal data in the logs: a worker at DEBUG takes interactions, look-ups, webhooks
and malformed requests full of phone numbers, e-mail addresses, names and message texts,
over HTTP and Kafka; then not one of them is anywhere in what it logged (its log file is
its stdout and stderr: every logger's lines, tracebacks, and anything printed)."""

from __future__ import annotations

import asyncio
import json
import random
import string
import sys
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import phonenumbers
import pytest
from twilio.request_validator import RequestValidator

from streams.kafka.local import LocalKafka
from streams.kafka.producer import TouchlineProducer
from streams.wire import topics
from tests.hub import Api, HubWorker, eventually, produce_raw, read_until

pytestmark = pytest.mark.kafka

API_KEY = "k-log-redaction"
TWILIO_TOKEN = "log-redaction-twilio-token"
PUBLIC_URL = "https://hub.example.com"
TWILIO = "/v1/webhooks/sms/twilio"
MAX_BODY_BYTES = 65_536


def letters(count: int = 10) -> str:
    """A random word: found in a log only if something wrote what carried it."""
    return "".join(random.choices(string.ascii_lowercase, k=count))


@dataclass
class Secrets:
    """The personal data of one run, and every form each may take in a log line."""

    needles: dict[str, str] = field(default_factory=dict)  # lower-case text -> what it is

    def name(self) -> str:
        word = letters()
        self.needles[word] = "a name"
        return f"Ayşe {word.capitalize()} Yılmaz"

    def email(self) -> str:
        word = letters()
        self.needles[word] = "an e-mail address"
        return f"ayse.{word}@example.com"

    def text(self) -> str:
        word = letters()
        self.needles[word] = "a message text"
        return f"Merhaba, kartım kayboldu, {word} lütfen beni arayın"

    def phone(self) -> str:
        """A Turkish mobile number in E.164; every form of it is a needle."""
        digits = f"532{random.randrange(10**7):07d}"
        number = phonenumbers.parse(f"+90{digits}")
        forms = {
            digits,  # national significant number: in E.164 (with or without +) too
            f"0{digits}",  # national
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL),
            phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL),
            f"0{digits[:3]}-{digits[3:6]}-{digits[6:8]}-{digits[8:]}",
        }
        for form in forms:
            self.needles[form.lower()] = "a phone number"
        return f"+90{digits}"


def national(e164: str) -> str:
    digits = e164.removeprefix("+90")
    return f"0{digits[:3]} {digits[3:6]} {digits[6:8]} {digits[8:]}"


@pytest.fixture(scope="module")
def worker(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    hub = HubWorker(
        kafka.bootstrap,
        f"log-redaction-{letters(6)}",
        tmp_path_factory.mktemp("log-redaction"),
        env={
            "TOUCHLINE_API_KEYS": f"{API_KEY}:admin",
            "TOUCHLINE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
            "TOUCHLINE_PUBLIC_URL": PUBLIC_URL,
            "TOUCHLINE_DEFAULT_REGION": "TR",
            "TOUCHLINE_MAX_BODY_BYTES": str(MAX_BODY_BYTES),
        },
        command=[sys.executable, "-m", "streams", "worker", "--loglevel", "debug"],
    )
    with hub:
        yield hub


def event(customer: dict[str, str], payload: dict[str, Any], channel: str = "SMS") -> dict:
    return {
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "channel": channel,
        "direction": "INBOUND",
        "customer": customer,
        "payload": payload,
    }


async def raw_http(port: int, request: bytes) -> bytes:
    """`request` as it is, byte for byte (an HTTP client would percent-encode it); the
    status line of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
        await writer.wait_closed()
    return answer.split(b"\r\n", 1)[0]


def get(target: str, *headers: str) -> bytes:
    lines = [f"GET {target} HTTP/1.1", "Host: 127.0.0.1", f"Authorization: Bearer {API_KEY}"]
    lines += [*headers, "Connection: close", "", ""]
    return "\r\n".join(lines).encode()  # UTF-8: raw bytes that are not ASCII


async def post_twilio(api: Api, form: dict[str, str], signature: str) -> int:
    status, _ = await api.request(
        "POST",
        TWILIO,
        data=urllib.parse.urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    return status


async def test_no_personal_data_reaches_the_log(
    kafka: LocalKafka, worker: HubWorker, api: Api
) -> None:
    secrets = Secrets()
    customer = f"logs-{letters(8)}"
    phone, email, name, text = secrets.phone(), secrets.email(), secrets.name(), secrets.text()

    # Interactions over HTTP: a profile with a name, phone and e-mail, an SMS, a complaint.
    status, body = await api.request(
        "POST",
        "/v1/interactions",
        json=[
            event(
                {"customer_id": customer, "phone": national(phone), "email": email},
                {"type": "ProfileUpdate", "fields": {"name": name, "email": email}},
                channel="WEB",
            ),
            event({"phone": phone}, {"type": "Message", "text": text}),
            event(
                {"customer_id": customer, "email": email},
                {
                    "type": "Complaint",
                    "category": "card",
                    "severity": "high",
                    "text": secrets.text(),
                },
                channel="EMAIL",
            ),
        ],
    )
    assert status == 202, body

    # Over Kafka: the producer SDK, and records that are no interaction at all.
    kafka_name, kafka_phone = secrets.name(), secrets.phone()
    kafka_customer = f"logs-k-{letters(8)}"
    async with TouchlineProducer(kafka.bootstrap) as producer:
        await producer.send_many(
            [
                event(
                    {"customer_id": kafka_customer, "phone": kafka_phone, "email": secrets.email()},
                    {"type": "ProfileUpdate", "fields": {"name": kafka_name}},
                    channel="WEB",
                ),
                event({"phone": kafka_phone}, {"type": "Message", "text": secrets.text()}),
            ]
        )
    garbage = json.dumps(
        {"phone": secrets.phone(), "email": secrets.email(), "text": secrets.text()}
    ).encode()
    bad_record = await produce_raw(
        kafka.bootstrap, topics.INTERACTIONS, secrets.phone().encode(), garbage
    )
    await produce_raw(kafka.bootstrap, topics.CAMPAIGN_TARGETS, customer.encode(), garbage)
    await produce_raw(kafka.bootstrap, topics.DNC, f"email:{secrets.email()}".encode(), garbage)

    # Campaign targets and do-not-contact entries, and reading them back.
    dnc_phone, dnc_email = secrets.phone(), secrets.email()
    status, body = await api.request(
        "POST",
        f"/v1/campaigns/logs-{letters(6)}/targets",
        json=[{"customer_id": customer, "phone": national(phone)}],
    )
    assert status == 202, body
    status, body = await api.request(
        "POST",
        "/v1/dnc",
        json=[{"kind": "phone", "value": dnc_phone}, {"kind": "email", "value": dnc_email}],
    )
    assert status == 202, body
    await eventually(
        lambda: api.request("GET", f"/v1/dnc/phone/{urllib.parse.quote(dnc_phone)}"),
        lambda r: r[0] == 200,
    )
    await api.request("GET", f"/v1/dnc/email/{dnc_email}")
    await api.request("DELETE", f"/v1/dnc/phone/{national(dnc_phone)}")

    # Look-ups: the customer by phone, e-mail and name, and one nobody has.
    await eventually(
        lambda: api.request("GET", "/v1/customers/search", params={"q": name}),
        lambda r: r[0] == 200 and any(c["customer_id"] == customer for c in r[1]["results"]),
        timeout=60,
    )
    for query in (email, national(phone), phone, secrets.email(), secrets.name()):
        status, _ = await api.request("GET", "/v1/customers/search", params={"q": query})
        assert status == 200
    for identity in ({"phone": national(phone)}, {"email": email}, {"phone": secrets.phone()}):
        await api.request("GET", "/v1/customers/by-identity", params=identity)
    await eventually(
        lambda: api.request("GET", f"/v1/customers/{kafka_customer}"),
        lambda r: r[0] == 200 and r[1]["profile"].get("name") == kafka_name,
        timeout=60,
    )

    # Twilio webhooks: one signed, one with a bad signature.
    form = {
        "From": national(secrets.phone()),
        "To": "+905551112233",
        "Body": secrets.text(),
        "MessageSid": f"SM{letters(32)}",
        "AccountSid": "AC00000000000000000000000000000000",
        "NumMedia": "0",
    }
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + TWILIO, form)
    assert await post_twilio(api, form, signature) == 200
    forged = {**form, "From": secrets.phone(), "Body": secrets.text()}
    assert await post_twilio(api, forged, signature) == 403

    # Malformed requests: bad JSON, invalid fields, an oversized body.
    customer_json = json.dumps({"phone": secrets.phone(), "email": secrets.email()})
    bad_json = f'[{{"customer": {customer_json}, "payload": {{"text": "{secrets.text()}"'  # cut
    status, _ = await api.request(
        "POST", "/v1/interactions", data=bad_json, headers={"Content-Type": "application/json"}
    )
    assert status == 400
    invalid = event(
        {"phone": f"{secrets.phone()}{letters(3)}", "email": f"{secrets.name()} <x@>"},
        {"type": "Message", "text": [secrets.text()]},
    )
    status, _ = await api.request("POST", "/v1/interactions", json=[invalid])
    assert status in (400, 422)
    one = event({"phone": secrets.phone(), "email": secrets.email()}, {"type": "Message"})
    one["payload"]["text"] = secrets.text() + " " + "x" * 200
    status, _ = await api.request("POST", "/v1/interactions", json=[one] * (MAX_BODY_BYTES // 200))
    assert status == 413

    # Raw bytes that are not ASCII where HTTP wants them percent-encoded: in a query
    # string, in a path, in a header.
    port = worker.web_port
    answers = [
        await raw_http(port, get(f"/v1/customers/search?q={secrets.email()}ş")),
        await raw_http(port, get(f"/v1/customers/search?q=ş{secrets.phone()}")),
        await raw_http(port, get(f"/v1/customers/search?q={secrets.name().replace(' ', '+')}")),
        await raw_http(port, get(f"/v1/dnc/email/ş{secrets.email()}")),
        await raw_http(port, get(f"/v1/dnc/phone/{national(secrets.phone()).replace(' ', 'ş')}")),
        await raw_http(port, get(f"/v1/customers/{secrets.name().replace(' ', '-')}")),
        await raw_http(port, get("/healthz", f"X-Caller: {secrets.name()}\x01")),
    ]
    assert all(answer.startswith(b"HTTP/1.") for answer in answers), answers
    assert b"400" in answers[0], answers

    # The garbage on the interaction log became a dead letter, so it was read.
    await read_until(
        kafka.bootstrap,
        topics.INTERACTIONS_DLQ,
        lambda seen: any(
            getattr(s.value, "offset", None) == bad_record.offset
            and getattr(s.value, "partition", None) == bad_record.partition
            for s in seen
        ),
        timeout=60,
    )

    assert worker.stop() == 0, worker.log_tail()
    logged = worker.log_path.read_bytes().decode("utf-8", "replace")
    lowered = logged.lower()
    # It logged at DEBUG, and what the malformed requests made it log is there.
    assert "[DEBUG]" in logged, worker.log_tail()
    assert "Error handling request" in logged, worker.log_tail()
    leaks = {
        f"{what} ({needle!r})": [line for line in logged.splitlines() if needle in line.lower()]
        for needle, what in secrets.needles.items()
        if needle in lowered
    }
    assert not leaks, "personal data in the log:\n" + "\n".join(
        f"{what}:\n  " + "\n  ".join(lines[:5]) for what, lines in leaks.items()
    )
    assert "?<redacted>" in logged, worker.log_tail()  # the redaction was on
