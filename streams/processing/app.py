"""The Faust app of a worker: `build_app(settings)` makes it with its tables, the books
the agents consult and the agents (`streams.app.create_app` adds the HTTP routes). Nothing
here reads the environment."""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Callable
from typing import Any

import faust
from faust.serializers import codecs
from faust.types import TableT

from streams.config import Settings
from streams.domain.decisions import ReplyRules
from streams.domain.resolution import IdentityGuard
from streams.kafka import faust_internals
from streams.kafka.connection import KafkaConnection
from streams.kafka.supervise import keep_running
from streams.views.policy_books import DncBook, PolicyBook
from streams.wire.serialization import AvroSerializer, SchemaRegistry
from streams.wire.state_codec import decode_state, encode_state
from streams.wire.topics import InternalTopics


class _StateCodec(codecs.Codec):
    """Table values are CustomerState in the format of `streams.wire.state_codec`."""

    def __init__(self, serializer: AvroSerializer) -> None:
        super().__init__()
        self._serializer = serializer
        self._last: tuple[Any, bytes] | None = None

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
        return decode_state(s, self._serializer)


def worker_id(settings: Settings) -> str:
    """This worker's static member id in the consumer group: one that comes back under
    the same id (a restart after a crash) gets its partitions back at once, instead of
    the group waiting out the session timeout and rebalancing twice. Set
    TOUCHLINE_WORKER_ID where host names or paths are not stable."""
    if settings.worker_id:
        return settings.worker_id
    place = f"{socket.gethostname()}:{settings.worker_dir.resolve()}"
    return f"{settings.app_id}-{hashlib.sha256(place.encode()).hexdigest()[:16]}"


class TouchlineApp(faust.App):
    """The Faust app, and what its agents and HTTP views share: settings, the serializer,
    the tables, the policy and DNC books, and the processing (`streams.processing`)."""

    settings: Settings
    serializer: AvroSerializer
    reply_rules: ReplyRules
    identity_guard: IdentityGuard
    internal_topics: InternalTopics
    customers: TableT
    identities: TableT
    names: TableT
    schedules: TableT
    policy_book: PolicyBook
    dnc_book: DncBook
    processing: Any  # streams.processing.runtime.Processing, set by create_app
    web_parts: Any  # what the HTTP views keep (streams.web.routes), set by create_app


def build_app(settings: Settings, *, web: bool = True) -> TouchlineApp:
    """The app for `settings`, with its tables, books and agents, and its web server
    enabled unless `web` is False (no routes yet). Each call makes a new, independent
    app."""
    from streams.processing.runtime import Processing

    app = TouchlineApp(
        settings.app_id,
        **KafkaConnection.of(settings).faust_options(),  # broker, broker_credentials
        store=settings.store,
        datadir=str(settings.worker_dir),
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.standby_replicas,
        consumer_auto_offset_reset="earliest",
        consumer_group_instance_id=worker_id(settings),
        broker_session_timeout=settings.session_timeout,
        broker_commit_interval=settings.commit_interval,
        producer_linger_ms=settings.producer_linger_ms,
        producer_acks=-1,
        stream_wait_empty=False,
        broker_max_poll_records=settings.max_poll_records,
        stream_buffer_maxsize=settings.stream_buffer,
        web_enabled=web,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        canonical_url=f"http://{settings.web_host}:{settings.web_port}",
        web_application_options={"client_max_size": settings.max_body_bytes},
        web_transport=f"tcp://{settings.web_host}:{settings.web_port}",
        autodiscover=False,
    )
    app.settings = settings
    app.serializer = AvroSerializer(
        registry=SchemaRegistry(settings.schema_registry_url)
        if settings.schema_registry_url
        else None
    )
    app.reply_rules = ReplyRules(
        keywords=settings.sms_keywords,
        response_window=settings.response_window,
        abuse_lexicon=settings.abuse_lexicon,
    )
    app.identity_guard = IdentityGuard(blocked=settings.blocked_identities)
    app.internal_topics = InternalTopics(settings.app_id)
    _add_tables(app)
    _add_books(app)
    app.processing = Processing(app)
    return app


def _add_tables(app: TouchlineApp) -> None:
    state_codec = _StateCodec(app.serializer)

    def table(name: str, help: str, values: codecs.Codec | str) -> TableT:
        made = app.Table(name, default=None, key_type=str, help=help)
        # Faust derives table serializers from the types (JSON by default). Keys must be
        # the raw UTF-8 bytes producers use, or partitioning and table routing would hash
        # other bytes.
        faust_internals.set_table_serializers(made, key="raw", value=values)
        return made

    app.customers = table("customers", "customer_id → CustomerState", state_codec)
    app.identities = table("identities", "identity → customer_id", "raw")
    app.names = table("names", "name token → JSON list of customer summaries", "raw")
    app.schedules = table(
        "schedules",
        "customer_id → JSON: when to ask the contact rules again, and targeting campaigns",
        "raw",
    )


def _add_books(app: TouchlineApp) -> None:
    """The campaign policies and the DNC lists, which every worker keeps whole: the
    contact rules read them for every decision."""
    settings = app.settings
    connection = KafkaConnection.of(settings)
    app.policy_book = PolicyBook()
    app.policy_book.configure(connection, app.serializer, settings.max_record_bytes)
    app.policy_book.defaults = settings.default_policy
    app.dnc_book = DncBook()
    app.dnc_book.configure(connection, app.serializer, settings.max_record_bytes)
    for book in (app.policy_book, app.dnc_book):
        app.task(_keeper(book.run, book.topic))

    async def books_ready() -> None:
        # Read both books to their end once: the agents wait for it before deciding,
        # and changes are told to the agents from then on.
        await app.policy_book.ready()
        await app.dnc_book.ready()

    app.task(books_ready)


def _keeper(run: Callable[[], Any], what: str) -> Callable[[], Any]:
    async def keep() -> None:
        # The books are read by every decision: a lost connection to the broker restarts
        # the reader (re-reading the topic is idempotent), it never takes the worker down.
        await keep_running(run, what)

    return keep
