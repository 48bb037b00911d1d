"""The `touchline` command against the real broker: publish, tail and kafka status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streams.domain.events import Interaction
from streams.kafka.local import LocalKafka
from tests.hub import free_ports, read_until, touchline

pytestmark = pytest.mark.kafka


def line(event_id: str, channel: str = "SMS", **extra: object) -> str:
    return json.dumps(
        {
            "event_id": event_id,
            "occurred_at": "2026-11-23T10:15:00+03:00",
            "channel": channel,
            "direction": "INBOUND",
            "customer": {"customer_id": "cli-c1", "phone": "0532 123 45 67"},
            "payload": {"type": "Message", "text": "merhaba"},
            **extra,
        }
    )


async def test_publish_reports_each_rejected_line_and_publishes_the_rest(
    kafka: LocalKafka, topics_ready: str, tmp_path: Path, uid: str
) -> None:
    good = [f"cli-{uid}-{i}" for i in range(3)]
    source = tmp_path / "interactions.jsonl"
    source.write_text(
        "\n".join(
            [
                line(good[0]),
                "{this is not json",
                line(good[1]),
                line(f"cli-{uid}-bad", channel="CARRIER_PIGEON"),
                "",
                line(good[2]),
            ]
        )
        + "\n"
    )
    result = touchline(
        "publish",
        str(source),
        env={"TOUCHLINE_BROKER": kafka.bootstrap, "TOUCHLINE_DEFAULT_REGION": "TR"},
    )
    assert result.returncode == 1, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "accepted 3, rejected 2"
    assert "line 2: malformed JSON" in result.stderr
    assert "line 4: channel:" in result.stderr
    assert "+90532" not in result.stderr + result.stdout  # no personal data echoed

    records = await read_until(
        kafka.bootstrap,
        "touchline.interactions.v1",
        lambda seen: (
            {s.value.event_id for s in seen if isinstance(s.value, Interaction)} >= set(good)
        ),
    )
    mine = [r for r in records if isinstance(r.value, Interaction) and r.value.event_id in good]
    assert len(mine) == 3
    event = mine[0].value
    assert event.customer.phone == "+905321234567"  # normalised to E.164 with the region
    assert event.occurred_at.isoformat() == "2026-11-23T07:15:00+00:00"
    headers = dict(mine[0].raw.headers)
    assert headers["ce_id"].decode() in good
    assert headers["ce_source"] == b"/touchline/cli"
    assert mine[0].key == "cli-c1"


async def test_tail_prints_decoded_records(
    kafka: LocalKafka, topics_ready: str, tmp_path: Path, uid: str
) -> None:
    source = tmp_path / "one.jsonl"
    source.write_text(line(f"tail-{uid}") + "\n")
    env = {"TOUCHLINE_BROKER": kafka.bootstrap, "TOUCHLINE_DEFAULT_REGION": "TR"}
    assert touchline("publish", str(source), env=env).returncode == 0
    result = touchline(
        "tail", "touchline.interactions.v1", "--from-beginning", "--idle-timeout", "5", env=env
    )
    assert result.returncode == 0, result.stderr
    printed = [json.loads(x) for x in result.stdout.splitlines()]
    mine = [
        p for p in printed if p.get("value", {}) and p["value"].get("event_id") == f"tail-{uid}"
    ]
    assert len(mine) == 1
    assert mine[0]["type"] == "touchline.Interaction"
    assert mine[0]["value"]["payload"] == {"type": "Message", "text": "merhaba"}
    assert mine[0]["headers"]["ce_type"] == "touchline.interaction.Message"


def test_kafka_verbs_manage_a_local_broker(tmp_path: Path) -> None:
    port, _ = free_ports(2)
    env = {"TOUCHLINE_DATA_DIR": str(tmp_path), "TOUCHLINE_KAFKA_PORT": str(port)}
    status = touchline("kafka", "status", env=env)
    assert status.returncode == 3
    assert json.loads(status.stdout)["running"] is False
    started = touchline("kafka", "start", env=env, timeout=180)
    try:
        assert started.returncode == 0, started.stderr
        assert f"127.0.0.1:{port}" in started.stdout
        status = touchline("kafka", "status", env=env)
        assert status.returncode == 0
        assert json.loads(status.stdout)["running"] is True
    finally:
        stopped = touchline("kafka", "stop", env=env)
    assert stopped.returncode == 0
    assert stopped.stdout.strip() == "stopped"
    assert json.loads(touchline("kafka", "status", env=env).stdout)["running"] is False


def test_kafka_start_without_java_names_the_alternatives(tmp_path: Path) -> None:
    empty = tmp_path / "bin"
    empty.mkdir()
    result = touchline(
        "kafka",
        "start",
        env={
            "PATH": str(empty),
            "TOUCHLINE_DATA_DIR": str(tmp_path),
            "TOUCHLINE_CACHE_DIR": str(tmp_path / "cache"),
        },
    )
    assert result.returncode == 2
    assert "docker-compose.kafka.yml" in result.stderr
    assert "--broker" in result.stderr


async def test_tail_of_a_missing_topic_says_so_and_creates_nothing(
    kafka: LocalKafka, topics_ready: str, uid: str
) -> None:
    topic = f"touchline.no-such-topic-{uid}"
    done = touchline(
        "tail", topic, "--idle-timeout", "1", env={"TOUCHLINE_BROKER": kafka.bootstrap}
    )
    assert done.returncode == 2, done.stderr
    assert f"there is no topic '{topic}'" in done.stderr
    assert "Traceback" not in done.stderr
    from streams.kafka.admin import partitions_of

    assert await partitions_of(kafka.bootstrap, topic, wait=2.0) == []
