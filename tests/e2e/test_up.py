"""`scripts/run` (`touchline up` after the bootstrap): local Kafka, the worker and the web
API in the foreground, where the README's five-minute tour runs as written; Ctrl-C stops
all of them cleanly."""

from __future__ import annotations

import asyncio
import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from streams.kafka.admin import partitions_of
from streams.wire import topics
from streams.wire.topics import InternalTopics
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


def tour_commands() -> list[str]:
    """The shell commands of the README's tour, one per command (continued lines and
    quoted JSON across lines joined)."""
    readme = (REPO / "README.md").read_text()
    section = readme.split("## A five-minute tour", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "the tour has a bash block"
    commands, current = [], ""
    for line in block.group(1).splitlines():
        current += line + "\n"
        if not line.endswith("\\") and current.count("'") % 2 == 0:
            commands.append(current.strip())
            current = ""
    assert not current, "a command of the tour is not closed"
    return commands


async def _backlog(bootstrap: str, group: str) -> int:
    """Records on the topics the worker consumes that its group has not committed yet."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await consumer.start()
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group)
        consumed = [topics.INTERACTIONS, topics.CAMPAIGN_TARGETS, *InternalTopics(group)]
        parts = [
            TopicPartition(topic, p)
            for topic in consumed
            for p in await partitions_of(bootstrap, topic, wait=5.0)
        ]
        ends = await consumer.end_offsets(parts)
        return sum(
            end - (committed[tp].offset if tp in committed else 0) for tp, end in ends.items()
        )
    finally:
        await admin.close()
        await consumer.stop()


def run_tour(kafka_port: int, web_port: int, group: str, env: dict[str, str]) -> dict[str, str]:
    """Each command of the tour, typed after the worker has taken in the one before (its
    group has committed everything): the output of each, by command."""
    outputs = {}
    touchline = str(Path(sys.executable).parent / "touchline")
    for command in tour_commands():
        runnable = (
            command.replace("localhost:6066", f"localhost:{web_port}")
            .replace(".venv/bin/touchline", touchline)
            .replace("curl -s ", "curl -sS --fail-with-body ")  # an error answer fails
        )
        done = subprocess.run(
            ["bash", "-c", runnable], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, f"{command}\n{done.stdout}\n{done.stderr}"
        outputs[command] = done.stdout
        deadline = time.monotonic() + 60
        while asyncio.run(_backlog(f"127.0.0.1:{kafka_port}", group)):
            assert time.monotonic() < deadline, f"the worker did not take in: {command}"
            time.sleep(0.3)
    return outputs


def check_tour(outputs: dict[str, str]) -> None:
    dial_lists = [out for command, out in outputs.items() if "/dial-list" in command]
    assert len(dial_lists) == 2
    assert '"c-42"' in dial_lists[0], dial_lists[0]
    assert '"c-42"' not in dial_lists[1], dial_lists[1]
    (suppressions,) = [out for command, out in outputs.items() if " tail " in command]
    assert "OFFER_ACCEPTED" in suppressions and '"source_event_id": "SM1"' in suppressions
    (view,) = [out for command, out in outputs.items() if " customer " in command]
    assert json.loads(view)["customer_id"] == "c-42"
    (why,) = [out for command, out in outputs.items() if " why " in command]
    assert "spring-loan" in why


def test_up_runs_everything_and_ctrl_c_stops_it_all(tmp_path: Path) -> None:
    kafka_port, web_port = free_ports(2)
    # The tour must not depend on the time of day it runs at: no quiet hours.
    defaults = tmp_path / "default-policy.toml"
    defaults.write_text("[quiet_hours]\nenabled = false\n", encoding="utf-8")
    env = {
        **clean_env(),
        "TOUCHLINE_DATA_DIR": str(tmp_path / "data"),
        "TOUCHLINE_KAFKA_PORT": str(kafka_port),
        "TOUCHLINE_WEB_PORT": str(web_port),
        "TOUCHLINE_APP_ID": "up-test",
        "TOUCHLINE_DEFAULT_POLICY": str(defaults),
    }
    log = (tmp_path / "up.log").open("w")
    process = subprocess.Popen(
        [str(REPO / "scripts" / "run")],
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
        check_tour(run_tour(kafka_port, web_port, "up-test", env))
    finally:
        process.send_signal(signal.SIGINT)
        code = process.wait(90)
    output = (tmp_path / "up.log").read_text()
    assert code == 0, output
    assert "Kafka stopped" in output
    assert "TOUCHLINE_INSECURE_WEBHOOKS=1" in output  # the demo says it takes unsigned webhooks
    assert not _port_open(kafka_port)
    assert not _port_open(web_port)
