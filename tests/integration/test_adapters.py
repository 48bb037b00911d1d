"""Every channel adapter, through its real entry point, against the adapter contract."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
import json
import sys
import time
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, ClassVar

import aiohttp
import pytest
from ellipticcurve.curve import prime256v1
from ellipticcurve.ecdsa import Ecdsa
from ellipticcurve.privateKey import PrivateKey
from twilio.request_validator import RequestValidator

from streams.domain.events import ContactAttempt, Message, OfferPresented, OptOut
from streams.domain.model import Channel
from streams.kafka.local import LocalKafka
from tests.hub import REPO, Api, HubWorker, clean_env, eventually
from tests.integration.adapter_contract import (
    AdapterContract,
    Breaker,
    InteractionLog,
    Sample,
    Submitted,
)

pytestmark = pytest.mark.kafka

TWILIO_TOKEN = "adapter-twilio-token"
PUBLIC_URL = "https://hub.example.com"
API_KEY = "adapter-key"
T_VENDOR = datetime(2026, 11, 23, 9, 30, 15, tzinfo=UTC)
# SendGrid signs with ECDSA on P-256: a key pair made with the library SendGrid's own
# helpers use, independent of the code under test.
SENDGRID_KEY = PrivateKey(curve=prime256v1)
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.publicKey().toDer()).decode()
MAPPINGS = REPO / "streams" / "adapters" / "mappings"


@dataclass
class Hub:
    worker: HubWorker
    api: Api
    http: aiohttp.ClientSession


@pytest.fixture(scope="module")
def adapter_worker(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    env = {
        "TOUCHLINE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TOUCHLINE_PUBLIC_URL": PUBLIC_URL,
        "TOUCHLINE_API_KEYS": f"{API_KEY}:admin",
        "TOUCHLINE_DEFAULT_REGION": "TR",
        "TOUCHLINE_SENDGRID_PUBLIC_KEY": SENDGRID_PUBLIC,
    }
    with HubWorker(
        kafka.bootstrap, "adapters", tmp_path_factory.mktemp("adapters"), env=env
    ) as hub:
        yield hub


@pytest.fixture
async def hub(adapter_worker: HubWorker, http: aiohttp.ClientSession) -> AsyncIterator[Hub]:
    yield Hub(adapter_worker, Api(http, adapter_worker.url, API_KEY), http)


def phone_for(uid: str) -> tuple[str, str]:
    """A national-format number (as vendors in Turkey send them) and its E.164 form."""
    digits = str(int(uid, 16) % 10_000_000).zfill(7)
    return f"0532 {digits[:3]} {digits[3:5]} {digits[5:]}", f"+90532{digits}"


def field_of(body: Any) -> str | None:
    return body.get("field") if isinstance(body, dict) else None


async def post_json(hub: Hub, path: str, body: Any) -> Submitted:
    status, answer = await hub.api.request("POST", path, json=body)
    return Submitted(200 <= status < 300, status, field_of(answer), str(answer))


async def post_twilio(hub: Hub, path: str, form: dict[str, Any]) -> Submitted:
    """Signed as Twilio signs, with Twilio's own library, over the public URL."""
    signature = RequestValidator(TWILIO_TOKEN).compute_signature(PUBLIC_URL + path, form)
    status, answer = await hub.api.request(
        "POST",
        path,
        data=urllib.parse.urlencode(form),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "X-Twilio-Signature": signature,
        },
    )
    return Submitted(200 <= status < 300, status, field_of(answer), str(answer))


def without(name: str) -> Any:
    def breaking(body: dict[str, Any]) -> dict[str, Any]:
        body.pop(name, None)
        return body

    return breaking


def with_value(name: str, value: Any) -> Any:
    def breaking(body: dict[str, Any]) -> dict[str, Any]:
        body[name] = value
        return body

    return breaking


