"""The agent desktop in a real browser (Debian's Chromium driven by Playwright) against a hub
worker on the real broker: search and the 360 view, the remembered section layout, and a
screen pop from a call that names the agent."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

from tests.hub import REPO, Api, HubWorker, eventually

pytestmark = pytest.mark.kafka

API_KEY = "desk-test-key"  # the agent's, typed into the page
# The telephony and CRM systems that publish the calls and interactions.
PUBLISHER_KEY = "publisher-key"
CHROMIUM = Path("/usr/bin/chromium")
# Playwright's defaults plus what a closed network and a root user need: without the
# background-networking flags Chromium keeps trying hosts it cannot reach.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts"
VIEWPORT = {"width": 1366, "height": 768}
# The page's sections, in their default order (SECTIONS in streams/web/ui/app.js).
DEFAULT_ORDER = [
    "profile",
    "identities",
    "purchases",
    "contact_history",
    "flags",
    "offers",
    "campaigns",
    "consents",
    "contexts",
    "timeline",
]


@pytest.fixture(scope="module")
async def hub(
    topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[HubWorker]:
    suffix = random.randrange(16**6)
    worker = HubWorker(
        topics_ready,
        f"desk-{suffix:06x}",
        tmp_path_factory.mktemp("desk"),
        env={"TOUCHLINE_API_KEYS": f"{API_KEY}:agent,{PUBLISHER_KEY}:operator"},
    )
    await asyncio.to_thread(worker.start)
    try:
        yield worker
    finally:
        code = await asyncio.to_thread(worker.stop)
        assert code == 0, worker.log_tail()


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Any]:
    # Imported here so that a missing Playwright fails these tests, not the whole collection.
    from playwright.async_api import Error, async_playwright

    if not CHROMIUM.exists():
        pytest.fail(
            f"no browser at {CHROMIUM}: run scripts/bootstrap (it installs Debian's chromium) "
            "or apt-get install -y chromium",
            pytrace=False,
        )
    async with async_playwright() as playwright:
        try:
            launched = await playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
        except Error as exc:
            pytest.fail(f"Chromium did not start: {exc}", pytrace=False)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def api(http: aiohttp.ClientSession, hub: HubWorker) -> Api:
    return Api(http, hub.url, PUBLISHER_KEY)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


@pytest.fixture(scope="module")
async def customer(hub: HubWorker, http: aiohttp.ClientSession) -> dict[str, Any]:
    """A customer with a name, a purchase and a complaint, folded into the hub's state."""
    api = Api(http, hub.url, PUBLISHER_KEY)
    suffix = random.randrange(10**7)
    seeded = {
        "customer_id": f"desk-c-{suffix:07d}",
        "phone": f"+90532{suffix:07d}",
        "name": "Ayşe Yılmaz",
    }
    ref = {"customer_id": seeded["customer_id"], "phone": seeded["phone"]}
    events = [
        {
            "occurred_at": _now(),
            "channel": "WEB",
            "direction": "INBOUND",
            "customer": ref,
            "payload": {
                "type": "ProfileUpdate",
                "fields": {"name": seeded["name"], "city": "İzmir"},
            },
        },
        {
            "occurred_at": _now(),
            "channel": "BRANCH",
            "direction": "INBOUND",
            "customer": ref,
            "payload": {
                "type": "Purchase",
                "amount": "249.90",
                "currency": "TRY",
                "product": "card",
            },
        },
        {
            "occurred_at": _now(),
            "channel": "CHAT",
            "direction": "INBOUND",
            "customer": ref,
            "payload": {"type": "Complaint", "category": "billing", "severity": "high"},
        },
    ]
    status, body = await api.request("POST", "/v1/interactions", json=events)
    assert status == 202, body
    await eventually(
        lambda: api.request("GET", f"/v1/customers/{seeded['customer_id']}"),
        lambda answer: answer[0] == 200 and answer[1].get("events_applied", 0) >= 3,
        timeout=60,
    )
    return seeded


