"""Contact policies and do-not-contact lists: applying and reading them over HTTP. The
worker's books of them (`streams.views.policy_books`) are made and kept up to date by the
app (`streams.processing.app`); the views only read them."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.adapters.native import InputError
from streams.domain.campaign_policy import (
    PolicyError,
    RejectedRow,
    dnc_entries_from_json,
    dnc_key,
    ensure_newer,
    one_entry_per_identity,
    parse_dnc_csv,
    parse_policy,
)
from streams.kafka.producer import PublishError
from streams.views.policy_books import NotCaughtUp
from streams.web.base import ApiView, actor_of, read_json
from streams.web.owners import on_owner
from streams.web.publishing import publish_records
from streams.wire import outgoing

SOURCE = "/touchline/http"


def _unavailable(view: ApiView, exc: Exception) -> Any:
    return view.json({"error": str(exc)}, status=503)


def _input_error(exc: PolicyError) -> InputError:
    return InputError(exc.field, exc.message)


class CampaignPolicyView(ApiView):
    async def put(self, request: Any, campaign_id: str) -> Any:
        """Apply a new version of the campaign's policy: 202 `{"campaign_id", "version",
        "changed": true}`; the same answer with `"changed": false`, and nothing published,
        when the body is the latest policy itself again (same version, same fields); 409
        when its version is otherwise not higher than the latest one on the policy topic
        (`ensure_newer`).

        The version check and the write must not interleave with another write for the
        same campaign, or two requests could both pass the check against the same latest
        version. So every write for a campaign is answered by one worker: the one that
        owns the key `campaign_id` in the `customers` table's partitions (this one, or the
        request is forwarded there with its body, as the customer endpoints are: see
        `streams.web.owners.on_owner`). There the writes run one at a time, under the
        worker's policy lock, each checking against the whole topic read to its end. Only
        while a rebalance moves the key's partition can two workers each take a write
        for the campaign; the policy book then logs the version going down, and the
        topic's order decides which one holds."""
        body = await request.read()
        document = await read_json(request)  # malformed JSON is a 400 (ApiView)
        try:
            proposed = parse_policy(document, campaign_id=campaign_id)
        except PolicyError as exc:
            raise _input_error(exc) from None
        app, parts = self.hub, self.parts
        policy_book = app.policy_book

        async def write() -> Any:
            async with parts.policy_writes:
                try:
                    # Versions are checked against everything on the topic, not this
                    # worker's possibly slightly stale copy of it.
                    await policy_book.catch_up()
                except NotCaughtUp as exc:
                    return _unavailable(self, exc)
                current = policy_book.applied(campaign_id)
                try:
                    changed = ensure_newer(current, proposed)
                except PolicyError as exc:
                    return self.json(
                        {
                            "error": str(exc),
                            "field": exc.field,
                            "current_version": None if current is None else current.version,
                        },
                        status=409,
                    )
                if changed:
                    # Who applied it is the key that was checked, never what a body says.
                    applied = proposed.model_copy(update={"applied_by": actor_of(request)})
                    record = outgoing.campaign_policy(app.serializer, applied, SOURCE)
                    try:
                        await publish_records(app, [record])
                    except PublishError as exc:
                        return _unavailable(self, exc)
            return self.json(
                {"campaign_id": campaign_id, "version": proposed.version, "changed": changed},
                status=202,
            )

        return await on_owner(self, app.customers, campaign_id, request, write, body=body)

    async def get(self, request: Any, campaign_id: str) -> Any:
        policy_book = self.hub.policy_book
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


# -- do-not-contact lists -------------------------------------------------------------


class DncImportView(ApiView):
    async def post(self, request: Any) -> Any:
        app = self.hub
        region = app.settings.default_region
        source = request.query.get("source") or None
        list_id = request.query.get("list_id") or None
        rejected: tuple[RejectedRow, ...] = ()
        try:
            if "csv" in request.headers.get("Content-Type", ""):
                imported = parse_dnc_csv(
                    await request.text(), default_region=region, source=source, list_id=list_id
                )
                entries, rejected = imported.entries, imported.rejected
            else:
                body = await read_json(request)
                entries = tuple(
                    dnc_entries_from_json(
                        body, source=source, list_id=list_id, default_region=region
                    )
                )
        except PolicyError as exc:
            raise _input_error(exc) from None
        unique = one_entry_per_identity(entries)
        added_by = actor_of(request)
        try:
            await publish_records(
                app,
                [
                    outgoing.dnc_entry(
                        app.serializer, e.model_copy(update={"added_by": added_by}), SOURCE
                    )
                    for e in unique
                ],
            )
        except PublishError as exc:
            return _unavailable(self, exc)
        return self.json(
            {
                "accepted": len(unique),
                "rejected": [{"line": row.line, "reason": row.reason} for row in rejected],
            },
            status=202,
        )


class DncEntryView(ApiView):
    def _key(self, kind: str, value: str) -> str:
        try:
            return dnc_key(kind, value, default_region=self.hub.settings.default_region)
        except PolicyError as exc:
            raise _input_error(exc) from None

    async def get(self, request: Any, kind: str, value: str) -> Any:
        key = self._key(kind, value)
        dnc_book = self.hub.dnc_book
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
        key = self._key(kind, value)
        try:
            await publish_records(self.hub, [outgoing.dnc_removal(key, SOURCE)])
        except PublishError as exc:
            return _unavailable(self, exc)
        removed_kind, _, removed_value = key.partition(":")
        return self.json({"kind": removed_kind, "value": removed_value}, status=202)


def _now() -> datetime:
    return datetime.now(UTC)
