"""The dispatch-time contact check and the audit of a customer's decisions. Any worker
answers: the request goes to the worker that owns the customer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from streams.adapters.native import InputError
from streams.domain.contact_holds import contact_check
from streams.domain.customer import DecisionRecord
from streams.domain.model import Channel
from streams.web.base import ApiView
from streams.web.owners import on_owner

MAX_DECISIONS = 100


def _required(query: Any, name: str) -> str:
    value = (query.get(name) or "").strip()
    if not value:
        raise InputError(name, f"{name} is required")
    if len(value) > 200:
        raise InputError(name, "at most 200 characters")
    return value


def _channel(query: Any) -> Channel:
    raw = _required(query, "channel").upper()
    if raw not in Channel.__members__ or raw == Channel.OTHER.value:
        names = ", ".join(c.value for c in Channel if c is not Channel.OTHER)
        raise InputError("channel", f"must be one of {names}")
    return Channel(raw)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class ContactCheck(ApiView):
    """May this customer be contacted on this channel for this campaign right now?"""

    async def get(self, request: Any) -> Any:
        customer_id = _required(request.query, "customer_id")
        campaign_id = _required(request.query, "campaign_id")
        channel = _channel(request.query)
        reads, policy_inputs = self.parts.reads, self.hub.processing.policy_inputs

        async def answer() -> Any:
            now = datetime.now(UTC)
            facts = reads.contact_facts(customer_id)
            decision = contact_check(facts, customer_id, campaign_id, channel, policy_inputs, now)
            # Moments go out as they are, all in UTC: the JSON encoder (orjson, with
            # OPT_UTC_Z) writes them as `_iso` would, in a third of the time.
            return self.json(
                {
                    "allowed": decision.allowed,
                    "reasons": [
                        {
                            "rule": r.rule.value,
                            "code": r.code.value,
                            "detail": r.detail,
                            "until": r.until,
                        }
                        for r in decision.reasons
                    ],
                    "policy_version": decision.policy_version,
                    "next_allowed_at": decision.next_allowed_at,
                    "customer_id": customer_id,
                    "campaign_id": campaign_id,
                    "channel": channel.value,
                    "known_customer": facts is not None,
                    "checked_at": now,
                }
            )

        return await on_owner(self, self.hub.customers, customer_id, request, answer)


class CustomerDecisions(ApiView):
    """Every decision about the customer, newest first: its rule, the event that caused it,
    the policy version and the time; `?campaign_id=` for one campaign."""

    def _audited(self, decision: DecisionRecord) -> dict[str, Any]:
        """The decision, with who applied the policy version it was decided by
        (`policy_applied_by`: the API key's name; null when unknown or keyless)."""
        answer = decision.model_dump(mode="json")
        version = decision.policy_version
        policy = (
            None if version is None else self.hub.policy_book.version(decision.campaign_id, version)
        )
        answer["policy_applied_by"] = None if policy is None else policy.applied_by
        return answer

    async def get(self, request: Any, customer_id: str) -> Any:
        campaign_id = (request.query.get("campaign_id") or "").strip() or None
        reads = self.parts.reads

        async def answer() -> Any:
            state = reads.customer_state(customer_id)
            if state is None:
                return self.json({"error": f"no customer {customer_id}"}, status=404)
            log = [
                d
                for d in reversed(state.decision_log)
                if campaign_id is None or d.campaign_id == campaign_id
            ][:MAX_DECISIONS]
            holds = [h for h in state.holds if campaign_id is None or h.campaign_id == campaign_id]
            return self.json(
                {
                    "customer_id": customer_id,
                    "campaign_id": campaign_id,
                    "decisions": [self._audited(d) for d in log],
                    "holds": [h.model_dump(mode="json") for h in holds],
                    "next_check_at": _iso(state.wake_at),
                }
            )

        return await on_owner(self, self.hub.customers, customer_id, request, answer)