async def _search_query(api: Api, customer: dict[str, Any]) -> str:
    """What to type: the name when the hub has its search, else the phone, looked up by
    identity. While neither endpoint exists, the page's last resort: the customer id."""
    status, _ = await api.request("GET", "/v1/customers/search?q=x")
    if status == 200:
        return str(customer["name"])
    phone = str(customer["phone"])
    status, body = await api.request("GET", f"/v1/customers/by-identity?phone={quote(phone)}")
    if status == 200 and body.get("customer_id") == customer["customer_id"]:
        return phone
    print("neither /v1/customers/search nor /by-identity exists: searching by customer id")
    return str(customer["customer_id"])


async def _enter_key(page: Any) -> None:
    from playwright.async_api import expect

    dialog = page.get_by_role("dialog", name="API key")
    await expect(dialog).to_be_visible()
    await dialog.get_by_label("API key").fill(API_KEY)
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()


async def _rendered_sections(page: Any) -> list[str]:
    return await page.locator("#customer-body section.card").evaluate_all(
        "cards => cards.map(card => card.dataset.section)"
    )


async def test_pages_are_served_without_a_key_and_the_stream_needs_one(
    hub: HubWorker, http: aiohttp.ClientSession
) -> None:
    for path, kind in (
        ("/ui/", "text/html"),
        ("/ui/agent/a-1", "text/html"),
        ("/ui/app.js", "text/javascript"),
        ("/ui/app.css", "text/css"),
    ):
        async with http.get(hub.url + path) as response:
            assert response.status == 200, path
            assert response.content_type == kind
            assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    async with http.get(hub.url + "/ui", allow_redirects=False) as response:
        assert response.status == 308 and response.headers["Location"] == "/ui/"
    async with http.get(hub.url + "/v1/agents/a-1/screen-pops") as response:
        assert response.status == 401
    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with http.get(hub.url + "/v1/agents/a-1/screen-pops", headers=headers) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        seen = b""
        while b"event: ready" not in seen:
            seen += await asyncio.wait_for(response.content.readany(), 30)
        assert b'data: {"agent_id":"a-1"}' in seen


async def test_search_view_and_remembered_sections(
    browser: Any, hub: HubWorker, api: Api, customer: dict[str, Any]
) -> None:
    from playwright.async_api import expect

    query = await _search_query(api, customer)
    status, view = await api.request("GET", f"/v1/customers/{customer['customer_id']}")
    assert status == 200
    context = await browser.new_context(viewport=VIEWPORT, reduced_motion="reduce")
    try:
        page = await context.new_page()
        await page.goto(f"{hub.url}/ui/")
        await page.get_by_label("Name, phone, e-mail or account").fill(query)
        await page.get_by_role("button", name="Search", exact=True).click()
        await _enter_key(page)  # the search answered 401: the page asks, then goes on
        result = page.locator(f"#search-results [data-customer-id='{customer['customer_id']}']")
        await expect(result).to_be_visible(timeout=15_000)
        await result.click()

        header = page.locator(".customer-header")
        await expect(header.locator("[data-field=customer-id]")).to_have_text(
            customer["customer_id"]
        )
        if "profile" in view:
            await expect(page.locator("#customer-heading")).to_have_text(customer["name"])
        sections = await _rendered_sections(page)
        assert "identities" in sections
        await expect(page.locator("#customer-body [data-section=identities]")).to_contain_text(
            customer["phone"]
        )
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "agent-desktop-view.png"))

        # Hide one section, and move another up twice, with the keyboard.
        await page.get_by_role("button", name="Customise view").click()
        await page.get_by_role("checkbox", name="Identities").uncheck()
        mover = page.get_by_role("button", name="Move Campaigns and suppressions up")
        await mover.focus()
        await page.keyboard.press("Enter")
        await expect(mover).to_be_focused()  # focus follows the moved section
        await page.keyboard.press("Enter")
        await expect(page.locator("#customer-body [data-section=identities]")).to_have_count(0)
        order = [s for s in DEFAULT_ORDER if s != "campaigns"]
        order.insert(DEFAULT_ORDER.index("campaigns") - 2, "campaigns")
        expected = [s for s in order if s in sections and s != "identities"]
        assert await _rendered_sections(page) == expected

        await page.reload()  # the key (session storage) and the customer (the address) stay
        await expect(header.locator("[data-field=customer-id]")).to_have_text(
            customer["customer_id"]
        )
        assert await _rendered_sections(page) == expected
        await page.get_by_role("button", name="Customise view").click()
        await expect(page.get_by_role("checkbox", name="Identities")).not_to_be_checked()
        rows = page.locator("#section-list li")
        assert await rows.evaluate_all("rows => rows.map(row => row.dataset.section)") == order
    finally:
        await context.close()


