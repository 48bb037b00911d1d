"""The whole story on the real broker: targets, an SMS offer, a Twilio-signed "evet",
the suppression, the dial list, dead letters, a restart and two workers."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from twilio.request_validator import RequestValidator

from streams.domain.decisions import DialListEntry, Suppression
from streams.kafka.local import LocalKafka
from streams.wire.serialization import DeadLetter
from tests.hub import Api, HubWorker, eventually, produce_raw, read_until, worker_pair

pytestmark = pytest.mark.kafka

TWILIO_TOKEN = "test-twilio-auth-token"
API_KEY = "k-test-123"
WEBHOOK = "/v1/webhooks/sms/twilio"


@pytest.fixture(scope="module")
def worker_env() -> dict[str, str]:
    return {
        "TOUCHLINE_TWILIO_AUTH_TOKEN": TWILIO_TOKEN,
        "TOUCHLINE_PUBLIC_URL": "https://hub.example.com",
        "TOUCHLINE_API_KEYS": f"{API_KEY}:admin,other-key:agent",
        "TOUCHLINE_DEFAULT_REGION": "TR",
    }


@pytest.fixture(scope="module")
def worker(
    kafka: LocalKafka,
    topics_ready: str,
    tmp_path_factory: pytest.TempPathFactory,
    worker_env: dict[str, str],
) -> Iterator[HubWorker]:
    with HubWorker(
        kafka.bootstrap, "core-loop", tmp_path_factory.mktemp("worker-a"), env=worker_env
    ) as hub:
        yield hub


def twilio_form(phone: str, body: str, sid: str) -> dict[str, str]:
    return {
        "From": phone,
        "To": "+905551112233",
        "Body": body,
        "MessageSid": sid,
        "AccountSid": "AC00000000000000000000000000000000",
        "NumMedia": "0",
    }


def signed(form: dict[str, str]) -> dict[str, str]:
    """Sign as Twilio does, with Twilio's own library, over the public URL."""
    url = "https://hub.example.com" + WEBHOOK
    return {"X-Twilio-Signature": RequestValidator(TWILIO_TOKEN).compute_signature(url, form)}


async def post_form(api: Api, form: dict[str, str], headers: dict[str, str]) -> tuple[int, Any]:
    return await api.request(
        "POST",
        WEBHOOK,
        data=urllib.parse.urlencode(form),
        headers={"Content-Type": "application/x-www-form-urlencoded", **headers},
    )


def offer(customer: str, phone: str, campaign: str, at: str | None = None) -> dict:
    """An SMS offer presented a few minutes ago: the Twilio reply that answers it is timed
    by its arrival, and an offer stays open for the response window only."""
    return {
        "occurred_at": at or (datetime.now(UTC) - timedelta(minutes=5)).isoformat(),
        "channel": "SMS",
        "direction": "OUTBOUND",
        "customer": {"customer_id": customer, "phone": phone},
        "payload": {"type": "OfferPresented", "campaign_id": campaign, "offer_id": "o-1"},
    }


async def dial_list(api: Api, campaign: str) -> list[str]:
    status, body = await api.request("GET", f"/v1/campaigns/{campaign}/dial-list")
    assert status == 200, body
    return [e["customer_id"] for e in body["entries"]]


