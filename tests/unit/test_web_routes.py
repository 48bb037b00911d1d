"""The HTTP API as the factory installs it (`streams.web.routes`): every path and method of
the public contract, the order that keeps fixed paths from being taken for ids, and policy
writes answered by the worker that owns the campaign's key. Real aiohttp requests against
an app built from a settings object; no broker is involved."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from faust.web.exceptions import ServiceUnavailable

from streams.app import create_app
from streams.config import Settings
from streams.domain.campaign_policy import parse_policy
from streams.domain.contact_facts import facts_from_state
from streams.domain.customer import CustomerState
from streams.processing.app import TouchlineApp
from streams.web import owners
from tests.factories import CUSTOMER

# (method, path) of every route: a public contract.
CONTRACT = {
    ("GET", "/v1/agents/{agent_id}/screen-pops"),
    ("GET", "/ui/"),
    ("GET", "/ui/agent/{agent_id}"),
    ("GET", "/ui/app.js"),
    ("GET", "/ui/app.css"),
    ("GET", "/ui"),
    ("POST", "/v1/interactions"),
    ("POST", "/v1/campaigns/{campaign_id}/targets"),
    ("GET", "/v1/campaigns/{campaign_id}/dial-list"),
    ("POST", "/v1/webhooks/sms/generic"),
    ("POST", "/v1/webhooks/voice/amazon-connect"),
    ("POST", "/v1/ivr/sessions"),
    ("POST", "/v1/contexts"),
    ("GET", "/v1/customers/by-identity"),
    ("GET", "/v1/customers/search"),
    ("GET", "/v1/internal/identity"),
    ("GET", "/v1/internal/names"),
    ("GET", "/v1/customers/{customer_id}/timeline"),
    ("POST", "/v1/customers/{customer_id}/merge"),
    ("POST", "/v1/customers/{customer_id}/unmerge"),
    ("GET", "/v1/contact-check"),
    ("GET", "/v1/customers/{customer_id}/decisions"),
    ("GET", "/v1/customers/{customer_id}"),
    ("GET", "/healthz"),
    ("GET", "/metrics"),
    ("GET", "/v1/campaigns/{campaign_id}/policy"),
    ("PUT", "/v1/campaigns/{campaign_id}/policy"),
    ("POST", "/v1/dnc"),
    ("GET", "/v1/dnc/{kind}/{value}"),
    ("DELETE", "/v1/dnc/{kind}/{value}"),
    ("POST", "/v1/webhooks/email/sendgrid/events"),
    ("POST", "/v1/webhooks/email/sendgrid/inbound"),
    ("POST", "/v1/webhooks/sms/twilio"),
    ("POST", "/v1/webhooks/sms/twilio/status"),
    ("POST", "/v1/webhooks/voice/twilio"),
}
OTHER_WORKER = "http://10.0.0.9:6066"


def hub_settings(data_dir: Path, **more: str) -> Settings:
    """A hub on the in-memory store, with a broker address nothing listens on."""
    return Settings.from_env(
        {
            "TOUCHLINE_STORE": "memory://",
            "TOUCHLINE_BROKER": "127.0.0.1:9",
            "TOUCHLINE_DATA_DIR": str(data_dir),
            **more,
        }
    )


@pytest.fixture
def app(tmp_path: Path) -> TouchlineApp:
    return create_app(hub_settings(tmp_path))


@pytest.fixture
async def client(app: TouchlineApp) -> AsyncIterator[TestClient[Any, Any]]:
    async with TestClient(TestServer(app.web.web_app)) as client:  # type: ignore[attr-defined]
        yield client


class Published:
    """Stands in for the adapter producer: what the views published."""

    def __init__(self) -> None:
        self.records: list[Any] = []

    async def get(self) -> Published:
        return self

    async def publish(self, batch: list[Any]) -> None:
        self.records.extend(batch)


@pytest.fixture
def published(app: TouchlineApp, monkeypatch: pytest.MonkeyPatch) -> Published:
    fake = Published()
    monkeypatch.setattr(app.web_parts, "producer", fake)
    return fake


def campaigns_owned_by(app: TouchlineApp, monkeypatch: pytest.MonkeyPatch, url: str) -> list[str]:
    """Every key of the customers table is owned by the worker at `url`; the keys asked
    about, in order."""
    reads = app.web_parts.reads
    asked: list[str] = []

    async def known(table: Any) -> None:
        return None

    def owner_url(table: Any, key: str) -> str:
        assert table is app.customers
        asked.append(key)
        return url

    monkeypatch.setattr(reads, "ensure_partition_metadata", known)
    monkeypatch.setattr(reads, "owner_url", owner_url)
    monkeypatch.setattr(app.policy_book, "catch_up", lambda *args: asyncio.sleep(0))
    return asked


def policy(version: int, campaign_id: str = "spring") -> dict[str, Any]:
    return {"campaign_id": campaign_id, "version": version, "purpose": "marketing"}


def test_every_path_and_method_of_the_contract_is_routed(app: TouchlineApp) -> None:
    routes = {
        (route.method, route.resource.canonical)
        for route in app.web.web_app.router.routes()  # type: ignore[attr-defined]
        if route.method != "HEAD" and route.resource is not None
    }
    assert routes == CONTRACT


def test_fixed_customer_paths_are_routed_before_the_customer_id(app: TouchlineApp) -> None:
    paths = [
        route.resource.canonical
        for route in app.web.web_app.router.routes()  # type: ignore[attr-defined]
        if route.resource is not None
    ]
    customer = paths.index("/v1/customers/{customer_id}")
    for fixed in ("/v1/customers/search", "/v1/customers/by-identity"):
        assert paths.index(fixed) < customer


async def test_a_search_is_answered_as_a_search_not_as_a_customer_id(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/v1/customers/search")
    assert response.status == 422
    assert (await response.json())["field"] == "q"
    response = await client.get("/v1/customers/by-identity?phone=1&email=a@example.com")
    assert response.status == 422
    assert (await response.json())["error"].startswith("give exactly one of phone=")


async def test_each_app_keeps_its_own_web_parts(tmp_path: Path, app: TouchlineApp) -> None:
    other = create_app(hub_settings(tmp_path / "other", TOUCHLINE_WEB_PORT="6067"))
    assert other.web_parts is not app.web_parts
    assert other.web_parts.policy_writes is not app.web_parts.policy_writes
    assert other.web_parts.reads.app is other


async def test_the_owner_of_the_campaign_key_checks_the_version_and_writes(
    app: TouchlineApp,
    client: TestClient[Any, Any],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = campaigns_owned_by(app, monkeypatch, str(app.conf.canonical_url))
    app.policy_book.current["spring"] = parse_policy(policy(2))

    response = await client.put(
        "/v1/campaigns/spring/policy", json={**policy(2), "purpose": "service"}
    )
    assert response.status == 409
    body = await response.json()
    assert (body["field"], body["current_version"]) == ("version", 2)
    assert published.records == []

    # The current policy itself, again: answered as an apply is, and nothing published.
    response = await client.put("/v1/campaigns/spring/policy", json=policy(2))
    assert response.status == 202
    assert await response.json() == {"campaign_id": "spring", "version": 2, "changed": False}
    assert published.records == []

    response = await client.put("/v1/campaigns/spring/policy", json=policy(3))
    assert response.status == 202
    assert await response.json() == {"campaign_id": "spring", "version": 3, "changed": True}
    (record,) = published.records
    assert (record.topic, record.key) == ("touchline.policies.v1", b"spring")
    assert asked == ["spring", "spring", "spring"]


async def test_writes_for_a_campaign_owned_elsewhere_are_forwarded_with_their_body(
    app: TouchlineApp,
    client: TestClient[Any, Any],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    campaigns_owned_by(app, monkeypatch, OTHER_WORKER)
    forwarded: list[tuple[str, str, bytes]] = []

    async def forward(app_: Any, url: str, view: Any, request: Any, body: bytes) -> Any:
        forwarded.append((url, request.method, body))
        return view.json({"campaign_id": "spring", "version": 3}, status=202)

    monkeypatch.setattr(owners, "_forward", forward)
    response = await client.put("/v1/campaigns/spring/policy", json=policy(3))
    assert response.status == 202
    ((url, method, body),) = forwarded
    assert (url, method) == (OTHER_WORKER, "PUT")
    assert b'"version": 3' in body or b'"version":3' in body
    assert published.records == []  # the owner writes, not this worker
    assert not app.web_parts.policy_writes.locked()


async def test_a_bad_policy_is_refused_where_it_arrives(
    app: TouchlineApp, client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    asked = campaigns_owned_by(app, monkeypatch, OTHER_WORKER)
    response = await client.put("/v1/campaigns/spring/policy", json={"version": 0})
    assert response.status == 422
    assert (await response.json())["field"] == "version"
    assert asked == []


async def test_a_policy_write_waits_for_the_campaign_key_to_have_an_owner(
    app: TouchlineApp, client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaigns_owned_by(app, monkeypatch, OTHER_WORKER)

    def no_owner(table: Any, key: str) -> str:
        raise KeyError(key)

    monkeypatch.setattr(app.web_parts.reads, "owner_url", no_owner)
    response = await client.put("/v1/campaigns/spring/policy", json=policy(3))
    assert response.status == ServiceUnavailable.code


async def test_a_forwarded_write_reaches_the_owner_with_its_body_and_key(
    app: TouchlineApp, client: TestClient[Any, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[str, str, str | None, bytes]] = []

    async def owner_worker(request: web.Request) -> web.Response:
        body = await request.read()
        seen.append((request.method, request.path, request.headers.get("Authorization"), body))
        return web.json_response({"campaign_id": "spring", "version": 3}, status=202)

    other = web.Application()
    other.router.add_put("/v1/campaigns/{campaign_id}/policy", owner_worker)
    async with TestServer(other) as server:
        campaigns_owned_by(app, monkeypatch, f"http://127.0.0.1:{server.port}")
        response = await client.put(
            "/v1/campaigns/spring/policy",
            json=policy(3),
            headers={"Authorization": "Bearer k-1"},
        )
        assert response.status == 202
        assert await response.json() == {"campaign_id": "spring", "version": 3}
    ((method, path, authorization, body),) = seen
    assert (method, path, authorization) == ("PUT", "/v1/campaigns/spring/policy", "Bearer k-1")
    assert json.loads(body) == policy(3)
    await app.http_client.close()


def test_owned_reads_see_a_state_whose_write_waits_for_its_decisions(app: TouchlineApp) -> None:
    reads = app.web_parts.reads
    assert reads.customer_state(CUSTOMER) is None
    assert reads.contact_facts(CUSTOMER) is None
    state = CustomerState(customer_id=CUSTOMER)
    app.processing.outbox.put(app.customers, CUSTOMER, state)
    assert reads.customer_state(CUSTOMER) is state
    assert reads.contact_facts(CUSTOMER) == facts_from_state(state)


# -- merge and unmerge requests ------------------------------------------------------------


def customers_known_here(app: TouchlineApp, *customer_ids: str) -> None:
    for customer_id in customer_ids:
        app.processing.outbox.put(
            app.customers, customer_id, CustomerState(customer_id=customer_id)
        )


@pytest.mark.parametrize("verb", ["merge", "unmerge"])
async def test_a_merge_of_an_unknown_customer_gets_404_naming_it(
    app: TouchlineApp,
    client: TestClient[Any, Any],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
) -> None:
    campaigns_owned_by(app, monkeypatch, str(app.conf.canonical_url))
    customers_known_here(app, "c-known")

    response = await client.post(f"/v1/customers/c-known/{verb}", json={"absorbed_id": "c-none"})
    assert response.status == 404
    assert await response.json() == {
        "error": "no customer c-none",
        "field": "absorbed_id",
        "customer_id": "c-none",
    }
    response = await client.post(f"/v1/customers/c-none/{verb}", json={"absorbed_id": "c-known"})
    assert response.status == 404
    body = await response.json()
    assert (body["field"], body["customer_id"]) == ("customer_id", "c-none")
    assert published.records == []
    # A bad body is still a 422, before anything is looked up.
    response = await client.post(f"/v1/customers/c-none/{verb}", json={"absorbed_id": "c-none"})
    assert response.status == 422


@pytest.mark.parametrize(("verb", "id_field"), [("merge", "merge_id"), ("unmerge", "unmerge_id")])
async def test_a_merge_of_two_known_customers_is_published_as_before(
    app: TouchlineApp,
    client: TestClient[Any, Any],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
    verb: str,
    id_field: str,
) -> None:
    campaigns_owned_by(app, monkeypatch, str(app.conf.canonical_url))
    customers_known_here(app, "c-1", "c-2")
    response = await client.post(f"/v1/customers/c-1/{verb}", json={"absorbed_id": "c-2"})
    assert response.status == 202
    body = await response.json()
    assert body == {id_field: body[id_field], "survivor_id": "c-1", "absorbed_id": "c-2"}
    (record,) = published.records
    assert record.topic == app.internal_topics.customer_commands


async def test_the_absorbed_customer_is_asked_of_the_worker_that_owns_it(
    app: TouchlineApp,
    client: TestClient[Any, Any],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[tuple[str, str | None]] = []

    async def customer_view(request: web.Request) -> web.Response:
        customer_id = request.match_info["customer_id"]
        asked.append((customer_id, request.headers.get("Authorization")))
        if customer_id == "c-there":
            return web.json_response({"customer_id": customer_id})
        return web.json_response({"error": f"no customer {customer_id}"}, status=404)

    other = web.Application()
    other.router.add_get("/v1/customers/{customer_id}", customer_view)
    async with TestServer(other) as server:
        here, there = str(app.conf.canonical_url), f"http://127.0.0.1:{server.port}"
        reads = app.web_parts.reads
        monkeypatch.setattr(reads, "ensure_partition_metadata", lambda table: asyncio.sleep(0))
        monkeypatch.setattr(
            reads, "owner_url", lambda table, key: here if key == "c-here" else there
        )
        customers_known_here(app, "c-here")
        headers = {"Authorization": "Bearer k-1"}
        response = await client.post(
            "/v1/customers/c-here/merge", json={"absorbed_id": "c-gone"}, headers=headers
        )
        assert response.status == 404
        assert (await response.json())["field"] == "absorbed_id"
        assert published.records == []
        response = await client.post(
            "/v1/customers/c-here/merge", json={"absorbed_id": "c-there"}, headers=headers
        )
        assert response.status == 202
        assert len(published.records) == 1
    assert asked == [("c-gone", "Bearer k-1"), ("c-there", "Bearer k-1")]
    await app.http_client.close()


async def test_a_merge_is_forwarded_with_its_body_to_the_survivors_owner(
    app: TouchlineApp,
    client: TestClient[Any, Any],
    published: Published,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked = campaigns_owned_by(app, monkeypatch, OTHER_WORKER)
    forwarded: list[tuple[str, str, bytes]] = []

    async def forward(app_: Any, url: str, view: Any, request: Any, body: bytes) -> Any:
        forwarded.append((url, request.method, body))
        return view.json({"merge_id": "m", "survivor_id": "c-1", "absorbed_id": "c-2"}, status=202)

    monkeypatch.setattr(owners, "_forward", forward)
    response = await client.post("/v1/customers/c-1/merge", json={"absorbed_id": "c-2"})
    assert response.status == 202
    ((url, method, body),) = forwarded
    assert (url, method, json.loads(body)) == (OTHER_WORKER, "POST", {"absorbed_id": "c-2"})
    assert asked == ["c-1"]
    assert published.records == []  # the owner publishes, not this worker
