"""The Faust application: settings, the tables, and the shared serializer."""

from __future__ import annotations

import hashlib
import os
import socket
from datetime import UTC, datetime
from typing import Any

import faust
from faust.serializers import codecs

from streams.config import Settings
from streams.domain.decisions import ContactPolicy
from streams.domain.resolution import IdentityGuard
from streams.serialization import AvroSerializer, SchemaRegistry
from streams.state_codec import decode_state, encode_state

settings = Settings.from_env()
serializer = AvroSerializer(
    registry=SchemaRegistry(settings.schema_registry_url) if settings.schema_registry_url else None
)
policy = ContactPolicy(
    keywords=settings.sms_keywords,
    response_window=settings.response_window,
    abuse_lexicon=settings.abuse_lexicon,
)
identity_guard = IdentityGuard(blocked=settings.blocked_identities)


class _StateCodec(codecs.Codec):
    """Table values are CustomerState in the format of `streams.state_codec`."""

    _last: tuple[Any, bytes] | None = None

    def _dumps(self, obj: Any) -> bytes:
        # Faust serialises every value twice, for the local store and for the changelog:
        # remember the last one so the same state is encoded once.
        last = self._last
        if last is not None and last[0] is obj:
            return last[1]
        encoded = encode_state(obj)
        self._last = (obj, encoded)
        return encoded

    def _loads(self, s: bytes) -> Any:
        return decode_state(s, serializer)


def _worker_dir() -> str:
    return os.environ.get("TOUCHLINE_WORKER_DIR") or str(settings.data_dir / "worker")


def _worker_id() -> str:
    """This worker's static member id in the consumer group: one that comes back under
    the same id (a restart after a crash) gets its partitions back at once, instead of
    the group waiting out the session timeout and rebalancing twice. Set
    TOUCHLINE_WORKER_ID where host names or paths are not stable."""
    given = os.environ.get("TOUCHLINE_WORKER_ID")
    if given:
        return given
    place = f"{socket.gethostname()}:{os.path.abspath(_worker_dir())}"
    return f"{settings.app_id}-{hashlib.sha256(place.encode()).hexdigest()[:16]}"


app = faust.App(
    settings.app_id,
    broker=f"kafka://{settings.bootstrap_servers}",
    store=os.environ.get("TOUCHLINE_STORE", "rocksdb://"),
    datadir=_worker_dir(),
    topic_partitions=settings.partitions,
    topic_replication_factor=int(os.environ.get("TOUCHLINE_REPLICATION_FACTOR", "1")),
    # A standby replica on a single node only doubles changelog reads; raise it with
    # TOUCHLINE_STANDBY_REPLICAS when running several workers for faster failover.
    table_standby_replicas=int(os.environ.get("TOUCHLINE_STANDBY_REPLICAS", "0")),
    consumer_auto_offset_reset="earliest",
    consumer_group_instance_id=_worker_id(),
    # With static membership, how long a worker that does not come back keeps its
    # partitions before the group hands them to the others.
    broker_session_timeout=float(os.environ.get("TOUCHLINE_SESSION_TIMEOUT", "30")),
    # Commit often enough that a restart replays little, rarely enough to stay cheap.
    broker_commit_interval=float(os.environ.get("TOUCHLINE_COMMIT_INTERVAL", "1.0")),
    # A couple of milliseconds of linger batches bursts without hurting reply latency.
    producer_linger_ms=int(os.environ.get("TOUCHLINE_PRODUCER_LINGER_MS", "2")),
    producer_acks=-1,
    stream_wait_empty=False,
    # Small fetches and a short in-memory buffer: a reply must not wait behind thousands
    # of background records already fetched; throughput barely changes.
    broker_max_poll_records=int(os.environ.get("TOUCHLINE_MAX_POLL_RECORDS", "100")),
    stream_buffer_maxsize=int(os.environ.get("TOUCHLINE_STREAM_BUFFER", "256")),
    web_enabled=True,
    web_bind=settings.web_host,
    web_port=settings.web_port,
    canonical_url=f"http://{settings.web_host}:{settings.web_port}",
    web_application_options={"client_max_size": settings.max_body_bytes},
    web_transport=f"tcp://{settings.web_host}:{settings.web_port}",
    autodiscover=False,
)

customers = app.Table("customers", default=None, key_type=str, help="customer_id → CustomerState")

identities = app.Table("identities", default=None, key_type=str, help="identity → customer_id")

names = app.Table(
    "names", default=None, key_type=str, help="name token → JSON list of customer summaries"
)

schedules = app.Table(
    "schedules",
    default=None,
    key_type=str,
    help="customer_id → JSON: when to ask the contact rules again, and targeting campaigns",
)

# Faust derives table serializers from the types (JSON by default). Keys must be the raw
# UTF-8 bytes producers use, or partitioning and table routing would hash other bytes.
for _table, _values in (
    (customers, _StateCodec()),
    (identities, "raw"),
    (names, "raw"),
    (schedules, "raw"),
):
    _table.key_serializer = "raw"  # type: ignore[attr-defined]
    _table.value_serializer = _values  # type: ignore[attr-defined]
    # The changelog topic was already made with the JSON defaults; recovery decodes
    # through it, so make it again with the serializers above.
    _table.changelog_topic = _table._new_changelog_topic()  # type: ignore[attr-defined]


def utcnow() -> datetime:
    return datetime.now(UTC)