async def test_a_call_for_the_agent_pops_the_callers_view(
    browser: Any, hub: HubWorker, api: Api, customer: dict[str, Any]
) -> None:
    from playwright.async_api import expect

    agent = f"agent-{random.randrange(16**6):06x}"
    status, view = await api.request("GET", f"/v1/customers/{customer['customer_id']}")
    assert status == 200
    context = await browser.new_context(viewport=VIEWPORT, reduced_motion="reduce")
    try:
        page = await context.new_page()
        await page.goto(f"{hub.url}/ui/agent/{agent}")
        await _enter_key(page)  # a new tab has no key: the stream answered 401
        await expect(page.locator("#live-state")).to_have_attribute(
            "data-state", "live", timeout=30_000
        )

        call_id = f"CA{random.randrange(10**8)}"
        event = {
            "event_id": f"{call_id}:in-progress",
            "occurred_at": _now(),
            "channel": "VOICE",
            "direction": "INBOUND",
            "customer": {"customer_id": customer["customer_id"], "phone": customer["phone"]},
            "payload": {"type": "ContactAttempt", "outcome": "answered"},
            "call": {"call_id": call_id, "status": "in-progress", "agent_id": agent},
        }
        status, body = await api.request("POST", "/v1/interactions", json=event)
        accepted = time.monotonic()
        assert status == 202, body

        await expect(page.locator("#pop-banner [data-field=pop-customer]")).to_have_text(
            customer["customer_id"], timeout=15_000
        )
        await expect(page.locator(".customer-header [data-field=customer-id]")).to_have_text(
            customer["customer_id"], timeout=15_000
        )
        shown = time.monotonic() - accepted
        print(f"screen pop shown {shown * 1000:.0f} ms after the hub accepted the call event")
        await expect(page.locator("#pop-banner")).to_contain_text(call_id)
        if "profile" in view:
            await expect(page.locator("#customer-heading")).to_have_text(customer["name"])
        await expect(page.locator("#announcer")).to_contain_text("Screen pop")
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "agent-desktop-screen-pop.png"))
        # Generous for a loaded 2-core machine; the aim is well under a second.
        assert shown < 5.0, f"the pop took {shown:.1f} s"
    finally:
        await context.close()


