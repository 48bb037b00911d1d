"""Every route with every role, through the HTTP API of a real hub: a known key with too
little right gets 403, an unknown or missing one 401, an allowed one gets past both. The
expected roles are written out here, as docs/http-api.md documents them, apart from the
route table they check."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from streams.kafka.local import LocalKafka
from streams.web.base import handlers_of
from streams.web.routes import ROUTES
from tests.hub import HubWorker

pytestmark = pytest.mark.kafka

SECRETS = {
    "viewer": "view-s3cret",
    "agent": "agent-s3cret",
    "operator": "op-s3cret",
    "admin": "adm-s3cret",
}
ORDER = ["viewer", "agent", "operator", "admin"]
OPEN = "open"  # needs no API key (static page, health, metrics, signed vendor webhooks)

EXPECTED: dict[tuple[str, str], str] = {
    ("GET", "/v1/agents/{agent_id}/screen-pops"): "agent",
    ("GET", "/ui/"): OPEN,
    ("GET", "/ui/agent/{agent_id}"): OPEN,
    ("GET", "/ui/app.js"): OPEN,
    ("GET", "/ui/app.css"): OPEN,
    ("GET", "/ui"): OPEN,
    ("POST", "/v1/interactions"): "operator",
    ("POST", "/v1/campaigns/{campaign_id}/targets"): "operator",
    ("GET", "/v1/campaigns/{campaign_id}/dial-list"): "viewer",
    ("POST", "/v1/webhooks/sms/generic"): "operator",
    ("POST", "/v1/webhooks/voice/amazon-connect"): "operator",
    ("POST", "/v1/ivr/sessions"): "operator",
    ("POST", "/v1/contexts"): "operator",
    ("GET", "/v1/customers/by-identity"): "viewer",
    ("GET", "/v1/customers/search"): "viewer",
    ("GET", "/v1/internal/identity"): "viewer",
    ("GET", "/v1/internal/names"): "viewer",
    ("GET", "/v1/customers/{customer_id}/timeline"): "viewer",
    ("POST", "/v1/customers/{customer_id}/merge"): "admin",
    ("POST", "/v1/customers/{customer_id}/unmerge"): "admin",
    ("GET", "/v1/contact-check"): "viewer",
    ("GET", "/v1/customers/{customer_id}/decisions"): "viewer",
    ("GET", "/v1/customers/{customer_id}"): "viewer",
    ("GET", "/healthz"): OPEN,
    ("GET", "/metrics"): OPEN,
    ("GET", "/v1/campaigns/{campaign_id}/policy"): "viewer",
    ("PUT", "/v1/campaigns/{campaign_id}/policy"): "admin",
    ("POST", "/v1/dnc"): "operator",
    ("GET", "/v1/dnc/{kind}/{value}"): "viewer",
    ("DELETE", "/v1/dnc/{kind}/{value}"): "operator",
    ("POST", "/v1/webhooks/email/sendgrid/events"): OPEN,
    ("POST", "/v1/webhooks/email/sendgrid/inbound"): "operator",
    ("POST", "/v1/webhooks/sms/twilio"): OPEN,
    ("POST", "/v1/webhooks/sms/twilio/status"): OPEN,
    ("POST", "/v1/webhooks/voice/twilio"): OPEN,
}

FILLED = {
    "{agent_id}": "roles-agent",
    "{campaign_id}": "roles-campaign",
    "{customer_id}": "roles-nobody",
    "{kind}": "phone",
    "{value}": "+905321230000",
}


def declared() -> Iterator[tuple[str, str]]:
    """(method, path) of every handler the route table installs."""
    for path, view, _access in ROUTES:
        for method in handlers_of(view):
            yield method.upper(), path


def test_every_route_is_in_the_expected_matrix() -> None:
    assert set(declared()) == set(EXPECTED)


@pytest.fixture(scope="module")
def worker(
    kafka: LocalKafka, topics_ready: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HubWorker]:
    digest = hashlib.sha256(SECRETS["operator"].encode()).hexdigest()
    keys = ",".join(
        [
            f"{SECRETS['viewer']}:viewer:wallboard",
            f"{SECRETS['agent']}:agent",
            f"sha256:{digest}:operator:dialler",  # the environment holds no secret
            f"{SECRETS['admin']}:admin",
        ]
    )
    hub = HubWorker(
        kafka.bootstrap,
        "roles",
        tmp_path_factory.mktemp("roles"),
        env={"TOUCHLINE_API_KEYS": keys},
    )
    with hub:
        yield hub


async def call(http: aiohttp.ClientSession, url: str, method: str, key: str | None) -> int:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    async with http.request(method, url, headers=headers, json={}) as response:
        return response.status  # leaving the block closes a stream (the screen pops)


async def test_each_role_is_allowed_exactly_what_the_matrix_says(
    worker: HubWorker, http: aiohttp.ClientSession
) -> None:
    wrong = []
    for (method, path), needed in EXPECTED.items():
        url = worker.url + path
        for placeholder, value in FILLED.items():
            url = url.replace(placeholder, value)
        anonymous = await call(http, url, method, None)
        if needed == OPEN:
            if anonymous in (401, 403) and "webhooks" not in path:
                wrong.append((method, path, None, anonymous))
            continue
        if anonymous != 401:
            wrong.append((method, path, None, anonymous))
        if await call(http, url, method, "not-a-key") != 401:
            wrong.append((method, path, "unknown", "not 401"))
        for role in ORDER:
            status = await call(http, url, method, SECRETS[role])
            allowed = ORDER.index(role) >= ORDER.index(needed)
            if allowed and status in (401, 403):
                wrong.append((method, path, role, status))
            if not allowed and status != 403:
                wrong.append((method, path, role, status))
    assert not wrong


def test_refusals_are_logged_by_key_name_never_by_key(worker: HubWorker) -> None:
    log = Path(worker.log_path).read_text(errors="replace")
    assert "refused PUT /v1/campaigns/{campaign_id}/policy to key wallboard" in log
    assert "refused POST /v1/interactions: no valid API key" in log
    for secret in SECRETS.values():
        assert secret not in log
