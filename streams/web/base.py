"""The base of every HTTP view: the app it answers for, bearer-key authentication and
errors as JSON."""

from __future__ import annotations

import base64
import hmac
import json
from typing import TYPE_CHECKING, Any, cast

from aiohttp import web as aioweb
from faust.web import View
from faust.web.exceptions import WebError
from pydantic import ValidationError

from streams.adapters.native import InputError, first_error

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp
    from streams.web.parts import WebParts


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
    """A /v1 endpoint: requires an API key when TOUCHLINE_API_KEYS is set, as a bearer
    token or as the password of Basic auth."""

    requires_auth = True

    def _authorised(self, request: Any) -> bool:
        settings = self.hub.settings
        if not self.requires_auth or not settings.api_keys:
            return True
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        scheme, token = scheme.lower(), token.strip()
        if scheme == "basic":
            # Vendors that can only put credentials in the URL (SendGrid Inbound Parse:
            # https://any:<key>@host/...) send Basic auth; the password is the key.
            try:
                decoded = base64.b64decode(token, validate=True).decode()
            except (ValueError, UnicodeDecodeError):
                return False
            token = decoded.partition(":")[2]
        elif scheme != "bearer":
            return False
        if not token:
            return False
        # Compare against every key so the time taken says nothing about which matched.
        matches = [hmac.compare_digest(token.encode(), key.encode()) for key in settings.api_keys]
        return any(matches)

    async def dispatch(self, request: Any) -> Any:
        if not self._authorised(request):
            return self.json(
                {"error": "missing or invalid API key: send Authorization: Bearer <key>"},
                status=401,
                headers={"WWW-Authenticate": 'Bearer realm="touchline"'},
            )
        try:
            # Faust's View.dispatch without its sensor calls (nothing here reads them) and
            # the typing cast it builds on every request: this is on every contact check.
            handler = self.methods[request.method.lower()]
            return await handler(request, **request.match_info)
        except WebError as exc:
            return await self.on_request_error(request, exc)
        except InputError as exc:
            return self.json(exc.as_json(), status=422)
        except ValidationError as exc:  # a model refused a value no adapter check caught
            return self.json(first_error(exc).as_json(), status=422)
        except json.JSONDecodeError as exc:
            return self.json(
                {"error": f"malformed JSON: {exc.msg} at line {exc.lineno}"}, status=400
            )
        except UnicodeDecodeError:
            return self.json({"error": "the body is not valid UTF-8"}, status=400)
        except aioweb.HTTPRequestEntityTooLarge:
            return self.json(
                {"error": f"body larger than {self.hub.settings.max_body_bytes} bytes"},
                status=413,
            )


async def read_json(request: Any) -> Any:
    return json.loads(await request.text())
