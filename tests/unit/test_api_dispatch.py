"""How every /v1 view answers what its handler raises, and a key with no worker yet. The
views run through `ApiView.dispatch` as the web server calls it; no broker is involved."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from faust.web.exceptions import ServiceUnavailable

from streams import owned_reads
from streams.app import app, names
from streams.intake import InputError
from streams.web import identities
from streams.web.base import ApiView


class Probe(ApiView):
    requires_auth = False
    raised: Exception | None = None

    async def get(self, request: Any, item: str = "") -> Any:
        if self.raised is not None:
            raise self.raised
        return self.json({"item": item, "q": request.query.get("q")})


async def answer(raised: Exception | None = None, path: str = "/probe/7?q=x") -> tuple[int, Any]:
    view = Probe(app, app.web)
    view.raised = raised
    request = make_mocked_request("GET", path, match_info={"item": "7"})
    response = await view.dispatch(request)
    return response.status, json.loads(response.body)


async def test_the_handler_gets_the_route_parameters_and_the_query() -> None:
    assert await answer() == (200, {"item": "7", "q": "x"})


async def test_an_unavailable_owner_is_a_503_with_a_json_error() -> None:
    status, body = await answer(ServiceUnavailable())
    assert status == 503
    assert "error" in body


async def test_bad_input_is_a_422_naming_the_field() -> None:
    status, body = await answer(InputError("channel", "must be one of SMS, EMAIL"))
    assert status == 422
    assert "channel" in json.dumps(body)


async def test_a_key_whose_partition_has_no_worker_yet_is_unavailable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async def known(table: Any) -> None:
        return None

    monkeypatch.setattr(identities, "ensure_partition_metadata", known)
    monkeypatch.setattr(owned_reads, "key_partition", lambda table, key: 0)
    # The assignor knows no worker for any partition: as before its first assignment.
    monkeypatch.setattr(app.assignor, "_tps_url", {})
    request = make_mocked_request("GET", "/v1/customers/search?q=zeynep")
    with pytest.raises(ServiceUnavailable):
        await identities.owner_json(names, "zeynep", "/v1/internal/names?token=zeynep", request)

    async def here() -> Any:
        raise AssertionError("answered without an owner")

    with pytest.raises(ServiceUnavailable):
        await identities.on_owner(Probe(app, app.web), names, "zeynep", request, here)
