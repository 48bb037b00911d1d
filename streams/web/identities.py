"""Finding customers and joining their profiles: look-up by identity, search by name or
identity, and merge and unmerge requests. Any worker answers: each request goes to the
worker that owns the key in the table it reads (`streams.web.owners`).

Which identities a search query could be is a rule of `streams.domain.search`; the order
of these routes before `/v1/customers/{customer_id}` is kept in `streams.web.routes`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from faust.web.exceptions import ServiceUnavailable

from streams.adapters.native import InputError
from streams.domain.name_index import Summary, query_tokens, search
from streams.domain.resolution import (
    Command,
    MergeStep,
    ProfileMerge,
    ProfileUnmerge,
    UnmergeStep,
)
from streams.domain.search import SearchError, identity_in, query_identities, search_text
from streams.web.base import ApiView, read_json
from streams.web.owners import on_owner, owner, owner_json
from streams.web.publishing import publish_records
from streams.wire import outgoing

if TYPE_CHECKING:
    from streams.processing.app import TouchlineApp


def _holder(app: TouchlineApp, identity: str) -> str | None:
    known = app.identities.get(identity)
    return known.decode() if isinstance(known, bytes) else known


class CustomerByIdentity(ApiView):
    """The customer an identity belongs to, with the whole view; 404 when none."""

    async def get(self, request: Any) -> Any:
        app = self.hub
        try:
            identity = identity_in(request.query, app.settings.default_region)
        except SearchError as exc:
            raise InputError(exc.field, exc.message) from None

        async def answer() -> Any:
            customer_id = _holder(app, identity)
            if customer_id is None:
                return self.json({"error": "no customer has that identity"}, status=404)
            status, body = await owner_json(
                app, app.customers, customer_id, f"/v1/customers/{customer_id}", request
            )
            if status == 200:
                body["matched_by"] = identity.partition(":")[0]
            return self.json(body, status=status)

        return await on_owner(self, app.identities, identity, request, answer)


class CustomerSearch(ApiView):
    """By name (any word of it, diacritics ignored), phone, e-mail or account: the
    identities the query could be first (`streams.domain.search.query_identities`), the
    name index when none of them finds a customer."""

    async def get(self, request: Any) -> Any:
        app = self.hub
        try:
            query = search_text(request.query.get("q"))
        except SearchError as exc:
            raise InputError(exc.field, exc.message) from None
        results: list[dict[str, Any]] = []
        for identity in query_identities(query, app.settings.default_region):
            found = await _by_identity(app, identity, request)
            if found is not None and found["customer_id"] not in {
                r["customer_id"] for r in results
            }:
                results.append(found)
        if not results:
            results = [s.as_json() for s in await _by_name(app, query, request)]
        return self.json({"query": query, "results": results})


async def _by_identity(app: TouchlineApp, identity: str, request: Any) -> dict[str, Any] | None:
    status, body = await owner_json(
        app, app.identities, identity, "/v1/internal/identity?key=" + _quote(identity), request
    )
    if status != 200 or not body.get("customer_id"):
        return None
    customer_id = body["customer_id"]
    status, view = await owner_json(
        app, app.customers, customer_id, f"/v1/customers/{customer_id}", request
    )
    if status != 200:
        return None
    profile = view.get("profile") or {}
    return {
        "customer_id": customer_id,
        "name": profile.get("name"),
        "phones": view.get("phones", []),
        "emails": view.get("emails", []),
        "accounts": view.get("accounts", []),
        "matched_by": identity.partition(":")[0],
    }


async def _by_name(app: TouchlineApp, query: str, request: Any) -> list[Summary]:
    found = []
    for token in query_tokens(query)[:6]:
        status, body = await owner_json(
            app, app.names, token, "/v1/internal/names?token=" + _quote(token), request
        )
        if status == 200:
            found.append([Summary.from_json(e) for e in body.get("entries", [])])
    return search(found, query)


def _quote(text: str) -> str:
    return quote(text, safe="")


class IdentityHolder(ApiView):
    """Worker to worker: who holds an identity, read where the identity's partition is."""

    async def get(self, request: Any) -> Any:
        key = request.query.get("key", "")
        return self.json(
            {"identity_kind": key.partition(":")[0], "customer_id": _holder(self.hub, key)}
        )


