"""Vendor webhooks are closed by default: without its secret a Twilio or SendGrid webhook
refuses every request, naming the setting, and publishes nothing. TOUCHLINE_INSECURE_
WEBHOOKS=1 opens the unconfigured ones for local development; a configured secret is
checked whatever that says, and a SendGrid signature older than the tolerance is refused."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from ellipticcurve.curve import prime256v1
from ellipticcurve.ecdsa import Ecdsa
from ellipticcurve.privateKey import PrivateKey

from streams.kafka.local import LocalKafka
from tests.hub import HubWorker
from tests.integration.adapter_contract import InteractionLog

pytestmark = pytest.mark.kafka

SENDGRID_KEY = PrivateKey(curve=prime256v1)
SENDGRID_PUBLIC = base64.b64encode(SENDGRID_KEY.publicKey().toDer()).decode()
TWILIO = ["/v1/webhooks/sms/twilio", "/v1/webhooks/sms/twilio/status", "/v1/webhooks/voice/twilio"]


@pytest.fixture(scope="module")
def closed(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    """A hub with no vendor secret and nothing else said: the default."""
    with HubWorker(kafka.bootstrap, "webhooks-closed", tmp_path_factory.mktemp("closed")) as hub:
        yield hub


@pytest.fixture(scope="module")
def insecure(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    """Local development: unsigned requests accepted where no secret is set (Twilio);
    SendGrid's key set, with a one-minute tolerance."""
    env = {
        "TOUCHLINE_INSECURE_WEBHOOKS": "1",
        "TOUCHLINE_SENDGRID_PUBLIC_KEY": SENDGRID_PUBLIC,
        "TOUCHLINE_WEBHOOK_TOLERANCE_SECONDS": "60",
    }
    with HubWorker(
        kafka.bootstrap, "webhooks-open", tmp_path_factory.mktemp("open"), env=env
    ) as hub:
        yield hub


def stop_sms(sid: str) -> dict[str, str]:
    return {"From": "+905321239876", "To": "+905550000000", "Body": "STOP", "MessageSid": sid}


def spam_report(uid: str) -> bytes:
    event = {
        "email": f"{uid}@example.com",
        "timestamp": int(time.time()),
        "event": "spamreport",
        "sg_event_id": f"sg-{uid}",
        "sg_message_id": f"m-{uid}",
    }
    return json.dumps([event]).encode()


def signed(raw: bytes, age: float = 0) -> dict[str, str]:
    stamp = str(int(time.time() - age))
    return {
        "Content-Type": "application/json",
        "X-Twilio-Email-Event-Webhook-Signature": Ecdsa.sign(
            stamp + raw.decode(), SENDGRID_KEY
        ).toBase64(),
        "X-Twilio-Email-Event-Webhook-Timestamp": stamp,
    }


async def test_webhooks_without_their_secret_refuse_everything(
    closed: HubWorker, insecure: HubWorker, http: aiohttp.ClientSession, topics_ready: str
) -> None:
    refused_sid = f"SM{uuid.uuid4().hex}"
    for path in TWILIO:
        async with http.post(closed.url + path, data=stop_sms(refused_sid)) as response:
            body = await response.json()
            assert response.status == 403, body
            assert "TOUCHLINE_TWILIO_AUTH_TOKEN" in body["error"]
            assert body["code"] == "webhook_not_configured"
    raw = spam_report(uuid.uuid4().hex)
    async with http.post(closed.url + "/v1/webhooks/email/sendgrid/events", data=raw) as response:
        body = await response.json()
        assert response.status == 403 and "TOUCHLINE_SENDGRID_PUBLIC_KEY" in body["error"]

    # The same STOP on the development hub goes through: it reaches the log, the refused
    # one (answered before it) never does.
    accepted_sid = f"SM{uuid.uuid4().hex}"
    async with http.post(insecure.url + TWILIO[0], data=stop_sms(accepted_sid)) as response:
        assert response.status == 200
    log = InteractionLog(topics_ready)
    await log.start()
    try:
        await log.get(accepted_sid)
        assert refused_sid not in log.events
    finally:
        await log.stop()


async def test_a_configured_secret_is_checked_and_old_signatures_are_refused(
    insecure: HubWorker, http: aiohttp.ClientSession
) -> None:
    path = insecure.url + "/v1/webhooks/email/sendgrid/events"
    raw = spam_report(uuid.uuid4().hex)
    for headers, status in (
        ({"Content-Type": "application/json"}, 403),  # unsigned: the key is set
        (signed(raw, age=120), 403),  # older than the 60 s tolerance
        (signed(raw, age=10), 200),
    ):
        async with http.post(path, data=raw, headers=headers) as response:
            assert response.status == status, await response.text()


def test_the_start_up_log_warns_of_insecure_webhooks(
    insecure: HubWorker, closed: HubWorker
) -> None:
    warning = "TOUCHLINE_INSECURE_WEBHOOKS is set"
    assert warning in Path(insecure.log_path).read_text(errors="replace")
    assert warning not in Path(closed.log_path).read_text(errors="replace")