FULL_VIEW: dict[str, Any] = {
    "customer_id": "c-full",
    "phones": ["+905321234567"],
    "emails": ["ayse@example.com"],
    "identities": {
        "phones": ["+905321234567"],
        "emails": ["ayse@example.com"],
        "accounts": ["TR12 0006 2000 1234"],
        "devices": ["ios:ABC"],
        "social": [],
    },
    "profile": {
        "name": "Ayşe Yılmaz",
        "birth_date": "1990-04-01",
        "age": 36,
        "city": "İzmir",
        "country": "TR",
        "language": "tr",
        "preferred_channel": "SMS",
        "form_of_address": "Hanım",
        "timezone": "Europe/Istanbul",
        "extra": {"segment": "retail"},
    },
    "purchases": {
        "customer_since": "2024-02-01T09:00:00Z",
        "count": 4,
        "totals": {"TRY": "1249.90", "EUR": "20.00"},
        "last": {
            "at": "2026-11-20T12:00:00Z",
            "amount": "249.90",
            "currency": "TRY",
            "product": "card",
        },
        "products": ["card", "loan"],
    },
    "contact_history": {
        "channels": {
            "SMS": {
                "inbound": 2,
                "outbound": 5,
                "last_contact_at": "2026-11-22T08:00:00Z",
                "last_7d": 1,
                "last_30d": 4,
                "last_90d": 7,
            },
            "VOICE": {
                "inbound": 1,
                "outbound": 0,
                "last_contact_at": None,
                "last_7d": 0,
                "last_30d": 1,
                "last_90d": 1,
            },
        },
        "repeat_24h": True,
        "repeat_7d": 3,
        "preferred_channel": {"channel": "SMS", "rule": "most inbound in 90 days"},
    },
    "flags": {
        "complaints": {
            "count": 2,
            "last_at": "2026-11-21T10:00:00Z",
            "open": 1,
            "recent": [{"category": "billing", "severity": "high"}],
        },
        "abusive_language": {"count": 0, "last_at": None},
        "overdue": {"amount": "120.00", "currency": "TRY", "since": "2026-10-01", "days": 53},
    },
    "offers_by_campaign": {
        "spring-loan": [
            {
                "offer_id": "o-1",
                "channel": "SMS",
                "presented_at": "2026-11-20T10:00:00Z",
                "response": "ACCEPTED",
                "responded_at": "2026-11-20T10:05:00Z",
            }
        ],
    },
    "offers": [],
    "consents": [
        {
            "channel": "SMS",
            "purpose": "marketing",
            "granted": False,
            "at": "2026-11-01T00:00:00Z",
            "source_event_id": "e-9",
        }
    ],
    "timeline": [
        {
            "event_id": f"e-{n}",
            "occurred_at": "2026-11-23T10:00:00Z",
            "channel": "SMS",
            "direction": "INBOUND",
            "type": "Message",
            "campaign_id": None,
            "summary": f"message {n}",
            "topic": "billing",
            "agent_id": None,
        }
        for n in range(30)
    ],
    "insights": {
        "value_tier": {"tier": "gold", "reasons": ["4 purchases", "customer for 2 years"]},
        "churn_risk": {"score": 0.72, "reasons": ["open complaint"]},
        "upsell": {"score": 0.35, "reasons": []},
    },
    "alerts": [
        {"code": "OPEN_COMPLAINT", "severity": "high", "message": "An open billing complaint"},
        {"code": "OVERDUE", "severity": "medium", "message": "120.00 TRY overdue for 53 days"},
        "a bare string alert",
    ],
    "suppressions": [],
    "dial_lists": ["spring-loan"],
    "suppressed_campaigns": [],
    "contexts": [],
    "some_future_key": {"nested": [1, 2, {"deep": True}]},
}
# Shapes the page has not been written for must show as they are, never break the view.
ODD_VIEW: dict[str, Any] = {
    "customer_id": "c-odd",
    "profile": "just a string",
    "purchases": {"totals": ["TRY", 1], "last": None, "count": "many"},
    "flags": {"complaints": 3, "overdue": None, "vip": True},
    "contact_history": [],
    "timeline": {"not": "a list"},
    "insights": {"value_tier": "gold", "churn_risk": {"score": "high"}},
    "alerts": [None, 42, {"severity": "critical"}],
    "consents": [{"channel": "SMS", "granted": "maybe"}, "x"],
}