async def test_sms_acceptance_takes_customer_off_that_campaigns_dial_list(
    api: Api, kafka: LocalKafka, uid: str
) -> None:
    customer, phone = f"c-{uid}", "+90532" + str(int(uid, 16) % 10_000_000).zfill(7)
    loan, card = f"loan-{uid}", f"card-{uid}"

    for campaign in (loan, card):
        status, body = await api.request(
            "POST",
            f"/v1/campaigns/{campaign}/targets",
            json=[
                {"customer_id": customer, "phone": phone, "priority": 5},
                {"customer_id": f"other-{uid}", "phone": "+905329999999"},
            ],
        )
        assert status == 202, body
        assert body["accepted"] == 2
    await eventually(lambda: dial_list(api, loan), lambda ids: customer in ids)
    await eventually(lambda: dial_list(api, card), lambda ids: customer in ids)

    status, body = await api.request("POST", "/v1/interactions", json=offer(customer, phone, loan))
    assert status == 202, body
    await eventually(
        lambda: api.request("GET", f"/v1/customers/{customer}"),
        lambda r: r[0] == 200 and len(r[1]["offers"]) == 1,
    )

    sid = f"SM{uid}"
    form = twilio_form(phone, " evet ", sid)
    status, body = await post_form(api, form, signed(form))
    assert status == 200
    assert body == '<?xml version="1.0" encoding="UTF-8"?><Response/>'

    suppressions = await read_until(
        kafka.bootstrap,
        "touchline.suppressions.v1",
        lambda seen: any(s.key == f"{loan}:{customer}" for s in seen),
    )
    mine = [s.value for s in suppressions if s.key and s.key.endswith(f":{customer}")]
    assert len(mine) == 1
    suppression = mine[0]
    assert isinstance(suppression, Suppression)
    assert suppression.reason.value == "OFFER_ACCEPTED"
    assert suppression.campaign_id == loan
    assert suppression.source_event_id == sid
    assert suppression.source_channel.value == "SMS"
    assert suppression.channels == ()
    headers = dict(suppressions[-1].raw.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"touchline.suppression"

    # The dial list drops the customer for that campaign only.
    await eventually(lambda: dial_list(api, loan), lambda ids: customer not in ids)
    assert f"other-{uid}" in await dial_list(api, loan)
    assert customer in await dial_list(api, card)

    # A tombstone (null value) for the key lands on the compacted topic.
    records = await read_until(
        kafka.bootstrap,
        "touchline.dial-list.v1",
        lambda seen: any(s.key == f"{loan}:{customer}" and s.value is None for s in seen),
    )
    entries = [r for r in records if r.key == f"{loan}:{customer}"]
    assert isinstance(entries[0].value, DialListEntry)
    assert entries[-1].value is None

    status, view = await api.request("GET", f"/v1/customers/{customer}")
    assert status == 200
    assert view["offers"][0]["response"] == "ACCEPTED"
    assert view["offers"][0]["response_event_id"] == sid
    assert view["dial_lists"] == [card]

    # CSV export of the same list.
    status, text = await api.request(
        "GET", f"/v1/campaigns/{card}/dial-list", headers={"Accept": "text/csv"}
    )
    assert status == 200
    lines = text.strip().splitlines()
    assert lines[0].startswith("campaign_id,customer_id,phone,priority")
    assert any(line.startswith(f"{card},{customer},{phone},5,") for line in lines[1:])


async def test_webhook_with_bad_or_missing_signature_is_refused(api: Api, uid: str) -> None:
    form = twilio_form("+905321112233", "YES", f"SMbad{uid}")
    status, body = await post_form(api, form, {"X-Twilio-Signature": "bm90LWEtc2lnbmF0dXJl"})
    assert status == 403
    assert "signature" in body["error"].lower()
    status, _ = await post_form(api, form, {})
    assert status == 403
    # A valid signature over different parameters does not carry over.
    tampered = {**form, "Body": "NO"}
    status, _ = await post_form(api, tampered, signed(form))
    assert status == 403


async def test_garbage_on_the_topic_is_dead_lettered_and_processing_goes_on(
    api: Api, kafka: LocalKafka, uid: str
) -> None:
    garbage = b"\x00\xffnot avro at all " + uid.encode()
    meta = await produce_raw(kafka.bootstrap, "touchline.interactions.v1", b"junk", garbage)
    letters = await read_until(
        kafka.bootstrap,
        "touchline.interactions.dlq.v1",
        lambda seen: any(
            isinstance(s.value, DeadLetter) and s.value.value == garbage for s in seen
        ),
    )
    letter = next(s.value for s in letters if s.value.value == garbage)
    assert letter.topic == "touchline.interactions.v1"
    assert (letter.partition, letter.offset) == (meta.partition, meta.offset)
    assert letter.key == b"junk"
    assert letter.error

    customer = f"after-garbage-{uid}"
    status, _ = await api.request(
        "POST", "/v1/interactions", json=offer(customer, "+905320001122", f"x-{uid}")
    )
    assert status == 202
    await eventually(lambda: api.request("GET", f"/v1/customers/{customer}"), lambda r: r[0] == 200)


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ("{not json", 400, None),
        (
            '{"occurred_at": "2026-11-23T10:15:00Z", "channel": "PIGEON", "direction": "INBOUND",'
            ' "customer": {"customer_id": "c"}, "payload": {"type": "Message", "text": "hi"}}',
            422,
            "channel",
        ),
        (
            '{"occurred_at": "2026-11-23T10:15:00", "channel": "SMS", "direction": "INBOUND",'
            ' "customer": {"customer_id": "c"}, "payload": {"type": "Message", "text": "hi"}}',
            422,
            "occurred_at",
        ),
        (
            '{"occurred_at": "2026-11-23T10:15:00Z", "channel": "SMS", "direction": "INBOUND",'
            ' "customer": {"phone": "12"}, "payload": {"type": "Message", "text": "hi"}}',
            422,
            "customer.phone",
        ),
        (
            '[{"occurred_at": "2026-11-23T10:15:00Z", "channel": "SMS", "direction": "INBOUND",'
            ' "customer": {"customer_id": "c"}, "payload": {"type": "OfferPresented"}}]',
            422,
            "[0].payload.OfferPresented.campaign_id",
        ),
    ],
)
async def test_bad_interactions_get_a_clear_error(
    api: Api, body: str, status: int, field: str | None
) -> None:
    got, answer = await api.request(
        "POST", "/v1/interactions", data=body, headers={"Content-Type": "application/json"}
    )
    assert got == status, answer
    assert answer["error"]
    if field:
        assert answer["field"] == field