# -- SMS ---------------------------------------------------------------------------------
class TestTwilioInboundSms(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (without("From"), "From"),
        (with_value("From", "not a number"), "From"),
        (without("MessageSid"), "MessageSid"),
    ]

    def sample(self, uid: str) -> Sample:
        national, e164 = phone_for(uid)
        return Sample(
            body={
                "MessageSid": f"SM{uid}in",
                "AccountSid": "AC" + "0" * 32,
                "From": national,
                "To": "+908501112233",
                "Body": "EVET",
                "NumMedia": "0",
                "FromCity": "ISTANBUL",
            },
            event_id=f"SM{uid}in",
            identity=("phone", e164),
            extra=("FromCity", "ISTANBUL"),
            vendor_time=None,
            checks=[lambda e: e.payload == Message(text="EVET")],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await post_twilio(hub, "/v1/webhooks/sms/twilio", body)


class TestTwilioSmsStatus(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (with_value("MessageStatus", "exploded"), "MessageStatus"),
        (without("To"), "To"),
        (without("MessageSid"), "MessageSid"),
    ]

    def sample(self, uid: str) -> Sample:
        national, e164 = phone_for(uid)
        return Sample(
            body={
                "MessageSid": f"SM{uid}out",
                "MessageStatus": "undelivered",
                "SmsStatus": "undelivered",
                "ErrorCode": "30003",
                "To": national,
                "From": "+908501112233",
                "AccountSid": "AC" + "0" * 32,
                "ApiVersion": "2010-04-01",
            },
            event_id=f"SM{uid}out:undelivered",
            identity=("phone", e164),
            extra=("ApiVersion", "2010-04-01"),
            vendor_time=None,
            checks=[
                lambda e: (
                    e.delivery is not None
                    and (e.delivery.message_id, e.delivery.status, e.delivery.error_code)
                    == (f"SM{uid}out", "undelivered", "30003")
                ),
                lambda e: e.direction.value == "OUTBOUND",
            ],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await post_twilio(hub, "/v1/webhooks/sms/twilio/status", body)


class TestGenericSmsGateway(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (with_value("direction", "sideways"), "direction"),
        (with_value("from", "call me"), "from"),
        (without("message_id"), "message_id"),
        (with_value("timestamp", "yesterday"), "timestamp"),
    ]

    def sample(self, uid: str) -> Sample:
        national, e164 = phone_for(uid)
        return Sample(
            body={
                "message_id": f"gw-{uid}",
                "direction": "inbound",
                "from": national,
                "to": "+908501112233",
                "text": "HAYIR",
                "timestamp": T_VENDOR.isoformat(),
                "gateway_ref": f"ref-{uid}",
            },
            event_id=f"gw-{uid}",
            identity=("phone", e164),
            extra=("gateway_ref", f"ref-{uid}"),
            vendor_time=T_VENDOR,
            checks=[lambda e: e.payload == Message(text="HAYIR")],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await post_json(hub, "/v1/webhooks/sms/generic", body)


# -- E-mail ------------------------------------------------------------------------------
class TestSendGridEventWebhook(AdapterContract):
    """One event per delivery here; SendGrid batches, and errors name the index."""

    bad_inputs: ClassVar[list[Breaker]] = [
        (without("email"), "[0].email"),
        (without("sg_event_id"), "[0].sg_event_id"),
        (with_value("event", "exploded"), "[0].event"),
        (with_value("timestamp", "noon"), "[0].timestamp"),
    ]

    def sample(self, uid: str) -> Sample:
        return Sample(
            body={
                "email": f"Ada.{uid}@Example.COM",
                "timestamp": int(T_VENDOR.timestamp()),
                "event": "unsubscribe",
                "sg_event_id": f"sg-evt-{uid}",
                "sg_message_id": f"msg{uid}.filter0001.123.0",
                "category": ["spring-loan", "newsletter"],
                "useragent": "Mozilla/5.0",
            },
            event_id=f"sg-evt-{uid}",
            identity=("email", f"ada.{uid}@example.com"),
            extra=("category", '["spring-loan", "newsletter"]'),
            vendor_time=T_VENDOR,
            checks=[
                lambda e: e.payload == OptOut(channels=[Channel.EMAIL]),  # opt-out from e-mail
                lambda e: e.delivery is not None and e.delivery.message_id == f"msg{uid}",
            ],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await post_sendgrid(hub, json.dumps([body]).encode())


def sendgrid_headers(raw: bytes, timestamp: str | None = None) -> dict[str, str]:
    stamp = timestamp or str(int(time.time()))
    signature = Ecdsa.sign(stamp + raw.decode(), SENDGRID_KEY).toBase64()
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": signature,
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


async def post_sendgrid(hub: Hub, raw: bytes, headers: dict[str, str] | None = None) -> Submitted:
    status, answer = await hub.api.request(
        "POST",
        "/v1/webhooks/email/sendgrid/events",
        data=raw,
        headers=headers if headers is not None else sendgrid_headers(raw),
    )
    return Submitted(200 <= status < 300, status, field_of(answer), str(answer))


async def test_sendgrid_events_with_a_bad_signature_get_403(hub: Hub, uid: str) -> None:
    raw = json.dumps([TestSendGridEventWebhook().sample(uid).body]).encode()
    good = sendgrid_headers(raw)
    tampered = raw.replace(b"unsubscribe", b"delivered__")
    old = sendgrid_headers(raw, timestamp=str(int(time.time()) - 3600))
    other_key = Ecdsa.sign(
        good["X-Twilio-Email-Event-Webhook-Timestamp"] + raw.decode(),
        PrivateKey(curve=prime256v1),
    ).toBase64()
    for data, headers in (
        (tampered, good),  # the body changed after signing
        (raw, old),  # a replay an hour later
        (raw, {**good, "X-Twilio-Email-Event-Webhook-Signature": other_key}),
        (raw, {"Content-Type": "application/json"}),  # no signature at all
    ):
        result = await post_sendgrid(hub, data, headers)
        assert result.status == 403, result
    assert (await post_sendgrid(hub, raw, good)).status == 200


class TestSendGridInboundParse(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (without("from"), "from"),
        (with_value("from", "Ada <not-an-address>"), "from"),
    ]

    def sample(self, uid: str) -> Sample:
        return Sample(
            body={
                "headers": (
                    f"Message-ID: <reply-{uid}@mail.example.com>\r\n"
                    "Date: Mon, 23 Nov 2026 12:30:15 +0300\r\n"
                    "Subject: Re: your loan offer\r\n"
                ),
                "from": f"Ada Lovelace <Ada.{uid}@Example.COM>",
                "to": "offers@bank.example.com",
                "subject": "Re: your loan offer",
                "text": "Yes please, call me tomorrow.",
                "sender_ip": "192.0.2.10",
                "spam_score": "0.1",
                "envelope": json.dumps({"to": ["offers@bank.example.com"], "from": "x"}),
            },
            event_id=f"<reply-{uid}@mail.example.com>",
            identity=("email", f"ada.{uid}@example.com"),
            extra=("spam_score", "0.1"),
            vendor_time=T_VENDOR,
            checks=[lambda e: e.payload == Message(text="Yes please, call me tomorrow.")],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        form = aiohttp.FormData()
        for name, value in body.items():
            form.add_field(name, value)
        # SendGrid can only authenticate with Basic auth in the URL it posts to.
        basic = base64.b64encode(f"sendgrid:{API_KEY}".encode()).decode()
        async with hub.http.post(
            hub.worker.url + "/v1/webhooks/email/sendgrid/inbound",
            data=form,
            headers={"Authorization": f"Basic {basic}"},
        ) as response:
            answer = await response.json()
            return Submitted(
                200 <= response.status < 300, response.status, field_of(answer), str(answer)
            )


# -- Branch and ATM files, through the CLI ---------------------------------------------------
async def publish_csv(
    hub: Hub, mapping: str, rows: list[dict[str, str]], delimiter: str
) -> Submitted:
    """`touchline publish --mapping M FILE.csv`; one row per file here. The CLI has no HTTP
    status: accepted is 202, rejected rows 422, with the column from its report."""
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=list(rows[0]), delimiter=delimiter)
    writer.writeheader()
    writer.writerows(rows)
    path = hub.worker.data_dir / f"upload-{time.monotonic_ns()}.csv"
    path.write_text(text.getvalue(), encoding="utf-8")
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "streams", "publish", "--mapping", str(MAPPINGS / mapping), str(path),
        cwd=REPO,
        env={**clean_env(), "TOUCHLINE_BROKER": hub.worker.bootstrap},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    report = err.decode()
    if process.returncode == 0:
        assert "accepted 1, rejected 0" in out.decode(), out
        return Submitted(True, 202)
    assert process.returncode == 1, report  # 2 would be a broken mapping or file
    line = next(line for line in report.splitlines() if line.startswith("line "))
    field = line.split(": ", 2)[1]
    return Submitted(False, 422, field, report)


class TestBranchVisitsFile(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (with_value("mobile", "12345"), "mobile"),
        (with_value("purpose", ""), "purpose"),
        (with_value("visit_time", "someday"), "visit_time"),
    ]

    def sample(self, uid: str) -> Sample:
        national, e164 = phone_for(uid)
        return Sample(
            body={
                "branch_id": "IST-KDK",
                "visit_id": uid,
                "visit_time": "2026-11-23 12:30:15",  # local time in Istanbul (UTC+3)
                "account_no": "TR-1001-0042",
                "mobile": national,
                "email": "",
                "purpose": "loan_application",
                "campaign": f"spring-{uid}",
                "served_by": "teller-07",
                "wait_minutes": "12",
            },
            event_id=f"branch-IST-KDK-{uid}",
            identity=("phone", e164),
            extra=("served_by", "teller-07"),
            vendor_time=T_VENDOR,
            checks=[
                lambda e: e.channel is Channel.BRANCH,
                lambda e: (
                    e.payload
                    == ContactAttempt(campaign_id=f"spring-{uid}", outcome="loan_application")
                ),
            ],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await publish_csv(hub, "branch-visits.toml", [body], ",")


class TestAtmTransactionsFile(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (with_value("txn_time", "23.11.2026 25:10:00"), "txn_time"),
        (with_value("txn_type", "XYZ"), "txn_type"),
    ]

    def sample(self, uid: str) -> Sample:
        national, e164 = phone_for(uid)
        return Sample(
            body={
                "atm_id": "ATM-0042",
                "txn_id": uid,
                "txn_time": "23.11.2026 12:30:15",
                "card_account": "TR-1001-0042",
                "mobile": national,
                "txn_type": "WDL",
                "amount": "1500.00",
                "currency": "TRY",
                "status": "approved",
            },
            event_id=f"atm-ATM-0042-{uid}",
            identity=("phone", e164),
            extra=("amount", "1500.00"),
            vendor_time=T_VENDOR,
            checks=[
                lambda e: e.channel is Channel.ATM,
                lambda e: e.payload == ContactAttempt(outcome="withdrawal"),
            ],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await publish_csv(hub, "atm-transactions.toml", [body], ";")


# -- Voice / CTI -------------------------------------------------------------------------
class TestTwilioVoiceStatus(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (with_value("CallStatus", "weird"), "CallStatus"),
        (with_value("CallDuration", "long"), "CallDuration"),
        (without("CallSid"), "CallSid"),
        (with_value("Timestamp", "not a date"), "Timestamp"),
    ]

    def sample(self, uid: str) -> Sample:
        national, e164 = phone_for(uid)
        return Sample(
            body={
                "CallSid": f"CA{uid}",
                "CallStatus": "completed",
                "Direction": "outbound-api",
                "From": "+908501112233",
                "To": national,
                "CallDuration": "42",
                "Timestamp": format_datetime(T_VENDOR),
                "AccountSid": "AC" + "0" * 32,
                "CallbackSource": "call-progress-events",
                "SequenceNumber": "3",
            },
            event_id=f"CA{uid}:completed",
            identity=("phone", e164),
            extra=("CallbackSource", "call-progress-events"),
            vendor_time=T_VENDOR,
            checks=[
                lambda e: (
                    e.call is not None
                    and (e.call.ani, e.call.dnis) == ("+908501112233", e164)
                    and e.call.answered
                    and e.call.duration_seconds == 42
                ),
                # the dialler's campaign, from the signed callback URL
                lambda e: (
                    e.payload == ContactAttempt(campaign_id=f"loan-{uid}", outcome="answered")
                ),
            ],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        campaign = "loan-" + str(body.get("CallSid", "CAx"))[2:]
        return await post_twilio(hub, f"/v1/webhooks/voice/twilio?campaign_id={campaign}", body)


class TestAmazonConnectCtr(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (without("ContactId"), "ContactId"),
        (with_value("InitiationTimestamp", "yesterday"), "InitiationTimestamp"),
        (
            with_value("CustomerEndpoint", {"Address": "anonymous", "Type": "TELEPHONE_NUMBER"}),
            "CustomerEndpoint.Address",
        ),
    ]

    def sample(self, uid: str) -> Sample:
        national, e164 = phone_for(uid)
        return Sample(
            body={
                "AWSAccountId": "123456789012",
                "ContactId": f"ctr-{uid}",
                "PreviousContactId": f"ctr-{uid}-ivr",
                "Channel": "VOICE",
                "InitiationMethod": "INBOUND",
                "InitiationTimestamp": "2026-11-23T09:30:15Z",
                "DisconnectTimestamp": "2026-11-23T09:34:00Z",
                "DisconnectReason": "AGENT_DISCONNECT",
                "CustomerEndpoint": {"Address": national, "Type": "TELEPHONE_NUMBER"},
                "SystemEndpoint": {"Address": "+908501112233", "Type": "TELEPHONE_NUMBER"},
                "Queue": {"Name": "Collections", "ARN": "arn:aws:connect:queue/1"},
                "Agent": {
                    "Username": "ayse",
                    "ConnectedToAgentTimestamp": "2026-11-23T09:31:00Z",
                },
                "TransferredToEndpoint": {"Address": "+908503334455", "Type": "TELEPHONE_NUMBER"},
                "Attributes": {"campaign_id": f"cards-{uid}", "language": "tr"},
            },
            event_id=f"ctr-{uid}",
            identity=("phone", e164),
            extra=("AWSAccountId", "123456789012"),
            vendor_time=datetime(2026, 11, 23, 9, 30, 15, tzinfo=UTC),
            checks=[
                lambda e: (
                    e.call is not None
                    and (e.call.queue, e.call.agent_id, e.call.transferred_to)
                    == ("Collections", "ayse", "+908503334455")
                    and e.call.disconnect_reason == "AGENT_DISCONNECT"
                    and (e.call.ani, e.call.dnis) == (e164, "+908501112233")
                    and e.call.duration_seconds == 225
                    and e.call.previous_call_id == f"ctr-{uid}-ivr"
                ),
                lambda e: (
                    e.payload == ContactAttempt(campaign_id=f"cards-{uid}", outcome="answered")
                ),
                lambda e: '"Collections"' in e.metadata["Queue"],  # nested objects kept whole
            ],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await post_json(hub, "/v1/webhooks/voice/amazon-connect", body)


# -- IVR ---------------------------------------------------------------------------------
class TestIvrSession(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (with_value("menu_path", "main"), "menu_path"),
        (with_value("left_for_agent", "yes"), "left_for_agent"),
        (without("session_id"), "session_id"),
        (with_value("caller", "12"), "caller"),
    ]

    def sample(self, uid: str) -> Sample:
        national, e164 = phone_for(uid)
        return Sample(
            body={
                "session_id": f"ivr-{uid}",
                "call_id": f"CA{uid}ivr",
                "caller": national,
                "dialled": "+908501112233",
                "started_at": T_VENDOR.isoformat(),
                "menu_path": ["main", "cards", "balance"],
                "account": "TR12 0006 2000 0001 2345 6789 01",
                "intent": "card_balance",
                "left_for_agent": True,
                "language": "tr",
            },
            event_id=f"ivr-{uid}",
            identity=("phone", e164),
            extra=("language", "tr"),
            vendor_time=T_VENDOR,
            checks=[
                lambda e: (
                    e.ivr is not None
                    and e.ivr.menu_path == ["main", "cards", "balance"]
                    and e.ivr.account_masked == "****8901"
                    and e.ivr.intent == "card_balance"
                    and e.ivr.left_for_agent
                ),
                # the entered account number is kept masked only, nowhere else
                lambda e: "6789" not in e.model_dump_json().replace("****8901", ""),
                lambda e: e.customer.account is None,
                lambda e: e.payload == ContactAttempt(outcome="transferred_to_agent"),
            ],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await post_json(hub, "/v1/ivr/sessions", body)


# -- Chat, web and app ---------------------------------------------------------------------
class TestClickToCallContext(AdapterContract):
    bad_inputs: ClassVar[list[Breaker]] = [
        (with_value("requested", "fax"), "requested"),
        (with_value("customer", {}), "customer"),
        (
            with_value("visits", [{"location": "/loans", "at": "soon"}]),
            "visits[0].at",
        ),
        (
            with_value("geolocation", {"latitude": 123, "longitude": 29}),
            "geolocation.latitude",
        ),
    ]

    def sample(self, uid: str) -> Sample:
        return Sample(
            body={
                "event_id": f"web-{uid}",
                "requested": "call",
                "channel": "WEB",
                "occurred_at": T_VENDOR.isoformat(),
                "customer": {"email": f"Ada.{uid}@Example.COM"},
                "geolocation": {"latitude": 41.04, "longitude": 29.0, "accuracy_m": 30},
                "visits": [
                    {"location": "/loans/personal", "title": "Personal loans"},
                    {"location": "/loans/personal/apply", "at": "2026-11-23T09:29:00Z"},
                ],
                "session_ref": f"sess-{uid}",
            },
            event_id=f"web-{uid}",
            identity=("email", f"ada.{uid}@example.com"),
            extra=("session_ref", f"sess-{uid}"),
            vendor_time=T_VENDOR,
            checks=[
                lambda e: (
                    e.context is not None
                    and e.context.token.startswith("ctx_")
                    and e.context.requested == "call"
                    and [v.location for v in e.context.visits]
                    == ["/loans/personal", "/loans/personal/apply"]
                    and e.context.latitude == 41.04
                ),
            ],
        )

    async def submit(self, hub: Hub, body: dict[str, Any]) -> Submitted:
        return await post_json(hub, "/v1/contexts", body)


# -- Joins and deliveries, end to end ---------------------------------------------------------
async def customer_view(hub: Hub, customer_id: str) -> tuple[int, Any]:
    return await hub.api.request("GET", f"/v1/customers/{customer_id}")


async def test_a_call_presenting_a_context_token_joins_that_context_and_customer(
    hub: Hub, interaction_log: InteractionLog, uid: str
) -> None:
    customer = f"c-{uid}"
    status, body = await hub.api.request(
        "POST",
        "/v1/contexts",
        json={
            "requested": "call",
            "customer": {"customer_id": customer, "email": f"{uid}@example.com"},
            "visits": [{"location": "/cards/limit"}],
        },
    )
    assert status == 201, body
    token = body["context_token"]
    await eventually(
        lambda: customer_view(hub, customer),
        lambda r: r[0] == 200 and r[1]["contexts"] and r[1]["contexts"][0]["token"] == token,
    )
    # The call comes from a number the hub has never seen; the token says who it is.
    unknown_number = "+90533" + str(int(uid, 16) % 10_000_000).zfill(7)
    form = {
        "CallSid": f"CA{uid}ctx",
        "CallStatus": "in-progress",
        "Direction": "inbound",
        "From": unknown_number,
        "To": "+908501112233",
        "ContextToken": token,
    }
    result = await post_twilio(hub, "/v1/webhooks/voice/twilio", form)
    assert result.accepted, result
    # So does a chat that carries nothing but the token.
    status, body = await hub.api.request(
        "POST",
        "/v1/interactions",
        json={
            "event_id": f"chat-{uid}",
            "occurred_at": "2026-11-23T10:00:00Z",
            "channel": "CHAT",
            "direction": "INBOUND",
            "context_token": token,
            "payload": {"type": "Message", "text": "about my card limit"},
        },
    )
    assert status == 202, body

    status, view = await eventually(
        lambda: customer_view(hub, customer),
        lambda r: r[0] == 200 and len(r[1]["contexts"][0]["joined_event_ids"]) == 2,
    )
    assert set(view["contexts"][0]["joined_event_ids"]) == {
        f"CA{uid}ctx:in-progress",
        f"chat-{uid}",
    }
    assert view["contexts"][0]["locations"] == ["/cards/limit"]
    assert unknown_number in view["phones"]  # the new number is now linked to the customer


async def test_a_browser_call_known_only_by_its_token_joins_the_context(
    hub: Hub, interaction_log: InteractionLog, uid: str
) -> None:
    customer = f"c-{uid}"
    request = {"event_id": f"web-{uid}", "requested": "call", "customer": {"customer_id": customer}}
    first = await hub.api.request("POST", "/v1/contexts", json=request)
    retried = await hub.api.request("POST", "/v1/contexts", json=request)
    assert first[0] == retried[0] == 201, (first, retried)
    token = first[1]["context_token"]
    assert retried[1]["context_token"] == token  # a retry gets the same token
    await eventually(
        lambda: customer_view(hub, customer),
        lambda r: r[0] == 200 and [c["token"] for c in r[1]["contexts"]] == [token],
    )
    form = {
        "CallSid": f"CA{uid}web",
        "CallStatus": "completed",
        "CallDuration": "30",
        "Direction": "inbound",
        "From": "client:web-visitor",  # Twilio Voice from the browser: no number at all
        "To": "+908501112233",
        "ContextToken": token,
    }
    assert (await post_twilio(hub, "/v1/webhooks/voice/twilio", form)).accepted
    _, view = await eventually(
        lambda: customer_view(hub, customer),
        lambda r: r[0] == 200 and r[1]["contexts"][0]["joined_event_ids"],
    )
    assert view["contexts"][0]["joined_event_ids"] == [f"CA{uid}web:completed"]
    assert view["contacts"]["VOICE"]["inbound"] == 1
    assert view["phones"] == []


async def test_an_unknown_context_token_resolves_by_the_callers_number_instead(
    hub: Hub, interaction_log: InteractionLog, uid: str
) -> None:
    customer = f"c-{uid}"
    national, e164 = phone_for(uid)
    status, body = await hub.api.request(
        "POST",
        "/v1/interactions",
        json={
            "occurred_at": "2026-11-23T10:00:00Z",
            "channel": "SMS",
            "direction": "OUTBOUND",
            "customer": {"customer_id": customer, "phone": e164},
            "payload": {"type": "Message", "text": "hello"},
        },
    )
    assert status == 202, body
    await eventually(lambda: customer_view(hub, customer), lambda r: r[0] == 200)
    form = {
        "CallSid": f"CA{uid}forged",
        "CallStatus": "completed",
        "CallDuration": "5",
        "Direction": "inbound",
        "From": national,
        "To": "+908501112233",
        "ContextToken": "ctx_made-up-by-someone",
    }
    assert (await post_twilio(hub, "/v1/webhooks/voice/twilio", form)).accepted
    status, view = await eventually(
        lambda: customer_view(hub, customer),
        lambda r: r[0] == 200 and r[1]["contacts"].get("VOICE", {}).get("inbound") == 1,
    )
    assert view["phones"] == [e164]


async def test_sms_status_callbacks_land_on_the_outbound_offer_they_belong_to(
    hub: Hub, interaction_log: InteractionLog, uid: str
) -> None:
    customer = f"c-{uid}"
    national, e164 = phone_for(uid)
    sid = f"SM{uid}offer"
    status, body = await hub.api.request(
        "POST",
        "/v1/interactions",
        json={
            "event_id": sid,  # the sender publishes its offer under Twilio's MessageSid
            "occurred_at": datetime.now(UTC).isoformat(),
            "channel": "SMS",
            "direction": "OUTBOUND",
            "customer": {"customer_id": customer, "phone": e164},
            "payload": {"type": "OfferPresented", "campaign_id": f"loan-{uid}"},
        },
    )
    assert status == 202, body
    for message_status in ("queued", "sent", "delivered"):
        form = {"MessageSid": sid, "MessageStatus": message_status, "To": national}
        assert (await post_twilio(hub, "/v1/webhooks/sms/twilio/status", form)).accepted
        await interaction_log.get(f"{sid}:{message_status}")
    status, view = await eventually(
        lambda: customer_view(hub, customer),
        lambda r: (
            r[0] == 200 and r[1]["offers"] and r[1]["offers"][0]["delivery_status"] == "delivered"
        ),
    )
    # Status reports are not contacts of their own: one outbound SMS, counted once.
    assert view["contacts"]["SMS"]["outbound"] == 1
    assert isinstance((await interaction_log.get(sid))[0].payload, OfferPresented)
