"""The chaos suite's kill-kept scenario on a short load (scripts/chaos.py, its own broker):
workers SIGKILLed under load lose no decision, decide nothing unexpected, apply every event
and work off every input partition."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from tests.hub import REPO, clean_env

pytestmark = pytest.mark.kafka


def venv_python() -> str:
    venv = REPO / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def chaos(*args: str) -> dict[str, Any]:
    """Run scripts/chaos.py; its one JSON line (a failure names stderr's tail)."""
    result = subprocess.run(
        [venv_python(), str(REPO / "scripts" / "chaos.py"), *args],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=380,
    )
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"chaos printed no result (exit {result.returncode}):\n{result.stderr[-6000:]}"
    report: dict[str, Any] = json.loads(lines[-1])
    report["stderr_tail"] = result.stderr[-3000:]
    return report


@pytest.mark.timeout(400)
def test_killed_worker_loses_nothing() -> None:
    report = chaos("--scenario", "kill-kept", "--seconds", "25", "--rate", "50")
    shown = json.dumps(report, indent=1, ensure_ascii=False)
    assert "error" not in report, shown
    kills = [f for f in report["faults"] if f["kind"] == "kill"]
    assert len(kills) >= 2, shown
    assert report["events"] > 0, shown
    assert report["lost"] == 0, shown
    assert report["wrong"] == 0, shown
    assert report["events_not_applied"] == 0, shown
    assert report["partitions_not_worked_off"] == 0, shown
    assert report["ok"] is True, shown
