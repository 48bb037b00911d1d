"""How every /v1 view answers what its handler raises, and a key with no worker yet. The
views run through `ApiView.dispatch` as the web server calls it, on an app built by the
factory from a settings object; no broker is involved."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import pytest
from aiohttp.test_utils import make_mocked_request
from faust.web.exceptions import ServiceUnavailable

from streams.adapters.native import InputError
from streams.app import create_app
from streams.config import Settings
from streams.processing.app import TouchlineApp
from streams.web import owners
from streams.web.base import ApiView


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


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> TouchlineApp:
    return create_app(hub_settings(tmp_path_factory.mktemp("touchline")))


class Probe(ApiView):
    access: ClassVar[dict[str, None]] = {"get": None}  # no key needed
    raised: Exception | None = None

    async def get(self, request: Any, item: str = "") -> Any:
        if self.raised is not None:
            raise self.raised
        return self.json({"item": item, "q": request.query.get("q")})


async def answer(
    app: TouchlineApp, raised: Exception | None = None, path: str = "/probe/7?q=x"
) -> tuple[int, Any]:
    view = Probe(app, app.web)
    view.raised = raised
    request = make_mocked_request("GET", path, match_info={"item": "7"})
    response = await view.dispatch(request)
    return response.status, json.loads(response.body)


async def test_the_handler_gets_the_route_parameters_and_the_query(app: TouchlineApp) -> None:
    assert await answer(app) == (200, {"item": "7", "q": "x"})


async def test_an_unavailable_owner_is_a_503_with_a_json_error(app: TouchlineApp) -> None:
    status, body = await answer(app, ServiceUnavailable())
    assert status == 503
    assert "error" in body


async def test_bad_input_is_a_422_naming_the_field(app: TouchlineApp) -> None:
    status, body = await answer(app, InputError("channel", "must be one of SMS, EMAIL"))
    assert status == 422
    assert "channel" in json.dumps(body)


async def test_a_key_whose_partition_has_no_worker_yet_is_unavailable(
    app: TouchlineApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def known(table: Any) -> None:
        return None

    reads = app.web_parts.reads
    monkeypatch.setattr(reads, "ensure_partition_metadata", known)
    monkeypatch.setattr(reads, "key_partition", lambda table, key: 0)
    # The assignor knows no worker for any partition: as before its first assignment.
    monkeypatch.setattr(app.assignor, "_tps_url", {})
    request = make_mocked_request("GET", "/v1/customers/search?q=zeynep")
    with pytest.raises(ServiceUnavailable):
        await owners.owner_json(
            app, app.names, "zeynep", "/v1/internal/names?token=zeynep", request
        )

    async def here() -> Any:
        raise AssertionError("answered without an owner")

    with pytest.raises(ServiceUnavailable):
        await owners.on_owner(Probe(app, app.web), app.names, "zeynep", request, here)
