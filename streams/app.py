"""The app factory: `create_app(settings)` is a whole hub, its agents and its HTTP API."""

from __future__ import annotations

from streams.config import Settings
from streams.processing.app import TouchlineApp, build_app
from streams.web.routes import install_routes

__all__ = ["TouchlineApp", "create_app"]


def create_app(settings: Settings, *, web: bool = True) -> TouchlineApp:
    """A hub for `settings`: its agents read the topics and, unless `web` is False, its
    HTTP API answers on the web port. Nothing is read from the environment, and each call
    makes a new, independent app (tests build theirs from a settings object)."""
    app = build_app(settings, web=web)
    if web:
        install_routes(app)
    return app
