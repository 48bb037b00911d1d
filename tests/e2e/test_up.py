"""`touchline up`: local Kafka, the worker and the web API in the foreground; Ctrl-C stops
all of them cleanly."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.hub import REPO, clean_env, free_ports

pytestmark = pytest.mark.kafka


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _port_open(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_up_runs_everything_and_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    kafka_port, web_port = free_ports(2)
    env = {
        **clean_env(),
        "TOUCHLINE_DATA_DIR": str(tmp_path / "data"),
        "TOUCHLINE_KAFKA_PORT": str(kafka_port),
        "TOUCHLINE_WEB_PORT": str(web_port),
        "TOUCHLINE_APP_ID": "up-test",
    }
    log = (tmp_path / "up.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "streams", "up"],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "up.log").read_text()
            try:
                if _get(f"http://127.0.0.1:{web_port}/healthz")[0] == 200:
                    break
            except OSError:
                pass
            time.sleep(0.5)
        else:
            pytest.fail(
                "touchline up did not become healthy:\n" + (tmp_path / "up.log").read_text()
            )
        assert _port_open(kafka_port)
        body = json.dumps(
            {
                "occurred_at": "2026-11-23T10:15:00Z",
                "channel": "WEB",
                "direction": "INBOUND",
                "customer": {"customer_id": "up-1"},
                "payload": {"type": "Message", "text": "hi"},
            }
        ).encode()
        request = urllib.request.Request(
            f"http://127.0.0.1:{web_port}/v1/interactions",
            data=body,
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 202
        deadline = time.monotonic() + 60
        while _get(f"http://127.0.0.1:{web_port}/v1/customers/up-1")[0] != 200:
            assert time.monotonic() < deadline, "the interaction was not folded"
            time.sleep(0.3)
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(90)
    output = (tmp_path / "up.log").read_text()
    assert code == 0, output
    assert "Kafka stopped" in output
    assert not _port_open(kafka_port)
    assert not _port_open(web_port)
