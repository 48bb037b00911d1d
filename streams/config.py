"""Runtime settings, read once from the TOUCHLINE_* environment variables."""

from __future__ import annotations

import os
import secrets
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import TypeVar

from streams.domain.access import AccessConfigError, ApiKey, parse_api_keys
from streams.domain.campaign_policy import CampaignPolicy, PolicyError, parse_policy
from streams.domain.flags import DEFAULT_ABUSE_LEXICON, AbuseLexicon
from streams.domain.identity import (
    IdentityError,
    normalise_account,
    normalise_device,
    normalise_email,
    normalise_phone,
    normalise_region,
    normalise_social,
)
from streams.domain.keywords import SmsKeywords

N = TypeVar("N", int, float)


class ConfigError(ValueError):
    """A TOUCHLINE_* variable has a value the hub cannot use."""


def _number(
    env: Mapping[str, str], name: str, default: N, read: Callable[[str], N], what: str
) -> N:
    """The variable `name` as `read` reads it (`what` says what it must be); `default`
    when it is unset or empty."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        return read(raw)
    except ValueError:
        raise ConfigError(f"{name} must be {what}, got {raw!r}") from None


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    return _number(env, name, default, int, "a whole number")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    return _number(env, name, default, float, "a number")


def _region(raw: str | None) -> str | None:
    try:
        return normalise_region(raw)
    except ValueError as exc:
        raise ConfigError(f"TOUCHLINE_DEFAULT_REGION: {exc}") from None


def _api_keys(raw: str) -> tuple[ApiKey, ...]:
    try:
        return parse_api_keys(raw)
    except AccessConfigError as exc:
        raise ConfigError(str(exc)) from None


def load_default_policy(path: str | None) -> CampaignPolicy | None:
    """The rules for campaigns without a policy of their own, from a TOML file with the
    fields of a policy document (its campaign_id and version, if any, are ignored)."""
    if not path:
        return None
    try:
        document = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"TOUCHLINE_DEFAULT_POLICY: cannot read {path}: {exc}") from None
    document = {k: v for k, v in document.items() if k not in {"campaign_id", "version"}}
    try:
        return parse_policy({**document, "campaign_id": "*", "version": 1}).model_copy(
            update={"version": None}
        )
    except PolicyError as exc:
        raise ConfigError(f"TOUCHLINE_DEFAULT_POLICY: {exc}") from None


def _abuse_lexicon(env: Mapping[str, str]) -> AbuseLexicon:
    try:
        return AbuseLexicon.from_env(env)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def parse_blocked_identities(raw: str, default_region: str | None) -> frozenset[str]:
    """`kind:value,kind:value` → normalised identity keys that must never link profiles
    (a branch's shared phone, a switchboard number, an agent's own e-mail)."""
    normalisers = {
        "phone": lambda v: normalise_phone(v, default_region),
        "email": normalise_email,
        "account": normalise_account,
        "device": normalise_device,
        "social": normalise_social,
    }
    blocked: set[str] = set()
    for item in raw.split(","):
        item = item.strip()
        if not item:
            continue
        kind, _, value = item.partition(":")
        normalise = normalisers.get(kind.strip().lower())
        if normalise is None or not value.strip():
            raise ConfigError(
                f"TOUCHLINE_BLOCKED_IDENTITIES: {kind!r} is not kind:value with a kind of "
                + ", ".join(normalisers)
            )
        try:
            blocked.add(f"{kind.strip().lower()}:{normalise(value.strip())}")
        except IdentityError as exc:
            raise ConfigError(f"TOUCHLINE_BLOCKED_IDENTITIES: {exc.message}") from None
    return frozenset(blocked)


SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
SASL_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """How every Kafka client of the hub authenticates and encrypts: the
    TOUCHLINE_KAFKA_SECURITY_PROTOCOL, _SASL_* and _SSL_* variables
    (`streams.kafka.connection` turns them into client options). The password is never
    in a repr."""

    protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None

    @property
    def sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> KafkaSecurity:
        """Raises ConfigError naming the variable of a value or combination the clients
        cannot use."""

        def read(name: str) -> str | None:
            return (env.get(name) or "").strip() or None

        def file(name: str) -> Path | None:
            raw = read(name)
            if raw is None:
                return None
            path = Path(raw).expanduser()
            if not path.is_file():
                raise ConfigError(f"{name}: no such file: {raw}")
            return path.resolve()

        protocol = (read("TOUCHLINE_KAFKA_SECURITY_PROTOCOL") or "PLAINTEXT").upper()
        if protocol not in SECURITY_PROTOCOLS:
            raise ConfigError(
                "TOUCHLINE_KAFKA_SECURITY_PROTOCOL must be one of "
                f"{', '.join(SECURITY_PROTOCOLS)}, got {protocol!r}"
            )
        mechanism = read("TOUCHLINE_KAFKA_SASL_MECHANISM")
        if mechanism is not None:
            mechanism = mechanism.upper()
            if mechanism not in SASL_MECHANISMS:
                raise ConfigError(
                    "TOUCHLINE_KAFKA_SASL_MECHANISM must be one of "
                    f"{', '.join(SASL_MECHANISMS)}, got {mechanism!r}"
                )
        # The password is taken as given: spaces may be part of it.
        password = env.get("TOUCHLINE_KAFKA_SASL_PASSWORD") or None
        security = cls(
            protocol=protocol,
            sasl_mechanism=mechanism,
            sasl_username=read("TOUCHLINE_KAFKA_SASL_USERNAME"),
            sasl_password=password,
            ssl_cafile=file("TOUCHLINE_KAFKA_SSL_CAFILE"),
            ssl_certfile=file("TOUCHLINE_KAFKA_SSL_CERTFILE"),
            ssl_keyfile=file("TOUCHLINE_KAFKA_SSL_KEYFILE"),
        )
        security._check()
        if security.sasl and mechanism is None:
            return replace(security, sasl_mechanism="SCRAM-SHA-512")
        return security

    def _check(self) -> None:
        given = f"TOUCHLINE_KAFKA_SECURITY_PROTOCOL is {self.protocol}"
        if self.sasl:
            if self.sasl_username is None:
                raise ConfigError(f"TOUCHLINE_KAFKA_SASL_USERNAME must be set: {given}")
            if self.sasl_password is None:
                raise ConfigError(f"TOUCHLINE_KAFKA_SASL_PASSWORD must be set: {given}")
        else:
            for name, value in (
                ("TOUCHLINE_KAFKA_SASL_MECHANISM", self.sasl_mechanism),
                ("TOUCHLINE_KAFKA_SASL_USERNAME", self.sasl_username),
                ("TOUCHLINE_KAFKA_SASL_PASSWORD", self.sasl_password),
            ):
                if value is not None:
                    # Credentials that would silently go unused: the protocol was forgotten.
                    raise ConfigError(
                        f"{name} is set but {given}: "
                        "use SASL_SSL (or SASL_PLAINTEXT) to authenticate"
                    )
        if not self.tls:
            for name, path in (
                ("TOUCHLINE_KAFKA_SSL_CAFILE", self.ssl_cafile),
                ("TOUCHLINE_KAFKA_SSL_CERTFILE", self.ssl_certfile),
                ("TOUCHLINE_KAFKA_SSL_KEYFILE", self.ssl_keyfile),
            ):
                if path is not None:
                    raise ConfigError(
                        f"{name} is set but {given}: use SSL or SASL_SSL to connect with TLS"
                    )
        if self.ssl_keyfile is not None and self.ssl_certfile is None:
            raise ConfigError(
                "TOUCHLINE_KAFKA_SSL_KEYFILE is set without TOUCHLINE_KAFKA_SSL_CERTFILE: "
                "a client key needs its certificate"
            )


@dataclass(frozen=True)
class Settings:
    broker: str | None
    kafka_port: int
    web_host: str
    web_port: int
    data_dir: Path
    app_id: str
    partitions: int
    default_region: str | None
    api_keys: tuple[ApiKey, ...]
    twilio_auth_token: str | None
    sendgrid_public_key: str | None
    # Makes context tokens of requests that name their event id repeatable across
    # retries; random per process when unset (fine for one worker).
    context_secret: bytes = field(repr=False)
    public_url: str | None
    schema_registry_url: str | None
    max_body_bytes: int
    response_window: timedelta
    sms_keywords: SmsKeywords = field(repr=False)
    blocked_identities: frozenset[str] = field(default=frozenset(), repr=False)
    abuse_lexicon: AbuseLexicon = field(default=DEFAULT_ABUSE_LEXICON, repr=False)
    default_policy: CampaignPolicy | None = None
    # Vendor webhooks whose secret is not set accept unsigned requests (local development
    # only); otherwise they refuse every request.
    insecure_webhooks: bool = False
    # How old a vendor's signed timestamp may be (SendGrid's Event Webhook).
    webhook_tolerance: timedelta = timedelta(minutes=10)
    # A consumed record larger than this is a dead letter, unread.
    max_record_bytes: int = 1_000_000
    # The worker: where its tables live and how it takes part in the consumer group.
    store: str = "rocksdb://"
    worker_dir_override: Path | None = None
    worker_id: str | None = None
    replication_factor: int = 1
    # A standby replica on a single node only doubles changelog reads; raise it when
    # running several workers, for faster failover.
    standby_replicas: int = 0
    # With static membership, how long a worker that does not come back keeps its
    # partitions before the group hands them to the others.
    session_timeout: float = 30.0
    # Commit often enough that a restart replays little, rarely enough to stay cheap.
    commit_interval: float = 1.0
    # A couple of milliseconds of linger batches bursts without hurting reply latency.
    producer_linger_ms: int = 2
    # Small fetches and a short in-memory buffer: a reply must not wait behind thousands
    # of background records already fetched; throughput barely changes.
    max_poll_records: int = 100
    stream_buffer: int = 256
    # How many handled events at most wait for their records' delivery together.
    settle_batch: int = 500
    # Fault injection for tests: records to these topics are never delivered.
    fault_hold_topics: tuple[str, ...] = ()
    # SASL and TLS of every Kafka client (`streams.kafka.connection`).
    kafka_security: KafkaSecurity = KafkaSecurity()

    @property
    def worker_dir(self) -> Path:
        return self.worker_dir_override or self.data_dir / "worker"

    @property
    def bootstrap_servers(self) -> str:
        """The broker to use: the configured one, else the local Kafka."""
        return self.broker or f"127.0.0.1:{self.kafka_port}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        return cls(
            broker=env.get("TOUCHLINE_BROKER") or None,
            kafka_security=KafkaSecurity.from_env(env),
            kafka_port=_int(env, "TOUCHLINE_KAFKA_PORT", 9092),
            # Loopback by default: exposing the API is a deliberate act.
            web_host=env.get("TOUCHLINE_WEB_HOST", "127.0.0.1"),
            web_port=_int(env, "TOUCHLINE_WEB_PORT", 6066),
            data_dir=Path(env.get("TOUCHLINE_DATA_DIR", "./.touchline")).resolve(),
            app_id=env.get("TOUCHLINE_APP_ID", "touchline"),
            partitions=_int(env, "TOUCHLINE_PARTITIONS", 8),
            default_region=_region(env.get("TOUCHLINE_DEFAULT_REGION")),
            api_keys=_api_keys(env.get("TOUCHLINE_API_KEYS", "")),
            twilio_auth_token=env.get("TOUCHLINE_TWILIO_AUTH_TOKEN") or None,
            sendgrid_public_key=env.get("TOUCHLINE_SENDGRID_PUBLIC_KEY") or None,
            context_secret=(env.get("TOUCHLINE_CONTEXT_SECRET") or "").encode()
            or secrets.token_bytes(32),
            public_url=(env.get("TOUCHLINE_PUBLIC_URL") or "").rstrip("/") or None,
            schema_registry_url=env.get("TOUCHLINE_SCHEMA_REGISTRY_URL") or None,
            max_body_bytes=_int(env, "TOUCHLINE_MAX_BODY_BYTES", 1_048_576),
            response_window=timedelta(days=_int(env, "TOUCHLINE_RESPONSE_WINDOW_DAYS", 7)),
            sms_keywords=SmsKeywords.from_env(env),
            abuse_lexicon=_abuse_lexicon(env),
            default_policy=load_default_policy(env.get("TOUCHLINE_DEFAULT_POLICY")),
            max_record_bytes=_int(env, "TOUCHLINE_MAX_RECORD_BYTES", 1_000_000),
            insecure_webhooks=env.get("TOUCHLINE_INSECURE_WEBHOOKS", "") in {"1", "true", "yes"},
            webhook_tolerance=timedelta(
                seconds=_int(env, "TOUCHLINE_WEBHOOK_TOLERANCE_SECONDS", 600)
            ),
            store=env.get("TOUCHLINE_STORE") or "rocksdb://",
            worker_dir_override=Path(env["TOUCHLINE_WORKER_DIR"])
            if env.get("TOUCHLINE_WORKER_DIR")
            else None,
            worker_id=env.get("TOUCHLINE_WORKER_ID") or None,
            replication_factor=_int(env, "TOUCHLINE_REPLICATION_FACTOR", 1),
            standby_replicas=_int(env, "TOUCHLINE_STANDBY_REPLICAS", 0),
            session_timeout=_float(env, "TOUCHLINE_SESSION_TIMEOUT", 30.0),
            commit_interval=_float(env, "TOUCHLINE_COMMIT_INTERVAL", 1.0),
            producer_linger_ms=_int(env, "TOUCHLINE_PRODUCER_LINGER_MS", 2),
            max_poll_records=_int(env, "TOUCHLINE_MAX_POLL_RECORDS", 100),
            stream_buffer=_int(env, "TOUCHLINE_STREAM_BUFFER", 256),
            settle_batch=_int(env, "TOUCHLINE_SETTLE_BATCH", 500),
            fault_hold_topics=tuple(
                t for t in env.get("TOUCHLINE_FAULT_HOLD_TOPICS", "").split(",") if t
            ),
            blocked_identities=parse_blocked_identities(
                env.get("TOUCHLINE_BLOCKED_IDENTITIES", ""),
                _region(env.get("TOUCHLINE_DEFAULT_REGION")),
            ),
        )
