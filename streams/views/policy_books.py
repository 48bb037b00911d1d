"""Every worker's copy of the contact policies and the do-not-contact list, read from their
compacted topics, for the agents' decisions and the API's answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from streams import metrics
from streams.domain.campaign_policy import CampaignPolicy, DoNotContactEntry, default_policy
from streams.kafka.compacted_topic import CompactedTopicView, NotCaughtUp
from streams.kafka.connection import KafkaConnection
from streams.wire import topics
from streams.wire.serialization import AvroSerializer, SerializationError, ensure_within

log = logging.getLogger(__name__)

MAX_CACHED_DEFAULTS = 10_000

RecordT = TypeVar("RecordT")

__all__ = ["DncBook", "NotCaughtUp", "PolicyBook", "dnc_book", "policy_book"]


class _Book(CompactedTopicView):
    """A compacted-topic view that can be created before the worker knows its broker (the
    agents import the singletons at module level) and that says when it first caught up."""

    def __init__(
        self, topic: str, bootstrap: str = "", serializer: AvroSerializer | None = None
    ) -> None:
        super().__init__(bootstrap, topic)
        self.serializer = serializer
        self.max_record_bytes = 1_000_000
        self.skipped = 0
        self._ready = asyncio.Event()
        # Told the key of every change read after the first catch-up (a new policy
        # version, a DNC entry added or removed), so the customers it concerns are asked
        # the rules again. Not told what was already there at start-up.
        self.listeners: list[Callable[[str], None]] = []
        # Told (the consumed record, the reason) of every record skipped as
        # bad: the worker makes a dead letter of it. Every worker reads the whole topic
        # at every start, so the same letter comes again, with the same id
        # (`topic/partition/offset`).
        self.on_bad_record: Callable[[Any, str], None] = lambda record, reason: None

    def _changed(self, key: str) -> None:
        if self._ready.is_set():
            for listener in self.listeners:
                listener(key)

    def configure(
        self,
        bootstrap: KafkaConnection | str,
        serializer: AvroSerializer,
        max_record_bytes: int = 1_000_000,
    ) -> None:
        """Where to read from and how to decode: set once, before `run`."""
        self.bootstrap = bootstrap
        self.serializer = serializer
        self.max_record_bytes = max_record_bytes

    async def run(self) -> None:
        if not self.bootstrap or self.serializer is None:
            raise RuntimeError(f"configure the {self.topic} view before running it")
        await super().run()

    @property
    def is_ready(self) -> bool:
        return self._ready.is_set()

    async def catch_up(self, timeout: float = 10.0) -> None:
        await super().catch_up(timeout)
        self._ready.set()

    def mark_ready(self) -> None:
        """For a book filled by hand with `apply` (tests, tools): `ready` returns at once."""
        self._ready.set()

    async def ready(self, timeout: float | None = None) -> None:
        """Wait until the view has read its topic to the end once (every later read is
        then at most a moment behind); `timeout` None waits as long as that takes. Raises
        NotCaughtUp when the timeout passes first."""
        if self._ready.is_set():
            return
        loop = asyncio.get_running_loop()
        deadline = None if timeout is None else loop.time() + timeout
        while not self._ready.is_set():
            step = 10.0 if deadline is None else min(10.0, deadline - loop.time())
            if step <= 0:
                raise NotCaughtUp(f"{self.topic} was not read to its end in time")
            try:
                await self.catch_up(step)
            except NotCaughtUp:
                if deadline is not None and loop.time() >= deadline:
                    raise

    def _decode(self, value: bytes, model: type[RecordT]) -> RecordT | None:
        """The `model` record in `value`; None, skipped, when it is not one."""
        assert self.serializer is not None, "configure the view first"
        try:
            ensure_within(value, self.max_record_bytes)
            record = self.serializer.decode_model(value)
        except SerializationError as exc:
            # The reasons name fields and types, never the values (identities included).
            self._skip("undecodable record: %s", exc.reason)
            return None
        if not isinstance(record, model):
            self._skip("a %s where a %s belongs", type(record).__name__, model.__name__)
            return None
        return record

    def _skip(self, message: str, *args: object) -> None:
        self.skipped += 1
        log.warning(f"{self.topic}: skipping {message}", *args)
        metrics.events.labels(agent=self.topic, outcome="skipped").inc()
        record = self.record
        if record is not None:
            reason = message % args if args else message
            self.on_bad_record(record, reason)


class PolicyBook(_Book):
    """The campaigns' policies: every version read since the worker started, and the
    latest per campaign.

    The latest is the last record on the campaign's key, not the highest version seen:
    compaction keeps only that record, so a worker reading after the log cleaner ran must
    come to the same answer as one that read every version."""

    def __init__(self, bootstrap: str = "", serializer: AvroSerializer | None = None) -> None:
        super().__init__(topics.POLICIES, bootstrap, serializer)
        self.current: dict[str, CampaignPolicy] = {}
        self.versions: dict[str, dict[int, CampaignPolicy]] = {}
        self._defaults: dict[str, CampaignPolicy] = {}
        # The rules of campaigns nobody applied a policy to (TOUCHLINE_DEFAULT_POLICY);
        # None: the built-in defaults.
        self.defaults: CampaignPolicy | None = None

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            self._skip("a policy record without a key")
            return
        campaign_id = key.decode("utf-8", "replace")
        if value is None:
            # Withdrawing a campaign's policy: it is checked by the defaults again, as it
            # will be on every worker once compaction drops the older versions.
            self.current.pop(campaign_id, None)
            self.versions.pop(campaign_id, None)
            self._changed(campaign_id)
            return
        policy = self._decode(value, CampaignPolicy)
        if policy is None:
            return
        if policy.campaign_id != campaign_id or policy.version is None:
            self._skip("a policy without a version or under another campaign's key")
            return
        known = self.current.get(campaign_id)
        if known is not None and known.version is not None and policy.version <= known.version:
            # Two writers raced past the version check; the topic's order decides.
            log.warning(
                "%s: campaign %s went from policy version %s to %s",
                self.topic,
                campaign_id,
                known.version,
                policy.version,
            )
        self.current[campaign_id] = policy
        self.versions.setdefault(campaign_id, {})[policy.version] = policy
        self._changed(campaign_id)

    def latest(self, campaign_id: str) -> CampaignPolicy:
        """The policy the campaign is checked by now: the defaults when none was applied."""
        policy = self.current.get(campaign_id)
        if policy is None:
            # Built once per campaign: this is on the path of every decision and check
            # (bounded, since anyone may ask about any campaign id).
            policy = self._defaults.get(campaign_id)
            if policy is None:
                policy = (
                    default_policy(campaign_id)
                    if self.defaults is None
                    else self.defaults.model_copy(update={"campaign_id": campaign_id})
                )
                if len(self._defaults) < MAX_CACHED_DEFAULTS:
                    self._defaults[campaign_id] = policy
        return policy

    def applied(self, campaign_id: str) -> CampaignPolicy | None:
        """The latest policy applied to the campaign, None when it has only the defaults."""
        return self.current.get(campaign_id)

    def version(self, campaign_id: str, version: int) -> CampaignPolicy | None:
        """That version of the campaign's policy, if this worker has read it."""
        return self.versions.get(campaign_id, {}).get(version)


