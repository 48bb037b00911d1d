"""Finding customers and joining their profiles: look-up by identity, search by name or
identity, the timeline, and merge and unmerge requests. Any worker answers: each request
goes to the worker that owns the key in the table it reads.

Import this module before streams.web.customers: aiohttp matches routes in the order they
were added, and `/v1/customers/search` must not be taken for a customer id."""

from __future__ import annotations

import json
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from faust.exceptions import SameNode
from faust.types import TableT as Table
from faust.web.exceptions import ServiceUnavailable

from streams import records
from streams.agents import CUSTOMER_COMMANDS_TOPIC
from streams.app import app, customers, identities, names, serializer, settings, utcnow
from streams.domain.identity import (
    IdentityError,
    normalise_account,
    normalise_device,
    normalise_email,
    normalise_phone,
    normalise_social,
)
from streams.domain.links import identity_key
from streams.domain.names import Summary, query_tokens, search
from streams.domain.resolution import (
    MergeStep,
    ProfileMerge,
    ProfileUnmerge,
    UnmergeStep,
)
from streams.intake import InputError
from streams.owned_reads import customer_state, is_this_worker, owner_url
from streams.web.base import ApiView, read_json
from streams.web.publishing import publish_records

IDENTITY_KINDS: dict[str, Callable[[str], str]] = {
    "phone": lambda raw: normalise_phone(raw, settings.default_region),
    "email": normalise_email,
    "account": normalise_account,
    "device": normalise_device,
    "social": normalise_social,
}
MAX_TIMELINE = 200


_with_metadata: set[str] = set()  # changelogs whose partitions the producer knows


async def ensure_partition_metadata(table: Table) -> None:
    """Routing hashes the key with the producer's metadata of the table's changelog,
    which the producer only has once it has written there: fetch it first (once: a
    changelog keeps its partition count)."""
    topic = table.changelog_topic.get_topic_name()
    if topic in _with_metadata:
        return
    producer = app.producer._ensure_producer()  # type: ignore[attr-defined]
    await producer.partitions_for(topic)
    _with_metadata.add(topic)


async def owner(table: Table, key: str) -> str:
    """The URL of the worker that owns `key` in `table`; 503 while the key's partition
    has no worker yet, as Faust's own routing answers."""
    await ensure_partition_metadata(table)
    try:
        return owner_url(table, key)
    except KeyError:
        raise ServiceUnavailable() from None


async def on_owner(
    view: ApiView,
    table: Table,
    key: str,
    request: Any,
    answer: Callable[[], Awaitable[Any]],
) -> Any:
    """Answer here if this worker owns `key` in `table`, else forward the request there."""
    if is_this_worker(await owner(table, key)):
        return await answer()
    try:
        return await app.router.route_req(table.name, key, view.web, request)
    except SameNode:  # the partition moved here meanwhile
        return await answer()


async def owner_json(table: Table, key: str, path: str, request: Any) -> tuple[int, Any]:
    """GET `path` from the worker that owns `key` (this one included), as JSON."""
    url = await owner(table, key)
    headers = {}
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    async with app.http_client.get(url.rstrip("/") + path, headers=headers) as response:
        return response.status, await response.json(content_type=None)


def _identity_from_query(query: Any) -> str:
    given = [(kind, query[kind]) for kind in IDENTITY_KINDS if query.get(kind)]
    if len(given) != 1:
        raise InputError("", "give exactly one of " + ", ".join(f"{k}=" for k in IDENTITY_KINDS))
    kind, raw = given[0]
    try:
        return identity_key(kind, IDENTITY_KINDS[kind](raw))
    except IdentityError as exc:
        raise InputError(kind, exc.message) from None


def _holder(identity: str) -> str | None:
    known = identities.get(identity)
    return known.decode() if isinstance(known, bytes) else known


@app.page("/v1/customers/by-identity")
class CustomerByIdentity(ApiView):
    """The customer an identity belongs to, with the whole view; 404 when none."""

    async def get(self, request: Any) -> Any:
        identity = _identity_from_query(request.query)

        async def answer() -> Any:
            customer_id = _holder(identity)
            if customer_id is None:
                return self.json({"error": "no customer has that identity"}, status=404)
            status, body = await owner_json(
                customers, customer_id, f"/v1/customers/{customer_id}", request
            )
            if status == 200:
                body["matched_by"] = identity.partition(":")[0]
            return self.json(body, status=status)

        return await on_owner(self, identities, identity, request, answer)


@app.page("/v1/customers/search")
class CustomerSearch(ApiView):
    """By name (any word of it, diacritics ignored), phone, e-mail or account."""

    async def get(self, request: Any) -> Any:
        query = (request.query.get("q") or "").strip()
        if not query:
            raise InputError("q", "say what to search for: a name, phone, e-mail or account")
        if len(query) > 200:
            raise InputError("q", "at most 200 characters")
        results: list[dict[str, Any]] = []
        for identity in _identities_in(query):
            found = await _by_identity(identity, request)
            if found is not None and found["customer_id"] not in {
                r["customer_id"] for r in results
            }:
                results.append(found)
        if not results:
            results = [s.as_json() for s in await _by_name(query, request)]
        return self.json({"query": query, "results": results})


