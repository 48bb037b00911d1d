"""The agent desktop: the screen-pop stream (Server-Sent Events) and the single-page app at /ui/."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import resources
from typing import Any

from aiohttp import web as aioweb
from faust.web import View

from streams.domain.screen_pop import MAX_AGENT_ID, ScreenPop
from streams.kafka.supervise import keep_running
from streams.views.screen_pops import ScreenPopFanout, ScreenPopReader, SubscriptionClosed
from streams.web import sse
from streams.web.base import ApiView

HEARTBEAT_SECONDS = 15.0
# What a disconnected page's EventSource-like reader waits before it tries again.
RECONNECT_MILLISECONDS = 2000


def reader_keeper(reader: ScreenPopReader) -> Callable[[], Awaitable[None]]:
    """The app task that keeps the screen-pop reader running."""

    async def keep_screen_pop_reader() -> None:
        # Pops are a convenience beside the event processing: a lost connection to the
        # broker restarts the reader, it never takes the worker down.
        await keep_running(reader.run, "screen-pop")

    return keep_screen_pop_reader


def stream_ender(fanout: ScreenPopFanout) -> Callable[[Any], Awaitable[None]]:
    """The aiohttp `on_shutdown` hook that ends the open screen-pop streams."""

    async def end_streams(_web_app: Any) -> None:
        # aiohttp waits up to a minute for running handlers when it stops; an open stream
        # would hold the worker's shutdown that long. aiohttp calls this before it waits.
        fanout.close()

    return end_streams


def screen_pop_json(pop: ScreenPop) -> dict[str, Any]:
    return pop.model_dump(mode="json")


class ScreenPopStream(ApiView):
    """One `event: screen-pop` per pop for the agent, a `ready` event once every pop made
    from then on will be delivered, and a comment as heartbeat every 15 s."""

    async def get(self, request: Any, agent_id: str) -> Any:
        agent_id = agent_id.strip()
        if not agent_id or len(agent_id) > MAX_AGENT_ID:
            return self.json(
                {"error": f"must be 1 to {MAX_AGENT_ID} characters", "field": "agent_id"},
                status=422,
            )
        response = aioweb.StreamResponse(
            headers={
                "Content-Type": sse.CONTENT_TYPE,
                "Cache-Control": "no-store",
                "X-Accel-Buffering": "no",  # proxies must pass each event on at once
            }
        )
        await response.prepare(request)
        fanout, reader = self.parts.screen_pops, self.parts.screen_pop_reader
        with fanout.subscribe(agent_id) as subscription:
            try:
                await response.write(sse.retry(RECONNECT_MILLISECONDS))
                while not await reader.wait_ready(HEARTBEAT_SECONDS):
                    await response.write(sse.comment("waiting for the screen-pop topic"))
                await response.write(sse.event("ready", {"agent_id": agent_id}))
                while True:
                    pop = await subscription.get(HEARTBEAT_SECONDS)
                    if pop is None:
                        await response.write(sse.comment("heartbeat"))
                    else:
                        frame = sse.event("screen-pop", screen_pop_json(pop), event_id=pop.event_id)
                        await response.write(frame)
            except SubscriptionClosed:
                pass  # the worker is stopping
            except ConnectionError:
                pass  # the browser went away; it reconnects when it wants more
        return response


# -- the single-page app ---------------------------------------------------------------

UI_PACKAGE = "streams.web.ui"
ASSETS = {"index.html": "text/html", "app.js": "text/javascript", "app.css": "text/css"}
# Everything the page needs comes from the hub itself: no inline code, no other origin.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}


def ui_asset(name: str) -> str:
    """The text of one file of the page (read on each request: they are small, and an
    edited page shows on reload)."""
    return resources.files(UI_PACKAGE).joinpath(name).read_text(encoding="utf-8")


class UiAsset(View):
    """A static page file; no API key needed (the page asks for one when the API does)."""

    asset = "index.html"

    async def get(self, request: Any, **_match: str) -> Any:
        return self.text(
            ui_asset(self.asset), content_type=ASSETS[self.asset], headers=dict(SECURITY_HEADERS)
        )


class DesktopPage(UiAsset):
    asset = "index.html"


class AgentDesktopPage(UiAsset):
    """The same page, bound to the agent in its path: it shows that agent's screen pops."""

    asset = "index.html"


class DesktopScript(UiAsset):
    asset = "app.js"


class DesktopStyles(UiAsset):
    asset = "app.css"


class DesktopRedirect(View):
    async def get(self, request: Any) -> Any:
        raise aioweb.HTTPPermanentRedirect("/ui/")