class DncBook(_Book):
    """The do-not-contact list by identity key (`phone:+90...`, `email:...`)."""

    def __init__(self, bootstrap: str = "", serializer: AvroSerializer | None = None) -> None:
        super().__init__(topics.DNC, bootstrap, serializer)
        self.entries: dict[str, DoNotContactEntry] = {}

    def apply(self, key: bytes | None, value: bytes | None) -> None:
        if key is None:
            self._skip("a do-not-contact record without a key")
            return
        identity = key.decode("utf-8", "replace")
        if value is None:
            self.entries.pop(identity, None)
            self._changed(identity)
            return
        entry = self._decode(value, DoNotContactEntry)
        if entry is None:
            return
        if entry.key != identity:
            # A tombstone for the key would then leave the entry in place: refuse it.
            self._skip("a do-not-contact entry under another identity's key")
            return
        self.entries[identity] = entry
        self._changed(identity)

    def entry(self, key: str) -> DoNotContactEntry | None:
        return self.entries.get(key)

    def entries_for(self, keys: Iterable[str]) -> list[DoNotContactEntry]:
        """The entries, expired ones included, for these identity keys (a customer's
        `phone:...` and `email:...`); whether one still holds is the rules' question."""
        found = []
        for key in dict.fromkeys(keys):
            entry = self.entries.get(key)
            if entry is not None:
                found.append(entry)
        return found


# The worker's books, configured and kept up to date by `streams.web.policies`; importing
# this module needs neither the app nor a broker.
policy_book = PolicyBook()
dnc_book = DncBook()
