"""Run a single-node Apache Kafka (KRaft) broker as a local child process, without Docker."""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import contextlib
import fcntl
import io
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections import deque
from collections.abc import Coroutine, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from aiokafka.admin import AIOKafkaAdminClient

KAFKA_VERSION = "4.1.1"

_POM = Path(__file__).with_name("local-kafka.pom.xml")
_LOG4J_CONFIG = Path(__file__).with_name("log4j2.properties")
_COMPLETE_MARKER = ".complete"
_MAVEN_TIMEOUT_S = 900
_POLL_INTERVAL_S = 0.5
_TAIL_LINES = 30

_ALTERNATIVES = (
    "start Kafka with `docker compose -f docker-compose.kafka.yml up -d`, "
    "or point Touchline at an existing cluster with `--broker HOST:PORT` / TOUCHLINE_BROKER"
)

_T = TypeVar("_T")


class LocalKafkaError(Exception):
    """The local Kafka broker could not be prepared, started or reached."""


def kafka_cache_dir() -> Path:
    """Directory holding the resolved broker jars for KAFKA_VERSION."""
    base = os.environ.get("TOUCHLINE_CACHE_DIR")
    root = Path(base).expanduser() if base else Path.home() / ".cache" / "touchline"
    return root / f"kafka-{KAFKA_VERSION}" / "jars"


def ensure_jars() -> Path:
    """Return the jar directory, resolving it with Maven on first use."""
    _require_tool("java")
    jar_dir = kafka_cache_dir()
    if (jar_dir / _COMPLETE_MARKER).exists():
        return jar_dir
    mvn = _require_tool("mvn")
    parent = jar_dir.parent
    parent.mkdir(parents=True, exist_ok=True)
    with _file_lock(parent / ".lock"):
        # Another process may have finished resolving while we waited for the lock.
        if (jar_dir / _COMPLETE_MARKER).exists():
            return jar_dir
        for stale in parent.glob("stage-*"):
            shutil.rmtree(stale, ignore_errors=True)
        stage = Path(tempfile.mkdtemp(prefix="stage-", dir=parent))
        try:
            # Maven runs against a copy of the pom so it never writes next to the installed package.
            pom = stage / "pom.xml"
            shutil.copyfile(_POM, pom)
            staged_jars = stage / "jars"
            _run_maven(mvn, pom, staged_jars)
            if not any(staged_jars.glob("kafka_*.jar")):
                raise LocalKafkaError(f"Maven finished but produced no Kafka jars in {staged_jars}")
            (staged_jars / _COMPLETE_MARKER).write_text(KAFKA_VERSION + "\n")
            # The marker is written before the rename, so the final dir is complete or absent.
            if jar_dir.exists():
                shutil.rmtree(jar_dir)
            staged_jars.rename(jar_dir)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
    return jar_dir


@dataclass(frozen=True)
class Listener:
    """One more PLAINTEXT listener on loopback, advertised on `advertised_port` when given:
    clients that bootstrap through a relay in front of it keep going through the relay."""

    name: str
    port: int
    advertised_port: int | None = None

    @property
    def bound(self) -> str:
        return f"{self.name}://127.0.0.1:{self.port}"

    @property
    def advertised(self) -> str:
        return f"{self.name}://127.0.0.1:{self.advertised_port or self.port}"


@dataclass(frozen=True)
class SaslSslListener:
    """A SASL_SSL listener on loopback for clients: SCRAM-SHA-512 for the user
    `username`, created when the storage is formatted, and TLS with a broker certificate
    (for 127.0.0.1 and localhost) signed by a CA made with `keytool` at the first start
    (`LocalKafka.ca_file`, PEM, is what clients trust). The controller and inter-broker
    listeners stay PLAINTEXT on loopback."""

    port: int
    username: str = "touchline"
    password: str = field(default="touchline-secret", repr=False)

    def __post_init__(self) -> None:
        # Written into `--add-scram 'SCRAM-SHA-512=[name=...,password=...]'`: keep it plain.
        for what, value in (("username", self.username), ("password", self.password)):
            if not re.fullmatch(r"[A-Za-z0-9._@-]+", value):
                raise ValueError(f"SaslSslListener {what}: letters, digits and ._@- only")

    @property
    def bound(self) -> str:
        return f"SASL_SSL://127.0.0.1:{self.port}"


