"""The built wheel, installed in a clean virtual environment outside this checkout, gives
a `touchline` that knows its version, carries its schemas, publishes, and runs a worker
that serves."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from streams.domain.events import Interaction
from streams.kafka.local import LocalKafka
from tests.hub import REPO, HubWorker, clean_env, read_until

pytestmark = pytest.mark.kafka


def run(*args: str | Path, cwd: Path, timeout: float = 900, **env: str) -> str:
    done = subprocess.run(
        [str(a) for a in args],
        cwd=cwd,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, f"{args} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The bin directory of a fresh virtualenv with only the wheel (and its dependencies)."""
    place = tmp_path_factory.mktemp("wheel")
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "-q",
        "-w",
        place / "dist",
        REPO,
        cwd=place,
    )
    (wheel,) = (place / "dist").glob("touchline-*.whl")
    run(sys.executable, "-m", "venv", place / "venv", cwd=place)
    run(place / "venv/bin/pip", "install", "-q", wheel, cwd=place)
    yield place / "venv/bin"


def test_version_is_the_project_version(installed: Path, tmp_path: Path) -> None:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    out = run(installed / "touchline", "--version", cwd=tmp_path)
    assert out.strip() == f"touchline {project['version']}"
    assert project["version"] == importlib.metadata.version("touchline")


def test_the_package_and_its_schemas_come_from_the_wheel(installed: Path, tmp_path: Path) -> None:
    probe = (
        "import json, pathlib, streams, streams.wire.serialization as s;"
        "d = s.default_schema_dir();"
        "print(json.dumps([streams.__file__, sorted(s.SchemaCatalog().schemas),"
        " sorted(str(p.relative_to(d)) for p in d.glob('released/*/*.avsc'))]))"
    )
    where, schemas, released = json.loads(run(installed / "python", "-c", probe, cwd=tmp_path))
    assert Path(where).is_relative_to(installed.parent), where
    expected = sorted(p.stem for p in (REPO / "schemas").glob("*.avsc"))
    assert schemas == expected
    # Records written with a released schema stay readable: those ship too.
    snapshots = REPO / "schemas"
    assert released == sorted(
        str(p.relative_to(snapshots)) for p in snapshots.glob("released/*/*.avsc")
    )


async def test_installed_touchline_publishes_and_runs_a_worker(
    installed: Path, tmp_path: Path, kafka: LocalKafka, topics_ready: str, uid: str
) -> None:
    source = tmp_path / "one.jsonl"
    event = {
        "event_id": f"wheel-{uid}",
        "occurred_at": "2026-11-23T10:15:00+03:00",
        "channel": "SMS",
        "direction": "INBOUND",
        "customer": {"customer_id": f"wheel-c-{uid}"},
        "payload": {"type": "Message", "text": "merhaba"},
    }
    source.write_text(json.dumps(event) + "\n", encoding="utf-8")
    out = run(
        installed / "touchline", "publish", source, cwd=tmp_path, TOUCHLINE_BROKER=kafka.bootstrap
    )
    assert "accepted 1, rejected 0" in out
    await read_until(
        kafka.bootstrap,
        "touchline.interactions.v1",
        lambda rs: any(
            isinstance(r.value, Interaction) and r.value.event_id == f"wheel-{uid}" for r in rs
        ),
    )
    worker = HubWorker(
        kafka.bootstrap,
        f"wheel-{uid}",
        tmp_path / "hub",
        command=[str(installed / "touchline"), "worker", "--loglevel", "info"],
        cwd=tmp_path,
    )
    with worker:
        assert worker.process is not None and worker.process.poll() is None
