"""The contact rules on the real broker, through their real entry points: the contact
check and the dial list agree for every rule, a DNC entry's expiry lifts the suppression
with no new input, quiet hours follow the customer's time zone, the audit says why, and a
replay of the log by a fresh worker decides the same bytes."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from streams.domain.decisions import Suppression
from streams.domain.model import SuppressionAction, SuppressionReason
from streams.kafka.local import LocalKafka
from tests.hub import REPO, Api, HubWorker, clean_env, eventually, read_until

pytestmark = pytest.mark.kafka

API_KEY = "k-contact"
ENV = {"TOUCHLINE_API_KEYS": f"{API_KEY}:admin:campaign-desk", "TOUCHLINE_DEFAULT_REGION": "TR"}


@pytest.fixture(scope="module")
def worker(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    with HubWorker(
        kafka.bootstrap, "contact-rules", tmp_path_factory.mktemp("rules"), env=ENV
    ) as hub:
        yield hub


def tr_phone(uid: str, n: int) -> str:
    return f"+90532{(int(uid, 16) * 17 + n) % 10_000_000:07d}"


def minutes_ago(minutes: float) -> str:
    return (datetime.now(UTC) - timedelta(minutes=minutes)).isoformat()


async def post(api: Api, *events: dict[str, Any]) -> None:
    status, body = await api.request("POST", "/v1/interactions", json=list(events))
    assert status == 202, body


async def targets(api: Api, campaign: str, rows: list[dict[str, Any]]) -> None:
    status, body = await api.request("POST", f"/v1/campaigns/{campaign}/targets", json=rows)
    assert status == 202, body


async def apply(api: Api, campaign: str, **fields: Any) -> None:
    """Apply a policy; without quiet hours unless given, so the test does not depend on
    the time of day it runs at."""
    fields.setdefault("quiet_hours", {"enabled": False})
    version = int(datetime.now(UTC).timestamp() * 1000) % 2_000_000_000
    status, body = await api.request(
        "PUT",
        f"/v1/campaigns/{campaign}/policy",
        json={"campaign_id": campaign, "version": version, **fields},
    )
    assert status == 202, body


async def dial_list(api: Api, campaign: str) -> list[str]:
    status, body = await api.request("GET", f"/v1/campaigns/{campaign}/dial-list")
    assert status == 200, body
    return [e["customer_id"] for e in body["entries"]]


async def check(api: Api, customer: str, campaign: str, channel: str = "VOICE") -> Any:
    status, body = await api.request(
        "GET",
        "/v1/contact-check",
        params={"customer_id": customer, "campaign_id": campaign, "channel": channel},
    )
    assert status == 200, body
    return body


async def suppressions_of(
    kafka: LocalKafka, key: str, done: Any, timeout: float = 30.0
) -> list[Suppression]:
    seen = await read_until(
        kafka.bootstrap,
        "touchline.suppressions.v1",
        lambda records: done([r.value for r in records if r.key == key]),
        timeout=timeout,
    )
    return [r.value for r in seen if r.key == key and isinstance(r.value, Suppression)]


async def test_a_dnc_entry_suppresses_and_its_expiry_lifts_with_no_new_input(
    api: Api, kafka: LocalKafka, uid: str
) -> None:
    customer, campaign, number = f"dnc-{uid}", f"dnc-camp-{uid}", tr_phone(uid, 1)
    await targets(api, campaign, [{"customer_id": customer, "phone": number}])
    await eventually(lambda: dial_list(api, campaign), lambda ids: customer in ids)
    assert (await check(api, customer, campaign))["allowed"]

    expires = datetime.now(UTC) + timedelta(seconds=12)
    status, body = await api.request(
        "POST",
        "/v1/dnc",
        json=[{"kind": "phone", "value": number, "expires_at": expires.isoformat()}],
    )
    assert status == 202, body
    # The new entry is news for the customer who holds the number: off the list at once.
    await eventually(lambda: dial_list(api, campaign), lambda ids: customer not in ids)
    blocked = await check(api, customer, campaign)
    assert not blocked["allowed"]
    assert [r["rule"] for r in blocked["reasons"]] == ["do-not-contact"]
    assert blocked["next_allowed_at"] is not None
    assert number not in json.dumps(blocked)  # the reason masks the number

    # Nothing else happens; the expiry alone puts the customer back.
    key = f"{campaign}:{customer}"
    found = await suppressions_of(
        kafka,
        key,
        lambda values: any(
            isinstance(v, Suppression) and v.action is SuppressionAction.LIFTED for v in values
        ),
        timeout=60,
    )
    held, lifted = found[0], found[-1]
    assert held.action is SuppressionAction.SUPPRESSED
    assert held.reason is SuppressionReason.DO_NOT_CONTACT
    assert held.until is not None and abs((held.until - expires).total_seconds()) < 0.01
    assert lifted.action is SuppressionAction.LIFTED
    assert lifted.decided_at >= held.until
    await eventually(lambda: dial_list(api, campaign), lambda ids: customer in ids)
    assert (await check(api, customer, campaign))["allowed"]


async def test_quiet_hours_follow_the_customers_time_zone(api: Api, uid: str) -> None:
    campaign = f"quiet-{uid}"
    now = datetime.now(UTC)
    # A contact window around the present hour in New York, which is the middle of the
    # night, or at least outside that window, in Istanbul (8 hours ahead).
    new_york = now.astimezone(ZoneInfo("America/New_York"))
    start = (new_york - timedelta(hours=1)).strftime("%H:%M")
    end = (new_york + timedelta(hours=2)).strftime("%H:%M")
    await apply(api, campaign, quiet_hours={"start": start, "end": end})
    istanbul, new_yorker = f"ist-{uid}", f"nyc-{uid}"
    await targets(
        api,
        campaign,
        [
            {"customer_id": istanbul, "phone": tr_phone(uid, 2)},
            {"customer_id": new_yorker, "phone": "+12125550143"},
        ],
    )
    await eventually(lambda: dial_list(api, campaign), lambda ids: new_yorker in ids)
    assert istanbul not in await dial_list(api, campaign)
    quiet = await check(api, istanbul, campaign)
    assert not quiet["allowed"]
    assert quiet["reasons"][0]["rule"] == "quiet-hours"
    assert "Europe/Istanbul" in quiet["reasons"][0]["detail"]
    # Every moment in UTC, written with a Z; the reason ends when the check says.
    assert quiet["next_allowed_at"].endswith("Z") and quiet["checked_at"].endswith("Z")
    assert quiet["reasons"][0]["until"] == quiet["next_allowed_at"]
    opens = datetime.fromisoformat(quiet["next_allowed_at"])
    assert opens.astimezone(ZoneInfo("Europe/Istanbul")).strftime("%H:%M") == start
    assert (await check(api, new_yorker, campaign))["allowed"]
    # E-mail is not a real-time channel: quiet hours do not apply to it.
    assert (await check(api, istanbul, campaign, "EMAIL"))["allowed"]


@pytest.mark.parametrize(
    ("rule", "payload", "channel", "direction"),
    [
        (
            "frequency-cap",
            {"type": "ContactAttempt", "outcome": "answered"},
            "VOICE",
            "OUTBOUND",
        ),
        (
            "consent",
            {"type": "ProfileUpdate", "fields": {"consent.VOICE.marketing": "withdrawn"}},
            "WEB",
            "INBOUND",
        ),
        (
            "complaint-cooldown",
            {"type": "Complaint", "category": "billing", "severity": "high"},
            "VOICE",
            "INBOUND",
        ),
        (
            "offer-response",
            {"type": "OfferResponse", "campaign_id": "{campaign}", "response": "DECLINED"},
            "SMS",
            "INBOUND",
        ),
    ],
)
async def test_each_rule_holds_through_the_check_and_the_dial_list(
    api: Api, uid: str, rule: str, payload: dict[str, Any], channel: str, direction: str
) -> None:
    campaign, customer, bystander = f"{rule}-{uid}", f"{rule}-c-{uid}", f"{rule}-b-{uid}"
    await apply(
        api,
        campaign,
        frequency_caps=[{"channel": "VOICE", "max_contacts": 1, "days": 7}],
        response_cooldown_days=30,
    )
    await targets(
        api,
        campaign,
        [
            {"customer_id": customer, "phone": tr_phone(uid, 6)},
            {"customer_id": bystander, "phone": tr_phone(uid, 7)},
        ],
    )
    await eventually(
        lambda: dial_list(api, campaign), lambda ids: {customer, bystander} <= set(ids)
    )
    assert (await check(api, customer, campaign))["allowed"]
    fact = {k: v.format(campaign=campaign) if isinstance(v, str) else v for k, v in payload.items()}
    await post(
        api,
        {
            "occurred_at": minutes_ago(1),
            "channel": channel,
            "direction": direction,
            "customer": {"customer_id": customer},
            "payload": fact,
        },
    )
    await eventually(lambda: dial_list(api, campaign), lambda ids: ids == [bystander])
    held = await check(api, customer, campaign)
    assert not held["allowed"]
    assert held["reasons"][0]["rule"] == rule
    assert (await check(api, bystander, campaign))["allowed"]
    if rule == "consent":
        assert held["next_allowed_at"] is None  # until the customer says otherwise
        # Consent is per channel: e-mail is still allowed.
        assert (await check(api, customer, campaign, "EMAIL"))["allowed"]
    else:
        assert held["next_allowed_at"] is not None  # each of the others ends by itself


async def test_a_complaint_holds_off_campaigns_with_no_policy_by_the_defaults(
    api: Api, uid: str
) -> None:
    other = f"cool-{uid}"
    await post(
        api,
        {
            "occurred_at": minutes_ago(5),
            "channel": "VOICE",
            "direction": "INBOUND",
            "customer": {"customer_id": other},
            "payload": {"type": "Complaint", "category": "billing", "severity": "high"},
        },
    )
    cooled = await eventually(
        lambda: check(api, other, f"default-{uid}"), lambda body: not body["allowed"]
    )
    assert cooled["reasons"][0]["rule"] == "complaint-cooldown"
    assert cooled["policy_version"] is None  # no policy applied: the defaults decided


async def test_the_dial_list_applies_the_same_rules_and_the_audit_says_why(
    api: Api, worker: HubWorker, uid: str
) -> None:
    campaign, buyer, other = f"conv-{uid}", f"buyer-{uid}", f"other-{uid}"
    await apply(api, campaign, product="personal-loan")
    await targets(
        api,
        campaign,
        [
            {"customer_id": buyer, "phone": tr_phone(uid, 3)},
            {"customer_id": other, "phone": tr_phone(uid, 4)},
        ],
    )
    await eventually(lambda: dial_list(api, campaign), lambda ids: {buyer, other} <= set(ids))
    await post(
        api,
        {
            "event_id": f"buy-{uid}",
            "occurred_at": minutes_ago(1),
            "channel": "BRANCH",
            "direction": "INBOUND",
            "customer": {"customer_id": buyer},
            "payload": {
                "type": "Purchase",
                "amount": "5000",
                "currency": "TRY",
                "product": "personal-loan",
            },
        },
    )
    await eventually(lambda: dial_list(api, campaign), lambda ids: ids == [other])
    assert not (await check(api, buyer, campaign))["allowed"]

    status, audit = await api.request(
        "GET", f"/v1/customers/{buyer}/decisions", params={"campaign_id": campaign}
    )
    assert status == 200, audit
    kinds = [(d["kind"], d["rule"], d["source_event_id"]) for d in audit["decisions"]]
    assert ("SUPPRESSED", "already-converted", f"buy-{uid}") in kinds
    assert kinds[0][0] in {"SUPPRESSED", "UNLISTED"}  # newest first
    suppressed = next(d for d in audit["decisions"] if d["kind"] == "SUPPRESSED")
    assert suppressed["policy_version"] is not None
    assert suppressed["decided_at"]
    # The audit names who applied the policy version the decision was taken by.
    assert suppressed["policy_applied_by"] == "campaign-desk"

    why = subprocess.run(
        [sys.executable, "-m", "streams", "why", buyer, campaign, "--url", worker.url],
        cwd=REPO,
        env=clean_env(TOUCHLINE_API_KEY=API_KEY),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert why.returncode == 0, why.stderr
    assert "may NOT be contacted" in why.stdout
    assert "already-converted" in why.stdout
    assert f"buy-{uid}" in why.stdout
    assert "(applied by campaign-desk)" in why.stdout


async def test_bad_checks_name_the_parameter(api: Api) -> None:
    status, body = await api.request(
        "GET", "/v1/contact-check", params={"customer_id": "x", "campaign_id": "y"}
    )
    assert status == 422 and body["field"] == "channel"
    status, body = await api.request(
        "GET",
        "/v1/contact-check",
        params={"customer_id": "x", "campaign_id": "y", "channel": "PIGEON"},
    )
    assert status == 422 and body["field"] == "channel"
    unknown = await check(api, "nobody-ever", "any")
    assert unknown["allowed"] is True and unknown["known_customer"] is False


async def test_a_fresh_worker_replaying_the_log_decides_the_same_bytes(
    api: Api, kafka: LocalKafka, tmp_path: Path, uid: str
) -> None:
    customer = f"replay-c-{uid}"
    loan, card = f"replay-loan-{uid}", f"replay-card-{uid}"

    def on_log(event_id: str, minutes: float, payload: dict[str, Any], **extra: Any) -> Any:
        return {
            "event_id": f"{event_id}-{uid}",
            "occurred_at": minutes_ago(minutes),
            "channel": "SMS",
            "direction": "INBOUND",
            "customer": {"customer_id": customer},
            "payload": payload,
            **extra,
        }

    await post(
        api,
        on_log("offer-1", 9, {"type": "OfferPresented", "campaign_id": loan}, direction="OUTBOUND"),
        on_log("offer-2", 8, {"type": "OfferPresented", "campaign_id": card}, direction="OUTBOUND"),
        on_log("yes", 7, {"type": "OfferResponse", "campaign_id": loan, "response": "ACCEPTED"}),
        on_log("stop", 6, {"type": "OptOut", "channels": ["SMS"]}),
    )
    keys = {f"{loan}:{customer}", f"{card}:{customer}"}
    first = await suppressions_of(kafka, f"{card}:{customer}", lambda values: len(values) >= 1)
    assert first[0].reason is SuppressionReason.OPTED_OUT

    def mine(records: list[Any]) -> list[bytes]:
        return [r.raw.value for r in records if r.key in keys]

    # A worker of another app id rebuilds its state from the same interaction log, with the
    # same policy versions: every decision it publishes is byte for byte the first one's.
    replay = HubWorker(kafka.bootstrap, f"replay-{uid}", tmp_path / "replay", env=ENV).start()
    try:
        seen = await read_until(
            kafka.bootstrap,
            "touchline.suppressions.v1",
            lambda records: len(mine(records)) >= 6,
            timeout=120,
        )
    finally:
        replay.stop()
    assert len(mine(seen)) == 6
    # loan: accepted, then opted out of SMS; card: opted out of SMS; once per worker each,
    # in the order of the key's partition: the first worker's, then the replay's.
    for key, count in ((f"{loan}:{customer}", 2), (f"{card}:{customer}", 1)):
        values = [r.raw.value for r in seen if r.key == key]
        assert len(values) == 2 * count
        assert values[:count] == values[count:]