async def test_oversized_body_is_refused_and_the_worker_keeps_serving(api: Api) -> None:
    status, _ = await api.request(
        "POST",
        "/v1/interactions",
        data=b"[" + b" " * 1_100_000 + b"]",
        headers={"Content-Type": "application/json"},
    )
    assert status == 413
    status, _ = await api.request("GET", "/healthz")
    assert status == 200


JSON_ENDPOINTS = [
    ("POST", "/v1/interactions"),
    ("POST", "/v1/campaigns/deep/targets"),
    ("POST", "/v1/webhooks/sms/generic"),
    ("POST", "/v1/webhooks/voice/amazon-connect"),
    ("POST", "/v1/ivr/sessions"),
    ("POST", "/v1/contexts"),
    ("POST", "/v1/customers/deep/merge"),
    ("POST", "/v1/customers/deep/unmerge"),
    ("POST", "/v1/dnc"),
    ("PUT", "/v1/campaigns/deep/policy"),
]


@pytest.mark.parametrize(("method", "path"), JSON_ENDPOINTS)
async def test_deeply_nested_json_is_a_clear_400_never_a_500(
    api: Api, method: str, path: str
) -> None:
    deep = "[" * 100_000 + "]" * 100_000  # 200 KB, within the body limit
    status, answer = await api.request(
        method, path, data=deep, headers={"Content-Type": "application/json"}
    )
    assert status == 400, answer
    assert answer["code"] == "too_deep"
    status, _ = await api.request("GET", "/healthz")
    assert status == 200


async def test_api_keys_are_required(worker: HubWorker, http: aiohttp.ClientSession) -> None:
    anonymous = Api(http, worker.url)
    status, body = await anonymous.request("GET", "/v1/customers/nobody")
    assert status == 401
    assert "Bearer" in body["error"]
    wrong = Api(http, worker.url, "not-a-key")
    status, _ = await wrong.request("GET", "/v1/campaigns/x/dial-list")
    assert status == 401
    other = Api(http, worker.url, "other-key")
    status, _ = await other.request("GET", "/v1/customers/nobody")
    assert status == 404
    status, _ = await anonymous.request("GET", "/healthz")
    assert status == 200


async def test_targets_as_csv(api: Api, uid: str) -> None:
    campaign = f"csv-{uid}"
    csv_body = f"customer_id,phone,priority\na-{uid},05321234500,3\nb-{uid},+905321234501,\n"
    status, body = await api.request(
        "POST",
        f"/v1/campaigns/{campaign}/targets",
        data=csv_body,
        headers={"Content-Type": "text/csv"},
    )
    assert status == 202, body
    listed = await eventually(lambda: dial_list(api, campaign), lambda ids: len(ids) == 2)
    assert listed == [f"a-{uid}", f"b-{uid}"]  # priority 3 first
    status, body = await api.request(
        "POST",
        f"/v1/campaigns/{campaign}/targets",
        data="customer_id,phone\nz,notaphone\n",
        headers={"Content-Type": "text/csv"},
    )
    assert status == 422
    assert body["field"] == "[0].phone"


