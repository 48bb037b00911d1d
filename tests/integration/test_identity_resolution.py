"""Identity resolution on the real broker: links that join profiles merge them, an unmerge
undoes it with both timelines intact, guards keep shared numbers apart, and any of two
workers finds a customer by identity, by name or by id."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from streams.kafka.local import LocalKafka
from tests.hub import Api, HubWorker, eventually, worker_pair

pytestmark = pytest.mark.kafka

API_KEY = "k-resolution"
ENV = {"TOUCHLINE_API_KEYS": f"{API_KEY}:admin", "TOUCHLINE_DEFAULT_REGION": "TR"}


@pytest.fixture(scope="module")
def worker(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    with HubWorker(
        kafka.bootstrap, "resolution", tmp_path_factory.mktemp("resolution"), env=ENV
    ) as hub:
        yield hub


def phone(uid: str, n: int) -> str:
    return f"+90532{(int(uid, 16) * 7 + n) % 10_000_000:07d}"


def event(
    customer: dict[str, str],
    payload: dict[str, Any],
    *,
    minutes_ago: float,
    channel: str = "WEB",
    direction: str = "INBOUND",
    event_id: str | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "occurred_at": (datetime.now(UTC) - timedelta(minutes=minutes_ago)).isoformat(),
        "channel": channel,
        "direction": direction,
        "customer": customer,
        "payload": payload,
    }
    if event_id:
        body["event_id"] = event_id
    return body


async def post(api: Api, *events: dict[str, Any]) -> None:
    status, body = await api.request("POST", "/v1/interactions", json=list(events))
    assert status == 202, body


async def view(api: Api, customer_id: str) -> tuple[int, Any]:
    return await api.request("GET", f"/v1/customers/{customer_id}")


def timeline_ids(body: dict[str, Any]) -> set[str]:
    return {entry["event_id"] for entry in body["timeline"]}


async def test_a_link_merges_two_profiles_and_an_unmerge_restores_both(api: Api, uid: str) -> None:
    first, second = f"ra-{uid}", f"rb-{uid}"
    first_phone, second_email = phone(uid, 1), f"rb-{uid}@example.com"
    campaign = f"res-{uid}"
    await post(
        api,
        event(
            {"customer_id": first, "phone": first_phone},
            {"type": "ProfileUpdate", "fields": {"name": f"Ayşe {uid} Yılmaz"}},
            minutes_ago=60,
            event_id=f"a1-{uid}",
        ),
        event(
            {"customer_id": second, "email": second_email},
            {"type": "Purchase", "amount": "120.50", "currency": "TRY"},
            minutes_ago=50,
            channel="BRANCH",
            event_id=f"b1-{uid}",
        ),
    )
    status, _ = await api.request(
        "POST",
        f"/v1/campaigns/{campaign}/targets",
        json=[{"customer_id": second, "phone": phone(uid, 2)}],
    )
    assert status == 202
    await eventually(lambda: view(api, first), lambda r: r[0] == 200)
    await eventually(lambda: view(api, second), lambda r: r[0] == 200 and r[1]["targets"])
    _, before = await view(api, second)
    assert before["merged_into"] is None

    # The second customer logs in on the web with the first customer's phone: one person.
    await post(
        api,
        event(
            {"customer_id": second, "phone": first_phone},
            {"type": "Message", "text": "logged in"},
            minutes_ago=40,
            event_id=f"b2-{uid}",
        ),
    )
    # The phone was the first customer's first: that profile survives.
    _, merged = await eventually(
        lambda: view(api, first), lambda r: r[0] == 200 and r[1]["merges"], timeout=60
    )
    assert [m["absorbed_customer_id"] for m in merged["merges"]] == [second]
    assert {f"a1-{uid}", f"b1-{uid}"} <= timeline_ids(merged)
    assert second_email in merged["emails"]
    assert merged["purchases"]["count"] == 1
    _, absorbed = await eventually(
        lambda: view(api, second), lambda r: r[1]["merged_into"] == first
    )
    # The absorbed profile is kept as it was, so the merge can be undone.
    assert f"b1-{uid}" in timeline_ids(absorbed)
    # Found by the absorbed profile's e-mail, the survivor answers.
    status, found = await eventually(
        lambda: api.request("GET", "/v1/customers/by-identity", params={"email": second_email}),
        lambda r: r[0] == 200 and r[1]["customer_id"] == first,
    )
    assert found["matched_by"] == "email"
    # The absorbed profile's campaign target came along: the survivor is on that dial list.
    await eventually(
        lambda: api.request("GET", f"/v1/campaigns/{campaign}/dial-list"),
        lambda r: [e["customer_id"] for e in r[1]["entries"]] == [first],
    )
    # What happens after the merge lands on the survivor.
    await post(
        api,
        event(
            {"customer_id": second},
            {"type": "Message", "text": "after the merge"},
            minutes_ago=30,
            event_id=f"b3-{uid}",
        ),
    )
    await eventually(lambda: view(api, first), lambda r: f"b3-{uid}" in timeline_ids(r[1]))

    status, body = await api.request(
        "POST", f"/v1/customers/{first}/unmerge", json={"absorbed_id": second}
    )
    assert status == 202, body
    _, restored = await eventually(
        lambda: view(api, second), lambda r: r[1]["merged_into"] is None, timeout=60
    )
    assert f"b1-{uid}" in timeline_ids(restored)
    assert restored["purchases"]["count"] == 1
    _, survivor = await eventually(lambda: view(api, first), lambda r: not r[1]["merges"])
    assert f"a1-{uid}" in timeline_ids(survivor)
    assert f"b1-{uid}" not in timeline_ids(survivor)
    assert f"b3-{uid}" in timeline_ids(survivor)  # after the merge: stays with the survivor
    assert survivor["purchases"]["count"] == 0
    assert second_email not in survivor["emails"]
    await eventually(
        lambda: api.request("GET", "/v1/customers/by-identity", params={"email": second_email}),
        lambda r: r[0] == 200 and r[1]["customer_id"] == second,
    )
    await eventually(
        lambda: api.request("GET", f"/v1/campaigns/{campaign}/dial-list"),
        lambda r: [e["customer_id"] for e in r[1]["entries"]] == [second],
    )


async def test_an_anonymous_caller_joins_the_customer_who_claims_the_number(
    api: Api, uid: str
) -> None:
    customer, number = f"rc-{uid}", phone(uid, 3)
    # An inbound SMS from a number nobody has claimed: an anonymous profile keeps it.
    await post(
        api,
        event(
            {"phone": number},
            {"type": "Message", "text": "hello?"},
            minutes_ago=20,
            channel="SMS",
            event_id=f"anon-sms-{uid}",
        ),
    )
    _, anonymous = await eventually(
        lambda: api.request("GET", "/v1/customers/by-identity", params={"phone": number}),
        lambda r: r[0] == 200,
    )
    assert anonymous["customer_id"].startswith("anon-")
    await post(
        api,
        event(
            {"customer_id": customer, "phone": number},
            {"type": "ProfileUpdate", "fields": {"name": "Mehmet Kaya"}},
            minutes_ago=10,
            event_id=f"claim-{uid}",
        ),
    )
    # A known customer id always survives an anonymous profile, with its history.
    _, merged = await eventually(
        lambda: view(api, customer),
        lambda r: r[0] == 200 and f"anon-sms-{uid}" in timeline_ids(r[1]),
        timeout=60,
    )
    assert [m["absorbed_customer_id"] for m in merged["merges"]] == [anonymous["customer_id"]]
    await eventually(
        lambda: api.request("GET", "/v1/customers/by-identity", params={"phone": number}),
        lambda r: r[0] == 200 and r[1]["customer_id"] == customer,
    )


async def test_a_placeholder_number_never_joins_two_customers(api: Api, uid: str) -> None:
    one, two = f"rd-{uid}", f"re-{uid}"
    for n, customer in enumerate((one, two)):
        await post(
            api,
            event(
                {"customer_id": customer, "phone": "+905555555555"},
                {"type": "Message", "text": "branch walk-in"},
                minutes_ago=5 - n,
                channel="BRANCH",
                event_id=f"ph-{n}-{uid}",
            ),
        )
    for customer in (one, two):
        await eventually(lambda c=customer: view(api, c), lambda r: r[0] == 200)
    # Give a merge, if one were (wrongly) asked for, time to happen.
    await post(
        api,
        event({"customer_id": one}, {"type": "Message", "text": "x"}, minutes_ago=1),
    )
    _, body = await eventually(lambda: view(api, one), lambda r: len(r[1]["timeline"]) == 2)
    assert body["merges"] == [] and body["merged_into"] is None
    _, other = await view(api, two)
    assert other["merges"] == [] and other["merged_into"] is None
    status, _ = await api.request(
        "GET", "/v1/customers/by-identity", params={"phone": "+905555555555"}
    )
    assert status == 404


async def test_lookups_name_the_bad_parameter(api: Api) -> None:
    status, body = await api.request("GET", "/v1/customers/by-identity", params={"phone": "12"})
    assert status == 422 and body["field"] == "phone"
    status, body = await api.request("GET", "/v1/customers/by-identity")
    assert status == 422
    status, body = await api.request("GET", "/v1/customers/search")
    assert status == 422 and body["field"] == "q"
    status, body = await api.request("POST", "/v1/customers/x/unmerge", json={"absorbed_id": "x"})
    assert status == 422 and body["field"] == "absorbed_id"
    status, body = await api.request("GET", "/v1/customers/nobody-at-all/timeline")
    assert status == 404


async def test_any_of_two_workers_finds_a_customer_by_id_identity_and_name(
    kafka: LocalKafka, topics_ready: str, tmp_path: Path, http: aiohttp.ClientSession, uid: str
) -> None:
    app_id = f"pair-res-{uid}"
    with worker_pair(kafka.bootstrap, app_id, tmp_path, ENV) as (first, second):
        apis = [Api(http, first.url, API_KEY), Api(http, second.url, API_KEY)]
        customers = [f"rf{i}-{uid}" for i in range(12)]
        await post(
            apis[0],
            *[
                event(
                    {"customer_id": c, "phone": phone(uid, 10 + i), "email": f"{c}@example.com"},
                    {"type": "ProfileUpdate", "fields": {"name": f"Zeynep {uid} Demir{i}"}},
                    minutes_ago=5,
                    event_id=f"pf-{c}",
                )
                for i, c in enumerate(customers)
            ],
        )
        for i, customer in enumerate(customers):
            answers = []
            for api in apis:
                _, by_id = await eventually(
                    lambda api=api, c=customer: view(api, c),
                    lambda r: r[0] == 200 and r[1]["profile"]["name"],
                    timeout=60,
                )
                _, by_phone = await eventually(
                    lambda api=api, i=i: api.request(
                        "GET", "/v1/customers/by-identity", params={"phone": phone(uid, 10 + i)}
                    ),
                    lambda r: r[0] == 200,
                    timeout=60,
                )
                _, timeline = await api.request("GET", f"/v1/customers/{customer}/timeline")
                _, contact = await api.request(
                    "GET",
                    "/v1/contact-check",
                    params={"customer_id": customer, "campaign_id": "any", "channel": "EMAIL"},
                )
                answers.append(
                    (
                        by_id["customer_id"],
                        by_phone["customer_id"],
                        timeline["entries"],
                        (contact["allowed"], contact["known_customer"], contact["reasons"]),
                    )
                )
            assert answers[0] == answers[1]
            assert answers[0][:2] == (customer, customer)
            assert answers[0][3] == (True, True, [])  # the contact check, from either worker
            assert [e["event_id"] for e in answers[0][2]] == [f"pf-{customer}"]
        for api in apis:
            _, found = await eventually(
                lambda api=api: api.request(
                    "GET", "/v1/customers/search", params={"q": f"zeynep {uid}"}
                ),
                lambda r: r[0] == 200 and len(r[1]["results"]) == len(customers),
                timeout=60,
            )
            assert {r["customer_id"] for r in found["results"]} == set(customers)
            _, exact = await api.request(
                "GET", "/v1/customers/search", params={"q": f"Zeynep {uid} DEMİR3"}
            )
            assert exact["results"][0]["customer_id"] == customers[3]
            _, by_mail = await api.request(
                "GET", "/v1/customers/search", params={"q": f"{customers[5]}@Example.com"}
            )
            assert [r["customer_id"] for r in by_mail["results"]] == [customers[5]]


async def test_a_merge_or_unmerge_with_an_unknown_customer_gets_404_naming_it(
    api: Api, uid: str
) -> None:
    known, nobody = f"rk-{uid}", f"nobody-{uid}"
    await post(api, event({"customer_id": known}, {"type": "Message", "text": "hi"}, minutes_ago=1))
    await eventually(lambda: view(api, known), lambda r: r[0] == 200)
    for verb in ("merge", "unmerge"):
        status, body = await api.request(
            "POST", f"/v1/customers/{known}/{verb}", json={"absorbed_id": nobody}
        )
        assert status == 404, body
        assert (body["field"], body["customer_id"]) == ("absorbed_id", nobody)
        assert nobody in body["error"]
        status, body = await api.request(
            "POST", f"/v1/customers/{nobody}/{verb}", json={"absorbed_id": known}
        )
        assert status == 404, body
        assert (body["field"], body["customer_id"]) == ("customer_id", nobody)
    # Nothing was asked of the known customer.
    _, body = await view(api, known)
    assert body["merges"] == [] and body["merged_into"] is None


async def test_two_workers_merge_known_customers_and_refuse_unknown_ones(
    kafka: LocalKafka, topics_ready: str, tmp_path: Path, http: aiohttp.ClientSession, uid: str
) -> None:
    # The survivor's worker reads the survivor; the absorbed customer is asked of its own
    # worker, which with two of them is the other one about half the time.
    app_id = f"pair-merge-{uid}"
    with worker_pair(kafka.bootstrap, app_id, tmp_path, ENV) as (first, second):
        apis = [Api(http, first.url, API_KEY), Api(http, second.url, API_KEY)]
        customers = [f"rm{i}-{uid}" for i in range(8)]
        await post(
            apis[0],
            *[
                event({"customer_id": c}, {"type": "Message", "text": "hi"}, minutes_ago=5)
                for c in customers
            ],
        )
        for customer in customers:
            for api in apis:
                await eventually(
                    lambda api=api, c=customer: view(api, c), lambda r: r[0] == 200, timeout=60
                )
        for api in apis:
            for customer in customers:
                status, body = await api.request(
                    "POST", f"/v1/customers/{customer}/merge", json={"absorbed_id": f"no-{uid}"}
                )
                assert (status, body.get("field")) == (404, "absorbed_id"), body
        pairs = list(zip(customers[::2], customers[1::2], strict=True))
        for n, (survivor, absorbed) in enumerate(pairs):
            status, body = await apis[n % 2].request(
                "POST", f"/v1/customers/{survivor}/merge", json={"absorbed_id": absorbed}
            )
            assert status == 202, body
            assert set(body) == {"merge_id", "survivor_id", "absorbed_id"}
            assert (body["survivor_id"], body["absorbed_id"]) == (survivor, absorbed)
        for n, (survivor, absorbed) in enumerate(pairs):
            api = apis[(n + 1) % 2]
            await eventually(
                lambda api=api, s=survivor: view(api, s),
                lambda r, a=absorbed: [m["absorbed_customer_id"] for m in r[1]["merges"]] == [a],
                timeout=60,
            )