async def test_every_section_of_the_view_renders_and_odd_shapes_do_not_break_it(
    browser: Any, hub: HubWorker
) -> None:
    """The page against the full view of DESIGN's 360 keys, served by the test in place of
    the hub's answer (which may not carry all of them yet)."""
    from playwright.async_api import Route, expect

    async def answer(route: Route) -> None:
        customer_id = route.request.url.rsplit("/", 1)[-1]
        view = {"c-full": FULL_VIEW, "c-odd": ODD_VIEW}.get(customer_id)
        if view is None:
            await route.fulfill(status=404, json={"error": "no customer"})
        else:
            await route.fulfill(status=200, json=view)

    context = await browser.new_context(viewport=VIEWPORT, reduced_motion="reduce")
    errors: list[str] = []
    try:
        page = await context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.route("**/v1/customers/c-*", answer)
        await page.goto(f"{hub.url}/ui/#customer=c-full")
        header = page.locator(".customer-header")
        await expect(page.locator("#customer-heading")).to_have_text("Ayşe Yılmaz")
        await expect(header).to_contain_text("gold")
        await expect(header).to_contain_text("0.72")
        await expect(header).to_contain_text("0.35")
        alerts = page.locator(".alerts li")
        await expect(alerts).to_have_count(3)
        await expect(alerts.first).to_contain_text("High: An open billing complaint")
        sections = await _rendered_sections(page)
        assert sections == DEFAULT_ORDER
        body = page.locator("#customer-body")
        for text in (
            "İzmir",
            "Europe/Istanbul",
            "retail",
            "1249.90 TRY",
            "53 days",
            "ios:ABC",
            "most inbound in 90 days",
            "withdrawn",
            "spring-loan",
            "ACCEPTED",
        ):
            await expect(body).to_contain_text(text)
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / "agent-desktop-full-view.png"))
        timeline = page.locator("[data-section=timeline] tbody tr")
        await expect(timeline).to_have_count(25)
        await page.get_by_role("button", name="Show all 30 interactions").click()
        await expect(timeline).to_have_count(30)

        await page.goto(f"{hub.url}/ui/#customer=c-odd")
        await expect(page.locator("#customer-heading")).to_have_text("c-odd")
        await expect(body).to_contain_text("just a string")
        await expect(page.locator(".alerts li")).to_have_count(3)
        assert "[object" not in await body.inner_text()
        assert errors == []
    finally:
        await context.close()


async def _read_events(response: aiohttp.ClientResponse, until: bytes, timeout: float) -> bytes:
    seen = b""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while until not in seen:
        seen += await asyncio.wait_for(response.content.readany(), deadline - loop.time())
    return seen


async def test_every_worker_streams_the_pops_of_every_agent(
    hub: HubWorker, http: aiohttp.ClientSession, customer: dict[str, Any], tmp_path: Path
) -> None:
    """An agent's browser may be on any worker, whichever worker owns the caller: both
    workers' streams get the pop. Last in this module: a second worker rebalances the group."""
    second = HubWorker(hub.bootstrap, hub.app_id, tmp_path / "second", env={**hub.env})
    await asyncio.to_thread(second.start)
    try:
        await asyncio.to_thread(hub.wait_healthy)
        agent = f"agent-{random.randrange(16**6):06x}"
        headers = {"Authorization": f"Bearer {API_KEY}"}
        path = f"/v1/agents/{agent}/screen-pops"
        async with (
            http.get(hub.url + path, headers=headers) as first_stream,
            http.get(second.url + path, headers=headers) as second_stream,
        ):
            for stream in (first_stream, second_stream):
                assert stream.status == 200
                await _read_events(stream, b"event: ready", 30)
            call_id = f"CA{random.randrange(10**8)}"
            event = {
                "event_id": f"{call_id}:in-progress",
                "occurred_at": _now(),
                "channel": "VOICE",
                "direction": "INBOUND",
                "customer": {"customer_id": customer["customer_id"]},
                "payload": {"type": "ContactAttempt", "outcome": "answered"},
                "call": {"call_id": call_id, "status": "in-progress", "agent_id": agent},
            }
            status, body = await Api(http, second.url, PUBLISHER_KEY).request(
                "POST", "/v1/interactions", json=event
            )
            assert status == 202, body
            for stream in (first_stream, second_stream):
                seen = await _read_events(stream, call_id.encode(), 60)
                assert b"event: screen-pop" in seen
                assert customer["customer_id"].encode() in seen
    finally:
        assert await asyncio.to_thread(second.stop) == 0, second.log_tail()