def _identities_in(query: str) -> list[str]:
    """The identities a query could be, most likely first."""
    kinds = ["email"] if "@" in query else ["phone", "account"]
    if ":" in query and "@" not in query:
        kinds = ["social", "device"]
    found = []
    for kind in kinds:
        try:
            found.append(identity_key(kind, IDENTITY_KINDS[kind](query)))
        except IdentityError:
            continue
    if any(ch.isdigit() for ch in query) and "@" not in query and ":" not in query:
        found.append(identity_key("device", query))
    return found


async def _by_identity(identity: str, request: Any) -> dict[str, Any] | None:
    status, body = await owner_json(
        identities, identity, "/v1/internal/identity?key=" + _quote(identity), request
    )
    if status != 200 or not body.get("customer_id"):
        return None
    customer_id = body["customer_id"]
    status, view = await owner_json(customers, customer_id, f"/v1/customers/{customer_id}", request)
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


async def _by_name(query: str, request: Any) -> list[Summary]:
    found = []
    for token in query_tokens(query)[:6]:
        status, body = await owner_json(
            names, token, "/v1/internal/names?token=" + _quote(token), request
        )
        if status == 200:
            found.append([Summary.from_json(e) for e in body.get("entries", [])])
    return search(found, query)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


@app.page("/v1/internal/identity")
class IdentityHolder(ApiView):
    """Worker to worker: who holds an identity, read where the identity's partition is."""

    async def get(self, request: Any) -> Any:
        key = request.query.get("key", "")
        return self.json({"identity_kind": key.partition(":")[0], "customer_id": _holder(key)})


@app.page("/v1/internal/names")
class NameEntries(ApiView):
    """Worker to worker: the customers listed under one name token."""

    async def get(self, request: Any) -> Any:
        raw = names.get(request.query.get("token", ""))
        entries = json.loads(raw) if raw else []
        return self.json({"entries": entries})


@app.page("/v1/customers/{customer_id}/timeline")
class CustomerTimeline(ApiView):
    async def get(self, request: Any, customer_id: str) -> Any:
        try:
            limit = int(request.query.get("limit", "50"))
        except ValueError:
            raise InputError("limit", "must be a whole number") from None
        if not 1 <= limit <= MAX_TIMELINE:
            raise InputError("limit", f"must be between 1 and {MAX_TIMELINE}")

        async def answer() -> Any:
            state = customer_state(customer_id)
            if state is None:
                return self.json({"error": f"no customer {customer_id}"}, status=404)
            from streams.web.customers import customer_view  # registered after these pages

            view = customer_view(state)
            return self.json(
                {
                    "customer_id": customer_id,
                    "merged_into": view.get("merged_into"),
                    "entries": view.get("timeline", [])[:limit],
                }
            )

        return await on_owner(self, customers, customer_id, request, answer)


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


def _command_record(command: ProfileMerge | ProfileUnmerge) -> records.Record:
    return records.Record(
        topic=CUSTOMER_COMMANDS_TOPIC,
        key=command.target_id.encode(),
        value=serializer.encode_model(command),
        headers=[],
    )


@app.page("/v1/customers/{customer_id}/merge")
class MergeRequest(ApiView):
    """An operator joins two profiles of one person: `absorbed_id` folds into this one."""

    async def post(self, request: Any, customer_id: str) -> Any:
        absorbed_id = await _absorbed_id(request, customer_id)
        merge_id = str(uuid.uuid4())
        command = ProfileMerge(
            merge_id=merge_id,
            survivor_id=customer_id,
            absorbed_id=absorbed_id,
            step=MergeStep.REQUESTED,
            reason="api",
            source_event_id=merge_id,
            requested_at=utcnow(),
        )
        await publish_records([_command_record(command)])
        return self.json(
            {"merge_id": merge_id, "survivor_id": customer_id, "absorbed_id": absorbed_id},
            status=202,
        )


@app.page("/v1/customers/{customer_id}/unmerge")
class UnmergeRequest(ApiView):
    """Undo the merge of `absorbed_id` into this profile."""

    async def post(self, request: Any, customer_id: str) -> Any:
        absorbed_id = await _absorbed_id(request, customer_id)
        unmerge_id = str(uuid.uuid4())
        command = ProfileUnmerge(
            unmerge_id=unmerge_id,
            survivor_id=customer_id,
            absorbed_id=absorbed_id,
            step=UnmergeStep.REQUESTED,
            requested_at=utcnow(),
        )
        await publish_records([_command_record(command)])
        return self.json(
            {"unmerge_id": unmerge_id, "survivor_id": customer_id, "absorbed_id": absorbed_id},
            status=202,
        )