class NameEntries(ApiView):
    """Worker to worker: the customers listed under one name token."""

    async def get(self, request: Any) -> Any:
        raw = self.hub.names.get(request.query.get("token", ""))
        entries = json.loads(raw) if raw else []
        return self.json({"entries": entries})


async def _absorbed_id(request: Any, survivor_id: str) -> str:
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("absorbed_id"), str):
        raise InputError("absorbed_id", 'send {"absorbed_id": "..."}')
    absorbed_id = body["absorbed_id"].strip()
    if not absorbed_id or len(absorbed_id) > 200:
        raise InputError("absorbed_id", "must be a customer id of 1 to 200 characters")
    if absorbed_id == survivor_id:
        raise InputError("absorbed_id", "a customer cannot be merged with itself")
    return absorbed_id


def _command_record(app: TouchlineApp, command: ProfileMerge | ProfileUnmerge) -> outgoing.Record:
    return outgoing.Record(
        topic=app.internal_topics.customer_commands,
        key=command.target_id.encode(),
        value=app.serializer.encode_model(command),
        headers=[],
    )


def _now() -> datetime:
    return datetime.now(UTC)


async def _is_known(view: ApiView, customer_id: str, request: Any) -> bool:
    """Whether the hub has a state for `customer_id` (one it has seen, merged away or
    not): read here when this worker owns the key, else asked of its owner through the
    customer view (200 or 404); 503 when the owner cannot say."""
    app, reads = view.hub, view.parts.reads
    if reads.is_this_worker(await owner(app, app.customers, customer_id)):
        return reads.customer_state(customer_id) is not None
    status, _ = await owner_json(
        app, app.customers, customer_id, f"/v1/customers/{_quote(customer_id)}", request
    )
    if status not in (200, 404):
        raise ServiceUnavailable()
    return status == 200


async def _unknown_customer(
    view: ApiView, survivor_id: str, absorbed_id: str, request: Any
) -> Any | None:
    """The 404 naming the customer of a merge or unmerge the hub has never seen (the
    survivor first), or None when it knows both: a command about an unknown customer
    could only do nothing. Runs on the survivor's owner, so its state is read here."""
    for field, customer_id in (("customer_id", survivor_id), ("absorbed_id", absorbed_id)):
        if not await _is_known(view, customer_id, request):
            return view.json(
                {"error": f"no customer {customer_id}", "field": field, "customer_id": customer_id},
                status=404,
            )
    return None


class _JoinRequest(ApiView):
    """A request about two profiles, this one and `absorbed_id`: answered on the worker
    that owns this customer (forwarded there with its body); 404 when either customer is
    unknown; else its command is published, 202."""

    id_name: str  # the key of the new command's id in the answer

    def command(self, made_id: str, survivor_id: str, absorbed_id: str) -> Command:
        raise NotImplementedError

    async def post(self, request: Any, customer_id: str) -> Any:
        body = await request.read()
        absorbed_id = await _absorbed_id(request, customer_id)

        async def publish() -> Any:
            unknown = await _unknown_customer(self, customer_id, absorbed_id, request)
            if unknown is not None:
                return unknown
            made_id = str(uuid.uuid4())
            command = self.command(made_id, customer_id, absorbed_id)
            await publish_records(self.hub, [_command_record(self.hub, command)])
            return self.json(
                {self.id_name: made_id, "survivor_id": customer_id, "absorbed_id": absorbed_id},
                status=202,
            )

        return await on_owner(self, self.hub.customers, customer_id, request, publish, body=body)


class MergeRequest(_JoinRequest):
    """An operator joins two profiles of one person: `absorbed_id` folds into this one."""

    id_name = "merge_id"

    def command(self, made_id: str, survivor_id: str, absorbed_id: str) -> Command:
        return ProfileMerge(
            merge_id=made_id,
            survivor_id=survivor_id,
            absorbed_id=absorbed_id,
            step=MergeStep.REQUESTED,
            reason="api",
            source_event_id=made_id,
            requested_at=_now(),
        )


class UnmergeRequest(_JoinRequest):
    """Undo the merge of `absorbed_id` into this profile."""

    id_name = "unmerge_id"

    def command(self, made_id: str, survivor_id: str, absorbed_id: str) -> Command:
        return ProfileUnmerge(
            unmerge_id=made_id,
            survivor_id=survivor_id,
            absorbed_id=absorbed_id,
            step=UnmergeStep.REQUESTED,
            requested_at=_now(),
        )