async def test_restart_keeps_state_and_dial_list(worker: HubWorker, api: Api, uid: str) -> None:
    customer, campaign = f"restart-{uid}", f"r-{uid}"
    status, _ = await api.request(
        "POST",
        f"/v1/campaigns/{campaign}/targets",
        json=[{"customer_id": customer, "phone": "+905321230000"}],
    )
    assert status == 202
    await api.request("POST", "/v1/interactions", json=offer(customer, "+905321230000", campaign))
    before = await eventually(
        lambda: api.request("GET", f"/v1/customers/{customer}"),
        lambda r: r[0] == 200 and len(r[1]["offers"]) == 1 and r[1]["targets"],
    )
    assert customer in await dial_list(api, campaign)

    assert worker.stop() == 0
    await asyncio.to_thread(worker.start)

    status, after = await api.request("GET", f"/v1/customers/{customer}")
    assert status == 200
    assert after == before[1]
    assert customer in await dial_list(api, campaign)


async def test_two_workers_share_the_partitions(
    kafka: LocalKafka,
    topics_ready: str,
    tmp_path: Path,
    http: aiohttp.ClientSession,
    worker_env: dict[str, str],
    uid: str,
) -> None:
    app_id = f"pair-{uid}"
    with worker_pair(kafka.bootstrap, app_id, tmp_path, worker_env) as (first, second):
        apis = [Api(http, first.url, API_KEY), Api(http, second.url, API_KEY)]
        campaign = f"pair-{uid}"
        customers = [f"p{i}-{uid}" for i in range(24)]
        status, _ = await apis[0].request(
            "POST",
            f"/v1/campaigns/{campaign}/targets",
            json=[{"customer_id": c, "phone": f"+9053212{i:05d}"} for i, c in enumerate(customers)],
        )
        assert status == 202
        events = [
            {**offer(c, f"+9053212{i:05d}", campaign), "event_id": f"e-{c}"}
            for i, c in enumerate(customers)
        ]
        status, _ = await apis[1].request("POST", "/v1/interactions", json=events)
        assert status == 202

        for api in apis:
            listed = await eventually(
                lambda api=api: dial_list(api, campaign),
                lambda ids: len(ids) == len(customers),
                timeout=60,
            )
            assert sorted(listed) == sorted(customers)

        # Every customer is answered by either worker (table routing) with the same view
        # (once both have settled after the rebalance their start caused).
        async def both(customer: str) -> list[Any]:
            return [await api.request("GET", f"/v1/customers/{customer}") for api in apis]

        for customer in customers:
            answers = await eventually(
                lambda customer=customer: both(customer),
                lambda r: (
                    all(s == 200 and len(v["offers"]) == 1 and v["targets"] for s, v in r)
                    and r[0][1] == r[1][1]
                ),
                timeout=60,
            )
            views = [view for _, view in answers]
            assert views[0] == views[1]
            assert views[0]["customer_id"] == customer
            assert views[0]["offers"][0]["event_id"] == f"e-{customer}"


async def test_customer_command_prints_the_view(worker: HubWorker, api: Api, uid: str) -> None:
    import json
    import subprocess
    import sys

    from tests.hub import REPO, clean_env

    customer = f"cli-view-{uid}"
    await api.request("POST", "/v1/interactions", json=offer(customer, "+905321239999", f"v-{uid}"))
    await eventually(lambda: api.request("GET", f"/v1/customers/{customer}"), lambda r: r[0] == 200)
    env = clean_env(TOUCHLINE_API_KEY=API_KEY)
    result = subprocess.run(
        [sys.executable, "-m", "streams", "customer", customer, "--url", worker.url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    view = json.loads(result.stdout)
    assert view["customer_id"] == customer
    assert view["offers"][0]["campaign_id"] == f"v-{uid}"
    missing = subprocess.run(
        [sys.executable, "-m", "streams", "customer", f"nobody-{uid}", "--url", worker.url],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert missing.returncode == 1
    assert "404" in missing.stderr
