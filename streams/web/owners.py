"""Answering on the worker that owns a key: any worker takes a request about a customer,
an identity, a name token or a campaign, and answers it where the key's partition of the
table is, forwarding it there when that is another worker."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from faust.exceptions import SameNode
from faust.types import TableT as Table
from faust.web.exceptions import ServiceUnavailable
from yarl import URL

from streams.web.parts import parts_of

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp
    from streams.web.base import ApiView

# Not passed on with a forwarded body: the HTTP client sets them for the body it sends.
_BODY_HEADERS = frozenset({"content-length", "transfer-encoding"})


async def owner(app: TouchlineApp, table: Table, key: str) -> str:
    """The URL of the worker that owns `key` in `table`; 503 while the key's partition
    has no worker yet, as Faust's own routing answers."""
    reads = parts_of(app).reads
    await reads.ensure_partition_metadata(table)
    try:
        return reads.owner_url(table, key)
    except KeyError:
        raise ServiceUnavailable() from None


async def on_owner(
    view: ApiView,
    table: Table,
    key: str,
    request: Any,
    answer: Callable[[], Awaitable[Any]],
    *,
    body: bytes | None = None,
) -> Any:
    """Answer here if this worker owns `key` in `table`, else forward the request there.
    A request with a body (already read: pass it as `body`) is forwarded with it; Faust's
    routing forwards the method and headers only."""
    app = view.hub
    url = await owner(app, table, key)
    if parts_of(app).reads.is_this_worker(url):
        return await answer()
    try:
        if body is None:
            return await app.router.route_req(table.name, key, view.web, request)
        return await _forward(app, url, view, request, body)
    except SameNode:  # the partition moved here meanwhile
        return await answer()


async def _forward(app: TouchlineApp, url: str, view: ApiView, request: Any, body: bytes) -> Any:
    """The request with its body, sent to the worker at `url`; its answer as Faust's
    routing passes it on (status, content type and body)."""
    target = URL(url)
    routed_url = request.url.with_host(target.host or "").with_port(target.port)
    headers = {k: v for k, v in request.headers.items() if k.lower() not in _BODY_HEADERS}
    async with app.http_client.request(
        method=request.method, url=routed_url, headers=headers, data=body
    ) as response:
        return view.web.text(
            await response.text(), content_type=response.content_type, status=response.status
        )


async def owner_json(
    app: TouchlineApp, table: Table, key: str, path: str, request: Any
) -> tuple[int, Any]:
    """GET `path` from the worker that owns `key` (this one included), as JSON."""
    url = await owner(app, table, key)
    headers = {}
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    async with app.http_client.get(url.rstrip("/") + path, headers=headers) as response:
        return response.status, await response.json(content_type=None)
