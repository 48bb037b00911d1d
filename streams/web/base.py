"""The base of every HTTP view: the app it answers for, bearer-key authentication and
errors as JSON."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web as aioweb
from faust.web import View
from faust.web.exceptions import WebError
from pydantic import ValidationError

from streams.adapters.native import InputError, first_error
from streams.domain.access import Role, allows, authenticate

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp
    from streams.web.parts import WebParts


def handlers_of(view: type[View]) -> list[str]:
    """The HTTP methods (lower case) `view` answers: those it defines over Faust's View,
    whose own answer 405."""
    methods = ("get", "post", "put", "patch", "delete")
    return [m for m in methods if getattr(view, m) is not getattr(View, m)]


class HubView(View):
    """A view of the hub: Faust gives every view its app (`self.app`), the
    `streams.processing.app.TouchlineApp` the routes were installed on
    (`streams.web.routes`)."""

    @property
    def hub(self) -> TouchlineApp:
        """The app, typed: its settings, tables, books and processing."""
        return cast("TouchlineApp", self.app)

    @property
    def parts(self) -> WebParts:
        """What the HTTP layer keeps for this app (`streams.web.parts`)."""
        return cast("WebParts", self.hub.web_parts)


class ApiView(HubView):
    """A /v1 endpoint. When TOUCHLINE_API_KEYS is set, each method needs a key (a bearer
    token, or the password of Basic auth) whose role holds the method's `access`
    (`streams.web.routes` declares it with the route): 401 without a known key, 403 for a
    known key with too little right. A method whose access is None needs no key (vendor
    webhooks: they are checked by signature instead)."""

    access: Mapping[str, Role | None] = {}

    def _presented_key(self, request: Any) -> str | None:
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme == "basic":
            # Vendors that can only put credentials in the URL (SendGrid Inbound Parse:
            # https://any:<key>@host/...) send Basic auth; the password is the key.
            try:
                decoded = base64.b64decode(token, validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return None
            token = decoded.partition(":")[2]
        elif scheme != "bearer":
            return None
        return token or None

    def _refusal(self, request: Any) -> Any | None:
        """None when the request may go on; else the 401 or 403 answer (and a log line
        naming the route and the key's name, never the key)."""
        keys = self.hub.settings.api_keys
        method = request.method.lower()
        if method not in self.access:
            if method in handlers_of(type(self)):  # a handler nobody declared the access of
                raise RuntimeError(f"{type(self).__name__}: no access declared for {method}")
            return None  # no such method here: 405 follows
        needed = self.access[method]
        if needed is None or not keys:
            return None
        presented = self._presented_key(request)
        key = None if presented is None else authenticate(keys, presented)
        route = request.match_info.route.resource.canonical
        if key is None:
            log.warning("refused %s %s: no valid API key", request.method, route)
            return self.json(
                {
                    "error": "missing or invalid API key: send Authorization: Bearer <key>",
                    "code": "unauthenticated",
                },
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="touchline"'},
            )
        if not allows(key, needed):
            log.warning(
                "refused %s %s to key %s: role %s, needs %s",
                request.method,
                route,
                key.name,
                key.role.label,
                needed.label,
            )
            return self.json(
                {
                    "error": f"the key's role ({key.role.label}) may not do this: "
                    f"it needs {needed.label}",
                    "code": "forbidden",
                },
                status=403,
            )
        request["api_key"] = key
        return None

    async def dispatch(self, request: Any) -> Any:
        refusal = self._refusal(request)
        if refusal is not None:
            return refusal
        try:
            # Faust's View.dispatch without its sensor calls (nothing here reads them) and
            # the typing cast it builds on every request: this is on every contact check.
            handler = self.methods[request.method.lower()]
            return await handler(request, **request.match_info)
        except WebError as exc:
            return await self.on_request_error(request, exc)
        except InputError as exc:
            return self.json({**exc.as_json(), "code": "invalid"}, status=422)
        except ValidationError as exc:  # a model refused a value no adapter check caught
            return self.json({**first_error(exc).as_json(), "code": "invalid"}, status=422)
        except json.JSONDecodeError as exc:
            return self.json(
                {
                    "error": f"malformed JSON: {exc.msg} at line {exc.lineno}",
                    "code": "malformed_json",
                },
                status=400,
            )
        except UnicodeDecodeError:
            return self.json(
                {"error": "the body is not valid UTF-8", "code": "bad_encoding"}, status=400
            )
        except aioweb.HTTPRequestEntityTooLarge:
            return self.json(
                {
                    "error": f"body larger than {self.hub.settings.max_body_bytes} bytes",
                    "code": "too_large",
                },
                status=413,
            )
        except RecursionError:  # JSON nested deeper than the parser goes
            return self.json(
                {"error": "the JSON is nested too deeply", "code": "too_deep"}, status=400
            )
        except aioweb.HTTPException:
            raise  # an answer a handler chose
        except Exception:
            # A bug, or the broker failing past the producer's retries: the request is not
            # done, and says so in JSON (aiohttp's own answer would be plain text).
            route = request.match_info.route.resource.canonical
            log.exception("%s %s failed", request.method, route)
            return self.json(
                {"error": "the request could not be completed", "code": "internal"},
                status=500,
            )


def actor_of(request: Any) -> str | None:
    """The name of the API key a request was allowed with, for the audit; None when the
    hub has no keys (or the route needs none)."""
    key = request.get("api_key")
    return None if key is None else str(key.name)


def unconfigured_webhook(view: HubView, setting: str) -> Any | None:
    """The 403 of a vendor webhook whose secret (`setting`) is not configured, or None
    when it may go on: unsigned requests are accepted only with
    TOUCHLINE_INSECURE_WEBHOOKS=1 (local development)."""
    if view.hub.settings.insecure_webhooks:
        return None
    log.warning("refused a webhook: %s is not set", setting)
    return view.json(
        {
            "error": f"{setting} is not set, so this webhook cannot be verified and is "
            "refused (TOUCHLINE_INSECURE_WEBHOOKS=1 accepts unsigned requests, for local "
            "development only)",
            "code": "webhook_not_configured",
        },
        status=403,
    )


async def read_json(request: Any) -> Any:
    return json.loads(await request.text())
