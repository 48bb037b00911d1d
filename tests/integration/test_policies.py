"""Contact policies and do-not-contact lists on the real broker: applied and read over
HTTP and with the CLI, versions that only go up, errors that name the field, and the
records on `touchline.policies.v1` and `touchline.dnc.v1`."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streams.domain.campaign_policy import CampaignPolicy, DoNotContactEntry, parse_policy
from streams.kafka.local import LocalKafka
from tests.hub import REPO, Api, HubWorker, clean_env, read_until

pytestmark = pytest.mark.kafka

API_KEY = "k-policies"
MAX_BODY = 65_536
ENV = {
    "TOUCHLINE_API_KEYS": f"{API_KEY}:admin:policy-desk",
    "TOUCHLINE_DEFAULT_REGION": "TR",
    "TOUCHLINE_MAX_BODY_BYTES": str(MAX_BODY),
}


@pytest.fixture(scope="module")
def worker(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    with HubWorker(
        kafka.bootstrap, "policies", tmp_path_factory.mktemp("policies"), env=ENV
    ) as hub:
        yield hub


def phone(uid: str, n: int) -> str:
    """A Turkish mobile number in national form, unique to the test."""
    return f"0532 {(int(uid, 16) * 13 + n) % 10_000_000:07d}"


def e164(national: str) -> str:
    return "+90" + national.removeprefix("0").replace(" ", "")


def document(campaign_id: str, version: int, **fields: Any) -> dict[str, Any]:
    return {"campaign_id": campaign_id, "version": version, **fields}


async def put_policy(api: Api, campaign_id: str, body: Any) -> tuple[int, Any]:
    return await api.request("PUT", f"/v1/campaigns/{campaign_id}/policy", json=body)


async def test_a_policy_put_is_what_get_returns_and_versions_are_kept(api: Api, uid: str) -> None:
    campaign = f"pol-{uid}"
    status, defaults = await api.request("GET", f"/v1/campaigns/{campaign}/policy")
    assert status == 200, defaults
    assert defaults["version"] is None
    assert defaults["campaign_id"] == campaign
    # The test worker's defaults (TOUCHLINE_DEFAULT_POLICY, see tests/hub.py) turn quiet
    # hours off; the window itself is the built-in 08:00-21:00.
    assert defaults["quiet_hours"] == {"start": "08:00:00", "end": "21:00:00", "enabled": False}

    first = document(
        campaign,
        1,
        channels=["VOICE", "SMS"],
        frequency_caps=[{"channel": "VOICE", "max_contacts": 2, "days": 7}],
        quiet_hours={"start": "09:00", "end": "20:00"},
    )
    status, body = await put_policy(api, campaign, first)
    assert (status, body) == (202, {"campaign_id": campaign, "version": 1, "changed": True})
    # The body may leave the campaign out: the path names it.
    second = {"version": 2, "purpose": "service", "complaint_cooldown_days": 0}
    status, body = await put_policy(api, campaign, second)
    assert (status, body) == (202, {"campaign_id": campaign, "version": 2, "changed": True})

    status, latest = await api.request("GET", f"/v1/campaigns/{campaign}/policy")
    assert status == 200
    # Who applied each version is the name of the key that was checked.
    by_desk = {"applied_by": "policy-desk"}
    assert parse_policy(latest) == parse_policy(second, campaign_id=campaign).model_copy(
        update=by_desk
    )
    assert latest["purpose"] == "service"
    status, old = await api.request("GET", f"/v1/campaigns/{campaign}/policy?version=1")
    assert status == 200
    assert parse_policy(old) == parse_policy(first).model_copy(update=by_desk)
    assert old["quiet_hours"]["start"] == "09:00:00"
    assert old["frequency_caps"] == [{"channel": "VOICE", "max_contacts": 2, "days": 7}]
    status, missing = await api.request("GET", f"/v1/campaigns/{campaign}/policy?version=3")
    assert status == 404
    assert "version 3" in missing["error"]
    status, bad = await api.request("GET", f"/v1/campaigns/{campaign}/policy?version=two")
    assert (status, bad["field"]) == (422, "version")


async def test_a_version_not_above_the_latest_gets_409(api: Api, uid: str) -> None:
    campaign = f"stale-{uid}"
    assert (await put_policy(api, campaign, document(campaign, 5)))[0] == 202
    for version in (5, 4, 1):
        status, body = await put_policy(api, campaign, document(campaign, version, product="other"))
        assert status == 409, body
        assert body["field"] == "version"
        assert body["current_version"] == 5
        assert "higher than the current version 5" in body["error"]
    status, latest = await api.request("GET", f"/v1/campaigns/{campaign}/policy")
    assert latest["version"] == 5
    assert (await put_policy(api, campaign, document(campaign, 6)))[0] == 202


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"quiet_hours": {"start": "25:00"}}, "quiet_hours.start"),
        ({"frequency_caps": [{"max_contacts": 0, "days": 7}]}, "frequency_caps[0].max_contacts"),
        ({"channels": ["PIGEON"]}, "channels[0]"),
        ({"cooldown": 3}, "cooldown"),
        ({"version": None}, "version"),
        ({"version": 0}, "version"),
        ({"campaign_id": "someone-else"}, "campaign_id"),
    ],
)
async def test_a_bad_field_gets_422_naming_it(
    api: Api, uid: str, fields: dict[str, Any], field: str
) -> None:
    campaign = f"bad-{uid}"
    status, body = await put_policy(api, campaign, {**document(campaign, 1), **fields})
    assert status == 422, body
    assert body["field"] == field
    assert body["error"].startswith(field)
    status, latest = await api.request("GET", f"/v1/campaigns/{campaign}/policy")
    assert latest["version"] is None  # nothing was applied


async def test_malformed_oversized_and_unauthenticated_requests(api: Api, uid: str) -> None:
    campaign = f"raw-{uid}"
    path = f"/v1/campaigns/{campaign}/policy"
    status, body = await api.request("PUT", path, data=b'{"version": 1,')
    assert status == 400, body
    assert "malformed JSON" in body["error"]
    status, body = await api.request("PUT", path, json=[1, 2])
    assert status == 422
    big = json.dumps({**document(campaign, 1), "product": "x" * MAX_BODY})
    status, body = await api.request("PUT", path, data=big)
    assert status == 413, body
    status, body = await api.request("POST", "/v1/dnc", data="kind,value\n" * 10_000)
    assert status == 413, body
    anonymous = Api(api.session, api.base)
    for method, where in [
        ("GET", path),
        ("PUT", path),
        ("POST", "/v1/dnc"),
        ("GET", "/v1/dnc/phone/05321234567"),
        ("DELETE", "/v1/dnc/phone/05321234567"),
    ]:
        status, _ = await anonymous.request(method, where, json=document(campaign, 1))
        assert status == 401, (method, where)


async def test_the_policy_record_on_the_topic_decodes_to_the_policy(
    api: Api, worker: HubWorker, uid: str
) -> None:
    campaign = f"topic-{uid}"
    body = document(campaign, 3, product="personal-loan", response_cooldown_days=90)
    assert (await put_policy(api, campaign, body))[0] == 202
    seen = await read_until(
        worker.bootstrap,
        "touchline.policies.v1",
        lambda records: any(r.key == campaign for r in records),
    )
    mine = [r for r in seen if r.key == campaign]
    assert len(mine) == 1
    assert isinstance(mine[0].value, CampaignPolicy)
    assert mine[0].value == parse_policy(body).model_copy(update={"applied_by": "policy-desk"})
    headers = {name: value.decode() for name, value in mine[0].raw.headers}
    assert headers["ce_type"] == "touchline.policy"
    assert headers["ce_subject"] == campaign
    assert headers["ce_source"] == "/touchline/http"


async def test_the_current_policy_applied_again_is_accepted_and_not_published_again(
    api: Api, worker: HubWorker, uid: str
) -> None:
    campaign = f"again-{uid}"
    body = document(
        campaign,
        3,
        product="personal-loan",
        channels=["VOICE", "SMS"],
        quiet_hours={"start": "09:00", "end": "20:00"},
    )
    applied = {"campaign_id": campaign, "version": 3}
    assert await put_policy(api, campaign, body) == (202, {**applied, "changed": True})
    for _ in range(2):
        assert await put_policy(api, campaign, body) == (202, {**applied, "changed": False})
    # The same content however written: the campaign left to the path, the fields in
    # another order, the times with their seconds, the defaults spelt out.
    same = {
        "quiet_hours": {"enabled": True, "end": "20:00:00", "start": "09:00:00"},
        "complaint_cooldown_days": 30,
        "channels": ["VOICE", "SMS"],
        "product": "personal-loan",
        "version": 3,
    }
    assert await put_policy(api, campaign, same) == (202, {**applied, "changed": False})
    # The same version with anything else in it is still a conflict.
    for changed in ({"channels": ["SMS", "VOICE"]}, {"complaint_cooldown_days": 31}):
        status, conflict = await put_policy(api, campaign, {**body, **changed})
        assert status == 409, conflict
        assert conflict["current_version"] == 3
    assert await put_policy(api, campaign, document(campaign, 4)) == (
        202,
        {**applied, "version": 4, "changed": True},
    )
    # Records of one campaign keep their order on the topic: nothing came between 3 and 4.
    seen = await read_until(
        worker.bootstrap,
        "touchline.policies.v1",
        lambda records: any(r.key == campaign and r.value.version == 4 for r in records),
    )
    assert [r.value.version for r in seen if r.key == campaign] == [3, 4]


# -- do-not-contact -------------------------------------------------------------------


async def test_dnc_entries_by_json_are_found_normalised_and_removed(
    api: Api, worker: HubWorker, uid: str
) -> None:
    number, email = phone(uid, 1), f"DNC-{uid}@Example.com"
    status, body = await api.request(
        "POST",
        "/v1/dnc?list_id=bank",
        json=[
            {"kind": "phone", "value": number, "expires_at": "2099-01-31"},
            {"kind": "email", "value": email, "source": "complaints-desk", "list_id": "own"},
        ],
    )
    assert (status, body) == (202, {"accepted": 2, "rejected": []})

    status, entry = await api.request("GET", f"/v1/dnc/phone/{e164(number)}")
    assert status == 200, entry
    assert entry["value"] == e164(number)
    assert entry["list_id"] == "bank"
    assert entry["added_by"] == "policy-desk"  # the name of the key that added it
    assert entry["expires_at"] == "2099-02-01T00:00:00Z"  # the whole of the day it names
    assert entry["active"] is True
    # Looked up by the same number in another form, or the address in other case.
    status, same = await api.request("GET", f"/v1/dnc/phone/{number.replace(' ', '')}")
    assert (status, same) == (200, entry)
    status, by_email = await api.request("GET", f"/v1/dnc/email/{email.upper()}")
    assert status == 200
    assert (by_email["value"], by_email["source"], by_email["list_id"]) == (
        email.lower(),
        "complaints-desk",
        "own",
    )

    status, removed = await api.request("DELETE", f"/v1/dnc/phone/{number.replace(' ', '')}")
    assert (status, removed) == (202, {"kind": "phone", "value": e164(number)})
    status, _ = await api.request("GET", f"/v1/dnc/phone/{e164(number)}")
    assert status == 404
    status, _ = await api.request("GET", f"/v1/dnc/email/{email}")
    assert status == 200

    key = f"phone:{e164(number)}"
    seen = await read_until(
        worker.bootstrap,
        "touchline.dnc.v1",
        lambda records: sum(r.key == key for r in records) >= 2,
    )
    mine = [r for r in seen if r.key == key]
    assert isinstance(mine[0].value, DoNotContactEntry)
    assert mine[0].value.value == e164(number)
    assert mine[1].value is None  # the tombstone
    headers = {name: value.decode() for name, value in mine[0].raw.headers}
    assert headers["ce_type"] == "touchline.dnc-entry"
    assert "ce_subject" not in headers


async def test_a_bad_json_entry_gets_422_naming_it_and_nothing_is_imported(
    api: Api, uid: str
) -> None:
    good = phone(uid, 2)
    for entries, field in [
        ([{"kind": "phone", "value": good}, {"kind": "phone", "value": "12"}], "[1].value"),
        ([{"kind": "phone", "value": good}, {"kind": "fax", "value": "1"}], "[1].kind"),
        ([{"kind": "phone", "value": good, "expires_at": "soon"}], "[0].expires_at"),
        ([{"kind": "phone", "value": good, "expires_at": "2030-01-01T00:00"}], "[0].expires_at"),
        ([{"kind": "phone", "value": good, "colour": "red"}], "[0].colour"),
        ([{"kind": "phone"}], "[0].value"),
        (["phone"], "[0]"),
    ]:
        status, body = await api.request("POST", "/v1/dnc", json=entries)
        assert status == 422, (entries, body)
        assert body["field"] == field
    for body_json in ({"kind": "phone"}, []):
        status, _ = await api.request("POST", "/v1/dnc", json=body_json)
        assert status == 422
    status, _ = await api.request("GET", f"/v1/dnc/phone/{e164(good)}")
    assert status == 404
    status, body = await api.request("GET", "/v1/dnc/fax/123")
    assert (status, body["field"]) == (422, "kind")


async def test_a_dnc_csv_import_reports_its_rejected_lines(api: Api, uid: str) -> None:
    first, second, third = phone(uid, 3), phone(uid, 4), phone(uid, 5)
    csv = "\n".join(
        [
            "phone,email,expires_at,list_id",
            f"{first},,2020-01-01,",
            "not a phone,,,",
            f"{second},csv-{uid}@example.com,,national",
            f"{third},,someday,",
        ]
    )
    status, body = await api.request(
        "POST",
        "/v1/dnc?list_id=imported",
        data=csv,
        headers={"Content-Type": "text/csv"},
    )
    assert status == 202, body
    assert body["accepted"] == 3
    assert [r["line"] for r in body["rejected"]] == [3, 5]
    assert "not a valid phone number" in body["rejected"][0]["reason"]
    assert body["rejected"][1]["reason"].startswith("expires_at")
    assert e164(third)[3:] not in json.dumps(body["rejected"])  # no identities echoed

    status, expired = await api.request("GET", f"/v1/dnc/phone/{first}")
    assert status == 200
    assert (expired["active"], expired["list_id"]) == (False, "imported")
    status, listed = await api.request("GET", f"/v1/dnc/email/csv-{uid}@example.com")
    assert (status, listed["list_id"]) == (200, "national")
    status, _ = await api.request("GET", f"/v1/dnc/phone/{third}")
    assert status == 404

    status, body = await api.request(
        "POST", "/v1/dnc", data="name,phone\nx,1\n", headers={"Content-Type": "text/csv"}
    )
    assert (status, body["field"]) == (422, "header")


# -- the CLI --------------------------------------------------------------------------


async def touchline(*args: str, key: str | None = API_KEY) -> subprocess.CompletedProcess[str]:
    env = clean_env(**({"TOUCHLINE_API_KEY": key} if key else {}))
    return await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "streams", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


async def test_policy_apply_and_show_through_the_cli(
    api: Api, worker: HubWorker, tmp_path: Path, uid: str
) -> None:
    campaign = f"cli-{uid}"
    source = tmp_path / "policy.toml"
    source.write_text(
        f'campaign_id = "{campaign}"\n'
        "version = 1\n"
        'channels = ["VOICE"]\n'
        "[quiet_hours]\n"
        'start = "09:30"\n'
        'end = "19:00"\n'
        "[[frequency_caps]]\n"
        "max_contacts = 3\n"
        "days = 10\n"
    )
    applied = await touchline("policy", "apply", str(source), "--url", worker.url)
    assert applied.returncode == 0, applied.stderr
    assert campaign in applied.stdout
    assert "version 1" in applied.stdout

    # Applying the same file again changes nothing, and says so.
    again = await touchline("policy", "apply", str(source), "--url", worker.url)
    assert again.returncode == 0, again.stderr
    assert "unchanged" in again.stdout
    assert "version 1" in again.stdout and campaign in again.stdout
    # The same version with something else in it is a conflict.
    edited = tmp_path / "edited.toml"
    edited.write_text(source.read_text().replace("days = 10", "days = 11"))
    conflict = await touchline("policy", "apply", str(edited), "--url", worker.url)
    assert conflict.returncode == 1
    assert "409" in conflict.stderr
    assert "higher than the current version 1" in conflict.stderr

    shown = await touchline("policy", "show", campaign, "--url", worker.url)
    assert shown.returncode == 0, shown.stderr
    printed = json.loads(shown.stdout)
    assert printed["version"] == 1
    assert printed["quiet_hours"]["start"] == "09:30:00"
    assert printed["frequency_caps"] == [{"channel": None, "max_contacts": 3, "days": 10}]
    missing = await touchline("policy", "show", campaign, "--version", "7", "--url", worker.url)
    assert missing.returncode == 1
    assert "404" in missing.stderr

    # A mistake is found before anything is sent, and named by its field.
    broken = tmp_path / "broken.toml"
    broken.write_text(
        source.read_text().replace("version = 1", "version = 2").replace("09:30", "9h30")
    )
    refused = await touchline("policy", "apply", str(broken), "--url", worker.url)
    assert refused.returncode == 2
    assert "quiet_hours.start" in refused.stderr
    _, latest = await api.request("GET", f"/v1/campaigns/{campaign}/policy")
    assert latest["version"] == 1

    unauthorised = await touchline("policy", "show", campaign, "--url", worker.url, key=None)
    assert unauthorised.returncode == 1
    assert "401" in unauthorised.stderr
    unreachable = await touchline("policy", "show", campaign, "--url", "http://127.0.0.1:9")
    assert unreachable.returncode == 2
    assert "cannot reach" in unreachable.stderr


async def test_dnc_import_through_the_cli(
    api: Api, worker: HubWorker, tmp_path: Path, uid: str
) -> None:
    first, second = phone(uid, 6), phone(uid, 7)
    source = tmp_path / "dnc.csv"
    source.write_text(
        f"kind,value,expires_at\nphone,{first},\nphone,12,\nemail,cli-{uid}@example.com,2099-12-31\n"
        f"phone,{second},\n"
    )
    result = await touchline("dnc", "import", str(source), "--url", worker.url, "--list-id", "cli")
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "accepted 3, rejected 1"
    assert result.stderr.startswith("line 3: value: is not a valid phone number")
    assert e164(first)[3:] not in result.stderr + result.stdout
    status, entry = await api.request("GET", f"/v1/dnc/phone/{first}")
    assert (status, entry["list_id"]) == (200, "cli")
    status, entry = await api.request("GET", f"/v1/dnc/email/cli-{uid}@example.com")
    assert (status, entry["expires_at"]) == (200, "2100-01-01T00:00:00Z")

    clean = tmp_path / "clean.csv"
    clean.write_text(f"phone\n{phone(uid, 8)}\n")
    result = await touchline("dnc", "import", str(clean), "--url", worker.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "accepted 1, rejected 0"


async def test_who_applied_a_policy_is_the_key_never_the_body(api: Api, uid: str) -> None:
    campaign = f"spoof-{uid}"
    body = document(campaign, 1, applied_by="someone-else")
    assert (await put_policy(api, campaign, body))[0] == 202
    status, stored = await api.request("GET", f"/v1/campaigns/{campaign}/policy")
    assert status == 200
    assert stored["applied_by"] == "policy-desk"
