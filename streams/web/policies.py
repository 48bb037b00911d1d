"""Contact policies and do-not-contact lists: applying and reading them over HTTP, and
keeping the worker's books of them (`streams.policy_book`) up to date."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime
from typing import Any

from streams import records
from streams.app import app, serializer, settings
from streams.client import PublishError
from streams.compacted_view import CompactedTopicView
from streams.domain.policy import (
    DoNotContactEntry,
    PolicyError,
    RejectedRow,
    dnc_entry,
    ensure_newer,
    longer_entry,
    parse_dnc_csv,
    parse_expiry,
    parse_policy,
)
from streams.intake import InputError
from streams.policy_book import NotCaughtUp, dnc_book, policy_book
from streams.web.base import ApiView, read_json
from streams.web.publishing import publish_records

log = logging.getLogger(__name__)

SOURCE = "/touchline/http"
DNC_FIELDS = frozenset({"kind", "value", "expires_at", "source", "list_id"})

policy_book.configure(settings.bootstrap_servers, serializer, settings.max_record_bytes)
policy_book.defaults = settings.default_policy
dnc_book.configure(settings.bootstrap_servers, serializer, settings.max_record_bytes)
# One policy write at a time on this worker, so two requests cannot both pass the version
# check against the same latest version (writers on other workers still can: see README).
_policy_writes = asyncio.Lock()


async def _keep(view: CompactedTopicView) -> None:
    # The books are read by every decision: a lost connection to the broker restarts the
    # reader (re-reading the topic is idempotent), it never takes the worker down.
    loop = asyncio.get_running_loop()
    delay = 1.0
    while True:
        started = loop.time()
        try:
            await view.run()
        except Exception as exc:
            if loop.time() - started > 60:
                delay = 1.0
            log.warning(
                "%s reader stopped (%s); again in %.0f s", view.topic, type(exc).__name__, delay
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


@app.task
async def keep_policy_book() -> None:
    await _keep(policy_book)


@app.task
async def keep_dnc_book() -> None:
    await _keep(dnc_book)


@app.task
async def books_ready() -> None:
    """Read both books to their end once: the agents wait for it before deciding, and
    changes are told to the agents from then on."""
    await policy_book.ready()
    await dnc_book.ready()


def _unavailable(view: ApiView, exc: Exception) -> Any:
    return view.json({"error": str(exc)}, status=503)


@app.page("/v1/campaigns/{campaign_id}/policy")
class CampaignPolicyView(ApiView):
    async def put(self, request: Any, campaign_id: str) -> Any:
        document = await read_json(request)  # malformed JSON is a 400 (ApiView)
        try:
            proposed = parse_policy(document, campaign_id=campaign_id)
        except PolicyError as exc:
            raise InputError(exc.field, exc.message) from None
        async with _policy_writes:
            try:
                # Versions are checked against everything on the topic, not this
                # worker's possibly slightly stale copy of it.
                await policy_book.catch_up()
            except NotCaughtUp as exc:
                return _unavailable(self, exc)
            try:
                ensure_newer(policy_book.applied(campaign_id), proposed)
            except PolicyError as exc:
                return self.json(
                    {
                        "error": str(exc),
                        "field": exc.field,
                        "current_version": _version(campaign_id),
                    },
                    status=409,
                )
            try:
                await publish_records([records.campaign_policy(serializer, proposed, SOURCE)])
            except PublishError as exc:
                return _unavailable(self, exc)
        return self.json({"campaign_id": campaign_id, "version": proposed.version}, status=202)

    async def get(self, request: Any, campaign_id: str) -> Any:
        wanted = request.query.get("version")
        try:
            await policy_book.catch_up()
        except NotCaughtUp as exc:
            return _unavailable(self, exc)
        if wanted is None:
            return self.json(policy_book.latest(campaign_id).model_dump(mode="json"))
        try:
            version = int(wanted)
        except ValueError:
            raise InputError("version", "must be a whole number") from None
        policy = policy_book.version(campaign_id, version)
        if policy is None:
            return self.json(
                {"error": f"campaign {campaign_id} has no policy version {version}"}, status=404
            )
        return self.json(policy.model_dump(mode="json"))


def _version(campaign_id: str) -> int | None:
    applied = policy_book.applied(campaign_id)
    return None if applied is None else applied.version


# -- do-not-contact lists -------------------------------------------------------------


@app.page("/v1/dnc")
class DncImportView(ApiView):
    async def post(self, request: Any) -> Any:
        source = request.query.get("source") or None
        list_id = request.query.get("list_id") or None
        rejected: tuple[RejectedRow, ...] = ()
        if "csv" in request.headers.get("Content-Type", ""):
            try:
                imported = parse_dnc_csv(
                    await request.text(),
                    default_region=settings.default_region,
                    source=source,
                    list_id=list_id,
                )
            except PolicyError as exc:
                raise InputError(exc.field, exc.message) from None
            entries, rejected = imported.entries, imported.rejected
        else:
            entries = tuple(_json_entries(await read_json(request), source, list_id))
        # The topic keeps one entry per identity: of two for the same one, the longer holds.
        by_key: dict[str, DoNotContactEntry] = {}
        for entry in entries:
            by_key[entry.key] = longer_entry(by_key.get(entry.key), entry)
        try:
            await publish_records(
                [records.dnc_entry(serializer, e, SOURCE) for e in by_key.values()]
            )
        except PublishError as exc:
            return _unavailable(self, exc)
        return self.json(
            {
                "accepted": len(by_key),
                "rejected": [{"line": row.line, "reason": row.reason} for row in rejected],
            },
            status=202,
        )


def _json_entries(body: Any, source: str | None, list_id: str | None) -> list[DoNotContactEntry]:
    if not isinstance(body, list):
        raise InputError("", 'send a JSON list of {"kind", "value", "expires_at"?, ...}')
    if not body:
        raise InputError("", "no entries given")
    entries = []
    for index, item in enumerate(body):
        try:
            entries.append(_json_entry(item, source, list_id))
        except PolicyError as exc:
            raise InputError(f"[{index}].{exc.field}".rstrip("."), exc.message) from None
    return entries


def _json_entry(item: Any, source: str | None, list_id: str | None) -> DoNotContactEntry:
    if not isinstance(item, dict):
        raise PolicyError("", 'must be an object {"kind", "value", ...}')
    unknown = sorted(set(item) - DNC_FIELDS)
    if unknown:
        raise PolicyError(unknown[0], "is not a known field")
    for name in DNC_FIELDS:
        if item.get(name) is not None and not isinstance(item[name], str):
            raise PolicyError(name, "must be a string")
    for name in ("kind", "value"):
        if not item.get(name):
            raise PolicyError(name, "is required")
    return dnc_entry(
        item["kind"],
        item["value"],
        expires_at=parse_expiry(item.get("expires_at")),
        source=item.get("source") or source,
        list_id=item.get("list_id") or list_id,
        default_region=settings.default_region,
    )


def _identity_key(kind: str, value: str) -> str:
    try:
        return dnc_entry(kind, value, default_region=settings.default_region).key
    except PolicyError as exc:
        raise InputError(exc.field, exc.message) from None


@app.page("/v1/dnc/{kind}/{value}")
class DncEntryView(ApiView):
    async def get(self, request: Any, kind: str, value: str) -> Any:
        key = _identity_key(kind, value)
        try:
            await dnc_book.catch_up()
        except NotCaughtUp as exc:
            return _unavailable(self, exc)
        entry = dnc_book.entry(key)
        if entry is None:
            return self.json(
                {"error": f"no do-not-contact entry for that {key.partition(':')[0]}"},
                status=404,
            )
        return self.json({**entry.model_dump(mode="json"), "active": entry.active(_now())})

    async def delete(self, request: Any, kind: str, value: str) -> Any:
        key = _identity_key(kind, value)
        try:
            await publish_records([records.dnc_removal(key, SOURCE)])
        except PublishError as exc:
            return _unavailable(self, exc)
        removed_kind, _, removed_value = key.partition(":")
        return self.json({"kind": removed_kind, "value": removed_value}, status=202)


def _now() -> datetime:
    return datetime.now(UTC)
