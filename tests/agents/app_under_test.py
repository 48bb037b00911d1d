"""The hub the agent tests run: built by the app factory from a settings object, on the
in-memory table store, with a broker address nothing listens on (a test that reached for
a broker would fail fast)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import uuid
from pathlib import Path

from streams.app import create_app
from streams.config import Settings

_WORK_DIR = Path(tempfile.mkdtemp(prefix="touchline-agent-tests-"))
atexit.register(shutil.rmtree, _WORK_DIR, ignore_errors=True)

settings = Settings.from_env(
    {
        "TOUCHLINE_STORE": "memory://",
        "TOUCHLINE_APP_ID": f"touchline-agent-test-{uuid.uuid4().hex[:8]}",
        "TOUCHLINE_DATA_DIR": str(_WORK_DIR / "data"),
        "TOUCHLINE_WORKER_DIR": str(_WORK_DIR / "worker"),
        "TOUCHLINE_BROKER": "127.0.0.1:9",
    }
)
app = create_app(settings, web=False)
agents = app.processing  # the agents and what they share (streams.processing.runtime)
