"""Test helpers: a real local Kafka, hub workers as child processes, and topic readers."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from streams.wire.serialization import AvroSerializer, SerializationError

REPO = Path(__file__).resolve().parent.parent


def clean_env(**overrides: str) -> dict[str, str]:
    """The environment without any TOUCHLINE_* setting of the test process (the agent
    tests set some at import), plus the given ones."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TOUCHLINE_")}
    return {**base, **overrides}


def free_ports(count: int) -> list[int]:
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind(("127.0.0.1", 0))
            socks.append(sock)
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


@dataclass
class HubWorker:
    """One `touchline worker` process with its own data dir and web port."""

    bootstrap: str
    app_id: str
    data_dir: Path
    env: dict[str, str] = field(default_factory=dict)
    web_port: int = 0
    process: subprocess.Popen[bytes] | None = None
    # The command that runs the worker, and where: this checkout's package by default.
    command: list[str] = field(
        default_factory=lambda: [sys.executable, "-m", "streams", "worker", "--loglevel", "info"]
    )
    cwd: Path = REPO

    def __post_init__(self) -> None:
        if not self.web_port:
            self.web_port = free_ports(1)[0]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.web_port}"

    @property
    def log_path(self) -> Path:
        return self.data_dir / f"worker-{self.web_port}.log"

    def start(self, timeout: float = 90.0) -> HubWorker:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        env = {
            **clean_env(),
            "TOUCHLINE_BROKER": self.bootstrap,
            "TOUCHLINE_APP_ID": self.app_id,
            "TOUCHLINE_WEB_PORT": str(self.web_port),
            "TOUCHLINE_DATA_DIR": str(self.data_dir),
            "TOUCHLINE_WORKER_DIR": str(self.data_dir / "worker"),
            **self.env,
        }
        if "TOUCHLINE_DEFAULT_POLICY" not in env:
            # Tests must not depend on the time of day they run at: no quiet hours unless
            # a test applies them.
            defaults = self.data_dir / "default-policy.toml"
            defaults.write_text("[quiet_hours]\nenabled = false\n", encoding="utf-8")
            env["TOUCHLINE_DEFAULT_POLICY"] = str(defaults)
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            self.command,
            cwd=self.cwd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 90.0) -> None:
        import urllib.error
        import urllib.request

        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process is not None and self.process.poll() is not None:
                raise RuntimeError(f"worker exited early:\n{self.log_tail()}")
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"worker not healthy after {timeout}s:\n{self.log_tail()}")

    def log_tail(self, lines: int = 60) -> str:
        if not self.log_path.exists():
            return ""
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self) -> HubWorker:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self, timeout: float = 60.0) -> int | None:
        if self.process is None or self.process.poll() is not None:
            return None if self.process is None else self.process.returncode
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait(10)


def touchline(*args: str, env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """`touchline ARGS` from this checkout, with only the given TOUCHLINE_* settings."""
    return subprocess.run(
        [sys.executable, "-m", "streams", *args],
        cwd=REPO,
        env=clean_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@contextlib.contextmanager
def worker_pair(
    bootstrap: str, app_id: str, base: Path, env: dict[str, str]
) -> Iterator[tuple[HubWorker, HubWorker]]:
    """Two workers of one hub (one consumer group, data in `base`/one and /two), both
    healthy once the second has joined; both stopped afterwards."""
    with (
        HubWorker(bootstrap, app_id, base / "one", env=env) as first,
        HubWorker(bootstrap, app_id, base / "two", env=env) as second,
    ):
        first.wait_healthy()
        yield first, second


async def produce_raw(bootstrap: str, topic: str, key: bytes | None, value: bytes | None) -> Any:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        return await producer.send_and_wait(topic, value, key=key)
    finally:
        await producer.stop()


@dataclass
class Seen:
    key: str | None
    value: Any  # decoded model, None for a tombstone, or the SerializationError
    raw: Any


async def read_until(
    bootstrap: str,
    topic: str,
    done: Callable[[list[Seen]], bool],
    *,
    timeout: float = 30.0,
    serializer: AvroSerializer | None = None,
) -> list[Seen]:
    """Read `topic` from the beginning until `done(records)` holds; fail after `timeout`."""
    serializer = serializer or AvroSerializer()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    await consumer.start()
    seen: list[Seen] = []
    try:
        deadline = asyncio.get_running_loop().time() + timeout
        while not done(seen):
            if asyncio.get_running_loop().time() > deadline:
                raise AssertionError(f"{topic}: condition not met in {timeout}s; read {len(seen)}")
            batch = await consumer.getmany(timeout_ms=200)
            for messages in batch.values():
                for m in messages:
                    value: Any
                    try:
                        value = None if m.value is None else serializer.decode_model(m.value)
                    except SerializationError as exc:
                        value = exc  # other tests put garbage on shared topics on purpose
                    key = m.key.decode() if m.key is not None else None
                    seen.append(Seen(key, value, m))
        return seen
    finally:
        await consumer.stop()


async def eventually(
    probe: Callable[[], Any], check: Callable[[Any], bool], timeout: float = 30.0
) -> Any:
    """Call the async `probe` until `check(result)` holds; return that result."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: Any = None
    while asyncio.get_running_loop().time() < deadline:
        last = await probe()
        if check(last):
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"condition not met in {timeout}s; last result: {last!r}")


class Api:
    """A small JSON client of the hub's HTTP API."""

    def __init__(self, session: aiohttp.ClientSession, base: str, key: str | None = None):
        self.session = session
        self.base = base
        self.headers = {"Authorization": f"Bearer {key}"} if key else {}

    async def request(self, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
        headers = {**self.headers, **kwargs.pop("headers", {})}
        async with self.session.request(
            method, self.base + path, headers=headers, **kwargs
        ) as response:
            text = await response.text()
            if response.content_type == "application/json":
                import json

                return response.status, json.loads(text)
            return response.status, text