@dataclass
class LocalKafka:
    """A single-node KRaft broker whose files live under ``data_dir/kafka/``.

    ``start()`` leaves the broker running after this Python process exits (for
    ``touchline kafka start``); using the object as a context manager stops it on exit.
    ``controller_port`` defaults to ``port + 1000``. ``extra_listeners`` adds listeners
    beside the PLAINTEXT one (the PLAINTEXT one stays the bootstrap address).
    ``extra_properties`` overrides the generated broker settings (None removes one); with
    ``controller.quorum.voters`` among them the node joins a static multi-node quorum
    (same ``cluster.id`` file in each node's ``kafka/``, started together).
    ``sasl_ssl`` adds a SASL_SSL listener (SCRAM-SHA-512 over TLS) for clients:
    ``secure_bootstrap`` is its address and ``ca_file`` the CA its certificate is
    signed by.
    """

    data_dir: Path
    port: int = 9092
    controller_port: int | None = None
    heap: str = "1g"
    extra_listeners: tuple[Listener, ...] = ()
    extra_properties: Mapping[str, str | None] = field(default_factory=dict)
    sasl_ssl: SaslSslListener | None = None
    _proc: subprocess.Popen[bytes] | None = field(
        default=None, init=False, repr=False, compare=False
    )
    _server_log_offset: int = field(default=0, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Absolute, because the broker runs with its own working directory.
        self.data_dir = Path(self.data_dir).expanduser().resolve()
        if self.controller_port is None:
            self.controller_port = self.port + 1000

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def secure_bootstrap(self) -> str:
        """The SASL_SSL listener's address (needs `sasl_ssl`)."""
        if self.sasl_ssl is None:
            raise LocalKafkaError("this broker has no SASL_SSL listener")
        return f"127.0.0.1:{self.sasl_ssl.port}"

    @property
    def kafka_dir(self) -> Path:
        return self.data_dir / "kafka"

    @property
    def tls_dir(self) -> Path:
        """The CA, the broker's keystore and their password (`sasl_ssl`)."""
        return self.kafka_dir / "tls"

    @property
    def ca_file(self) -> Path:
        """The PEM certificate of the CA that signed the broker's (`sasl_ssl`)."""
        return self.tls_dir / "ca.pem"

    @property
    def log_dir(self) -> Path:
        """The KRaft log (data) directory."""
        return self.kafka_dir / "logs"

    @property
    def _cport(self) -> int:
        assert self.controller_port is not None
        return self.controller_port

    @property
    def _properties_file(self) -> Path:
        return self.kafka_dir / "server.properties"

    @property
    def _pid_file(self) -> Path:
        return self.kafka_dir / "kafka.pid"

    @property
    def _stdout_file(self) -> Path:
        return self.kafka_dir / "broker.out"

    @property
    def _server_log(self) -> Path:
        return self.kafka_dir / "server.log"

    def start(self, timeout: float = 90) -> None:
        """Start the broker (no-op if already running) and wait until it serves metadata."""
        self.kafka_dir.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.kafka_dir / ".lock"):
            pid = self._running_pid()
            if pid is not None:
                # Ours and alive: either fully up, or still booting from an earlier start().
                self._wait_ready(pid, timeout)
                return
            self._pid_file.unlink(missing_ok=True)
            ports = [self.port, self._cport, *(x.port for x in self.extra_listeners)]
            if self.sasl_ssl is not None:
                ports.append(self.sasl_ssl.port)
            for port in ports:
                if not _port_free(port):
                    raise LocalKafkaError(
                        f"port {port} on 127.0.0.1 is already in use by another process; "
                        f"stop it or start the local broker on other ports"
                    )
            jars = ensure_jars()
            if self.sasl_ssl is not None:
                self._make_keystores()
            self._write_properties()
            self._format_storage(jars)
            pid = self._spawn(jars)
            try:
                self._wait_ready(pid, timeout)
            except BaseException:
                # A half-started broker would hold the ports and confuse the next start().
                self.stop(timeout=10)
                raise

    def stop(self, timeout: float = 30) -> bool:
        """Stop the broker; returns True if it was running."""
        pid = self._running_pid()
        if pid is None:
            self._pid_file.unlink(missing_ok=True)
            self._proc = None
            return False
        # SIGTERM triggers a controlled shutdown, which flushes logs and closes segments cleanly.
        _signal(pid, signal.SIGTERM)
        if not self._wait_exit(pid, timeout):
            _signal(pid, signal.SIGKILL)
            self._wait_exit(pid, 10)
        self._pid_file.unlink(missing_ok=True)
        self._proc = None
        return True

    def status(self) -> dict[str, Any]:
        pid = self._running_pid()
        return {
            "running": pid is not None,
            "pid": pid,
            "bootstrap": self.bootstrap,
            **({"secure_bootstrap": self.secure_bootstrap} if self.sasl_ssl else {}),
            "data_dir": str(self.data_dir),
            "kafka_version": KAFKA_VERSION,
        }

    def __enter__(self) -> LocalKafka:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- internals -------------------------------------------------------------------------

    def _write_properties(self) -> None:
        extra = self.extra_listeners
        secure = [self.sasl_ssl.bound] if self.sasl_ssl is not None else []
        props: dict[str, str | None] = {
            "process.roles": "broker,controller",
            "node.id": "1",
            "controller.quorum.bootstrap.servers": f"127.0.0.1:{self._cport}",
            "listeners": ",".join(
                [f"PLAINTEXT://127.0.0.1:{self.port}", f"CONTROLLER://127.0.0.1:{self._cport}"]
                + [x.bound for x in extra]
                + secure
            ),
            "advertised.listeners": ",".join(
                [f"PLAINTEXT://127.0.0.1:{self.port}"] + [x.advertised for x in extra] + secure
            ),
            "controller.listener.names": "CONTROLLER",
            "listener.security.protocol.map": ",".join(
                ["PLAINTEXT:PLAINTEXT", "CONTROLLER:PLAINTEXT"]
                + [f"{x.name}:PLAINTEXT" for x in extra]
                + (["SASL_SSL:SASL_SSL"] if secure else [])
            ),
            "log.dirs": str(self.log_dir),
            "num.partitions": "8",
            "offsets.topic.replication.factor": "1",
            "transaction.state.log.replication.factor": "1",
            "transaction.state.log.min.isr": "1",
            "share.coordinator.state.topic.replication.factor": "1",
            "share.coordinator.state.topic.min.isr": "1",
            # Single consumer groups in dev and tests should not wait 3s before their first poll.
            "group.initial.rebalance.delay.ms": "0",
        }
        if self.sasl_ssl is not None:
            props.update(self._sasl_ssl_properties())
        props.update(self.extra_properties)
        text = "".join(f"{key}={value}\n" for key, value in props.items() if value is not None)
        self._properties_file.write_text(
            "# Generated by touchline; edits are overwritten.\n" + text
        )

    def _sasl_ssl_properties(self) -> dict[str, str | None]:
        prefix = "listener.name.sasl_ssl."
        password = self._store_password()
        return {
            # Brokers and the controller keep talking PLAINTEXT on loopback.
            "inter.broker.listener.name": "PLAINTEXT",
            "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            prefix + "sasl.enabled.mechanisms": "SCRAM-SHA-512",
            prefix + "scram-sha-512.sasl.jaas.config": (
                "org.apache.kafka.common.security.scram.ScramLoginModule required;"
            ),
            prefix + "ssl.keystore.type": "PKCS12",
            prefix + "ssl.keystore.location": str(self.tls_dir / "broker.p12"),
            prefix + "ssl.keystore.password": password,
            prefix + "ssl.key.password": password,
            prefix + "ssl.client.auth": "none",
        }

    def _store_password(self) -> str:
        path = self.tls_dir / "store.password"
        if not path.exists():
            self.tls_dir.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_hex(16))
        return path.read_text().strip()

    def _make_keystores(self) -> None:
        """A CA and the broker's PKCS12 keystore, signed by it, made once with keytool;
        the CA's certificate as PEM (`ca_file`) for the clients."""
        tls = self.tls_dir
        broker_store = tls / "broker.p12"
        if broker_store.exists() and self.ca_file.exists():
            return
        keytool = _require_tool("keytool")
        password = self._store_password()
        for stale in ("ca.p12", "broker.p12", "broker.csr", "broker.pem", "ca.pem"):
            (tls / stale).unlink(missing_ok=True)
        ca = ["-keystore", str(tls / "ca.p12"), "-storetype", "PKCS12", "-storepass", password]
        broker = ["-keystore", str(broker_store), "-storetype", "PKCS12", "-storepass", password]
        san = "SAN=ip:127.0.0.1,dns:localhost"
        new_key = ["-genkeypair", "-keyalg", "RSA", "-keysize", "2048", "-validity", "3650"]
        steps = [
            [*new_key, "-alias", "ca", "-dname", "CN=Touchline local CA", *ca,
             "-ext", "bc:c", "-ext", "ku:c=keyCertSign,cRLSign"],
            ["-exportcert", "-rfc", "-alias", "ca", "-file", str(self.ca_file), *ca],
            [*new_key, "-alias", "broker", "-dname", "CN=localhost", "-ext", san, *broker],
            ["-certreq", "-alias", "broker", "-file", str(tls / "broker.csr"), *broker],
            ["-gencert", "-rfc", "-alias", "ca", "-infile", str(tls / "broker.csr"),
             "-outfile", str(tls / "broker.pem"), "-validity", "3650", "-ext", san, *ca],
            ["-importcert", "-noprompt", "-alias", "ca", "-file", str(self.ca_file), *broker],
            ["-importcert", "-alias", "broker", "-file", str(tls / "broker.pem"), *broker],
        ]  # fmt: skip
        for step in steps:
            result = subprocess.run(
                [keytool, *step], capture_output=True, text=True, check=False, timeout=120
            )
            if result.returncode != 0:
                broker_store.unlink(missing_ok=True)
                raise LocalKafkaError(
                    f"keytool {step[0]} failed (exit {result.returncode}):\n"
                    f"{_tail_text(result.stdout + result.stderr)}"
                )

    def _cluster_id(self) -> str:
        # Persisted so a wiped log dir can be re-formatted under the same identity.
        path = self.kafka_dir / "cluster.id"
        if path.exists():
            existing = path.read_text().strip()
            if existing:
                return existing
        cluster_id = _random_kafka_uuid()
        path.write_text(cluster_id + "\n")
        return cluster_id

    @property
    def _static_quorum(self) -> bool:
        return self.extra_properties.get("controller.quorum.voters") is not None

    def _format_storage(self, jars: Path) -> None:
        if (self.log_dir / "meta.properties").exists():
            return
        cmd = [
            # The storage tool is short-lived and small; the broker heap would be wasted on it.
            *self._java_base(jars, "256m"),
            "kafka.tools.StorageTool",
            "format",
            *([] if self._static_quorum else ["--standalone"]),
            "--ignore-formatted",
            "-t",
            self._cluster_id(),
            "-c",
            str(self._properties_file),
        ]
        if self.sasl_ssl is not None:
            user = self.sasl_ssl
            scram = f"SCRAM-SHA-512=[name={user.username},password={user.password}]"
            cmd += ["--add-scram", scram]
        result = subprocess.run(
            cmd, cwd=self.kafka_dir, capture_output=True, text=True, check=False, timeout=120
        )
        if result.returncode != 0:
            raise LocalKafkaError(
                f"formatting Kafka storage in {self.log_dir} failed "
                f"(exit {result.returncode}):\n{_tail_text(result.stdout + result.stderr)}"
            )

    def _java_base(self, jars: Path, heap: str) -> list[str]:
        return [
            _require_tool("java"),
            f"-Xmx{heap}",
            "-Djava.awt.headless=true",
            "-cp",
            f"{jars}{os.sep}*",
        ]

    def _spawn(self, jars: Path) -> int:
        cmd = [
            *self._java_base(jars, self.heap),
            f"-Dlog4j2.configurationFile={_LOG4J_CONFIG}",
            f"-Dkafka.logs.dir={self.kafka_dir}",
            "kafka.Kafka",
            str(self._properties_file),
        ]
        # Failure reports should only quote what this run logged, not an earlier run.
        self._server_log_offset = (
            self._server_log.stat().st_size if self._server_log.exists() else 0
        )
        with self._stdout_file.open("ab") as out:
            out.write(f"\n--- starting Kafka {KAFKA_VERSION} at {time.ctime()} ---\n".encode())
            out.flush()
            # A new session keeps terminal Ctrl-C away from the JVM: our code decides when it stops.
            self._proc = subprocess.Popen(
                cmd,
                cwd=self.kafka_dir,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._pid_file.write_text(f"{self._proc.pid}\n")
        return self._proc.pid

    def _wait_ready(self, pid: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if not self._alive(pid):
                self._pid_file.unlink(missing_ok=True)
                raise LocalKafkaError(
                    f"Kafka broker (pid {pid}) exited during startup.\n{self._log_tail()}"
                )
            secure_up = self.sasl_ssl is None or _port_open(self.sasl_ssl.port)
            if _port_open(self.port) and secure_up and _run_sync(_metadata_ok(self.bootstrap)):
                return
            if time.monotonic() >= deadline:
                raise LocalKafkaError(
                    f"Kafka broker (pid {pid}) did not answer on {self.bootstrap} "
                    f"within {timeout:g}s.\n{self._log_tail()}"
                )
            time.sleep(_POLL_INTERVAL_S)

    def _wait_exit(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._alive(pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.1)
        return True

    def _running_pid(self) -> int | None:
        """Pid of the broker serving this data dir, or None (stale pid files are ignored)."""
        try:
            pid = int(self._pid_file.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not self._alive(pid) or not self._is_our_broker(pid):
            return None
        return pid

    def _alive(self, pid: int) -> bool:
        if self._proc is not None and self._proc.pid == pid:
            # poll() also reaps our own child, which would otherwise linger as a zombie.
            return self._proc.poll() is None
        try:
            # Another LocalKafka in this process may have spawned it: reap it if it is a zombie.
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return False
        except ChildProcessError:
            pass
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _is_our_broker(self, pid: int) -> bool:
        # Guards against pid reuse after a reboot; only checkable where /proc exists.
        cmdline = Path(f"/proc/{pid}/cmdline")
        try:
            args = cmdline.read_bytes().split(b"\0")
        except FileNotFoundError:
            return not Path("/proc/self").exists()
        except OSError:
            return True
        return str(self._properties_file).encode() in args

    def _log_tail(self) -> str:
        parts = []
        for path, offset in ((self._stdout_file, 0), (self._server_log, self._server_log_offset)):
            tail = _tail_file(path, offset) if path.exists() else ""
            if tail:
                parts.append(f"--- last lines of {path} ---\n{tail}")
        return "\n".join(parts) or "(no broker output was written)"


async def _metadata_ok(bootstrap: str) -> bool:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    try:
        # Bounded so a broker that accepts connections but never answers can't stall the poll.
        async with asyncio.timeout(10):
            await admin.start()
            await admin.list_topics()
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return True


def _run_sync(coro: Coroutine[Any, Any, _T]) -> _T:
    """asyncio.run that also works when called from inside a running event loop."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


def _require_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise LocalKafkaError(
            f"`{name}` was not found on PATH; running Kafka locally without Docker needs "
            f"Java 17+ and Maven. Install them, or {_ALTERNATIVES}."
        )
    return path


def _run_maven(mvn: str, pom: Path, output_dir: Path) -> None:
    cmd = [
        mvn,
        "-q",
        "-B",
        "-Dstyle.color=never",
        "-f",
        str(pom),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={output_dir}",
        "-DincludeScope=runtime",
    ]
    try:
        result = subprocess.run(
            cmd,
            cwd=pom.parent,
            capture_output=True,
            text=True,
            check=False,
            timeout=_MAVEN_TIMEOUT_S,
        )
    except subprocess.TimeoutExpired as exc:
        raise LocalKafkaError(
            f"Maven did not finish resolving Kafka {KAFKA_VERSION} jars within "
            f"{_MAVEN_TIMEOUT_S}s; alternatively {_ALTERNATIVES}."
        ) from exc
    if result.returncode != 0:
        raise LocalKafkaError(
            f"Maven failed to resolve Kafka {KAFKA_VERSION} jars (exit {result.returncode}); "
            f"alternatively {_ALTERNATIVES}.\n{_tail_text(result.stdout + result.stderr)}"
        )


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _random_kafka_uuid() -> str:
    # Kafka's Uuid text form: URL-safe base64 of 16 random bytes without padding; Kafka
    # itself never hands out ids starting with "-" because they read like CLI flags.
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
        return True
    return False


def _port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        # SO_REUSEADDR, like the broker itself, so TIME_WAIT leftovers of a restart don't count.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _tail_text(text: str, lines: int = _TAIL_LINES) -> str:
    return "\n".join(text.strip().splitlines()[-lines:])


def _tail_file(path: Path, offset: int = 0, lines: int = _TAIL_LINES) -> str:
    with path.open("rb") as raw:
        raw.seek(offset)
        handle = io.TextIOWrapper(raw, errors="replace")
        return "".join(deque(handle, maxlen=lines)).rstrip()
