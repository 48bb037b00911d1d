"""Identity resolution: which identities may link, when a link joins two profiles into one,
and the merge and unmerge commands that carry it out, as pure steps.

A merge takes two steps, because the two profiles live on different partitions:
1. `REQUESTED` goes to the absorbed profile. It is frozen as it is (marked `merged_into`),
   leaves its dial lists, and sends itself to the survivor as `ABSORB`.
2. `ABSORB` reaches the survivor, which folds the absorbed profile in (`merge.combine`), or
   answers `REJECTED` when the guards forbid it, which thaws the absorbed profile again.

An unmerge goes the same way: `REQUESTED` to the absorbed profile, which thaws and sends
its frozen self to the survivor as `DETACH`; the survivor takes out what came from it
(`merge.split`) and hands its identities back. What happened after the merge stays with
the survivor.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

import streams.domain.merge as merge
from streams.domain.customer import CustomerState, TargetRecord, new_identities
from streams.domain.decisions import (
    Decision,
    DialListRemoval,
    Suppression,
    dial_list_changes,
    suppression_id,
)
from streams.domain.events import Interaction
from streams.domain.links import (
    IdentityLink,
    identity_key,
    is_anonymous,
    is_context_identity,
    resolving_identities,
)
from streams.domain.model import Channel, Fact, KeptMillis, to_millis

POLICY_MERGE = "profile-merge/v1"

_MERGE_NS = uuid.UUID("5d0c8f9e-6b1a-4f3e-8a27-1c4b9e7d2f60")

# How many identities of each kind one profile may hold. A shared device or a family phone
# would otherwise link ever more people into one giant profile.
DEFAULT_IDENTITY_LIMITS: Mapping[str, int] = {
    "phone": 5,
    "email": 5,
    "account": 10,
    "device": 10,
    "social": 5,
}

# Placeholders that front-line systems type when they have no real value: they must never
# join two people. Phones are matched on their digits after the country code.
_PLACEHOLDER_EMAIL_LOCAL_PARTS = frozenset(
    {"noreply", "no-reply", "donotreply", "do-not-reply", "none", "null", "unknown", "noemail"}
)
_MAX_FORWARDS = 5


class MergeStep(StrEnum):
    REQUESTED = "REQUESTED"
    ABSORB = "ABSORB"
    REJECTED = "REJECTED"


class UnmergeStep(StrEnum):
    REQUESTED = "REQUESTED"
    DETACH = "DETACH"


class ProfileMerge(Fact):
    """A command on the customer-commands topic: fold `absorbed_id` into `survivor_id`."""

    merge_id: str
    survivor_id: str
    absorbed_id: str
    step: MergeStep
    reason: str
    linked_by: str | None = None  # the kind of identity that joined them, never its value
    source_event_id: str
    requested_at: KeptMillis
    absorbed_state: CustomerState | None = None
    forwards: int = 0
    rejection: str | None = None

    @property
    def target_id(self) -> str:
        """The customer whose partition handles this step."""
        return self.survivor_id if self.step is MergeStep.ABSORB else self.absorbed_id


class ProfileUnmerge(Fact):
    """A command on the customer-commands topic: undo the merge of `absorbed_id`."""

    unmerge_id: str
    survivor_id: str
    absorbed_id: str
    step: UnmergeStep
    requested_at: KeptMillis
    reason: str = "api"
    absorbed_state: CustomerState | None = None

    @property
    def target_id(self) -> str:
        return self.survivor_id if self.step is UnmergeStep.DETACH else self.absorbed_id


Command = ProfileMerge | ProfileUnmerge


@dataclass(frozen=True)
class IdentityGuard:
    """Which identities may link profiles, and how many of a kind a profile may hold."""

    blocked: frozenset[str] = frozenset()  # identity keys, kind:value, normalised
    limits: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_IDENTITY_LIMITS))

    def linkable(self, identity: str) -> bool:
        kind, _, value = identity.partition(":")
        if identity in self.blocked:
            return False
        return not is_placeholder(kind, value)

    def over_limit(self, state: CustomerState) -> str | None:
        """The first identity kind of which `state` holds more than allowed, if any."""
        for kind, values in identities_of(state).items():
            limit = self.limits.get(kind)
            if limit is not None and len(values) > limit:
                return kind
        return None


def is_placeholder(kind: str, value: str) -> bool:
    if kind == "phone":
        digits = value.lstrip("+")
        national = digits[-10:] if len(digits) > 10 else digits
        return (
            len(set(national)) <= 1
            or national in "01234567890123456789"
            or national in "98765432109876543210"
        )
    if kind == "email":
        return value.partition("@")[0] in _PLACEHOLDER_EMAIL_LOCAL_PARTS
    if kind == "account":
        return set(value) <= {"0"}
    return False


def identities_of(state: CustomerState) -> dict[str, tuple[str, ...]]:
    return {
        "phone": state.phones,
        "email": state.emails,
        "account": state.accounts,
        "device": state.devices,
        "social": state.social,
    }


def merge_id_for(survivor_id: str, absorbed_id: str, source_event_id: str) -> str:
    """Deterministic: a redelivered link asks for the same merge, which is then a no-op."""
    return str(uuid.uuid5(_MERGE_NS, f"{survivor_id}|{absorbed_id}|{source_event_id}"))


# ----------------------------------------------------------------------------------------
# The identity agent's side: a link that names another profile than the one holding it.
# ----------------------------------------------------------------------------------------


def on_link(
    holder: str | None, link: IdentityLink, now: datetime
) -> tuple[str, ProfileMerge | None]:
    """Who holds the identity after `link`, and the merge it calls for, if any.

    The profile that held the identity first survives (it is the one that had it first),
    except that a known customer id always survives an anonymous profile. Links made by a
    merge or an unmerge (`merge_id` set) move the identity without asking for another."""
    if link.merge_id is not None or holder is None or holder == link.customer_id:
        return link.customer_id, None
    survivor, absorbed = holder, link.customer_id
    if is_anonymous(survivor) and not is_anonymous(absorbed):
        survivor, absorbed = absorbed, survivor
    request = ProfileMerge(
        merge_id=merge_id_for(survivor, absorbed, link.source_event_id),
        survivor_id=survivor,
        absorbed_id=absorbed,
        step=MergeStep.REQUESTED,
        reason="identity-link",
        linked_by=link.identity.partition(":")[0],
        source_event_id=link.source_event_id,
        requested_at=now,
    )
    return survivor, request


# ----------------------------------------------------------------------------------------
# The customer agent's side.
# ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """What one command does to the profile that handles it."""

    state: CustomerState | None = None  # the new state to store; None: unchanged
    commands: tuple[Command, ...] = ()  # to send on, each keyed by its target_id
    links: tuple[IdentityLink, ...] = ()
    decisions: tuple[Decision, ...] = ()
    note: str | None = None  # why nothing happened, for the metrics


def listed(state: CustomerState | None) -> dict[str, TargetRecord]:
    """A profile that was merged away is on no dial list: its survivor is."""
    if state is None or state.merged_into is not None:
        return {}
    return state.dial_list_campaigns()


def on_merge(
    state: CustomerState | None,
    command: ProfileMerge,
    guard: IdentityGuard,
    now: datetime,
) -> Step:
    if command.survivor_id == command.absorbed_id:
        return Step(note="self")
    if command.step is MergeStep.REQUESTED:
        return _freeze(state, command, now)
    if command.step is MergeStep.ABSORB:
        return _absorb(state, command, guard, now)
    return _thaw_rejected(state, command, now)


def _freeze(state: CustomerState | None, command: ProfileMerge, now: datetime) -> Step:
    """Step 1, on the absorbed profile."""
    if state is None:
        return Step(note="unknown")  # nothing to fold in; the identity already moved
    if state.merged_into is not None:
        if state.merged_into == command.survivor_id or command.forwards >= _MAX_FORWARDS:
            return Step(note="already merged")
        # Merged elsewhere already: the profile it went into is the one to merge.
        again = command.model_copy(
            update={"absorbed_id": state.merged_into, "forwards": command.forwards + 1}
        )
        return Step(commands=(again,), note="forwarded")
    frozen = merge.mark_merged(
        state, command.survivor_id, merge_event_id=command.merge_id, merged_at=command.requested_at
    )
    absorb = command.model_copy(update={"step": MergeStep.ABSORB, "absorbed_state": state})
    removals = tuple(
        DialListRemoval(campaign_id=c, customer_id=state.customer_id, because=command.merge_id)
        for c in sorted(listed(state))
    )
    return Step(state=frozen, commands=(absorb,), decisions=removals)


def _absorb(
    state: CustomerState | None, command: ProfileMerge, guard: IdentityGuard, now: datetime
) -> Step:
    """Step 2, on the survivor."""
    absorbed = command.absorbed_state
    if absorbed is None:
        return Step(note="no state")
    if state is not None and state.merged_into is not None:
        if command.forwards >= _MAX_FORWARDS:
            return _reject(command, "too many forwards")
        # The survivor was itself merged away meanwhile: its own survivor takes both.
        onward = command.model_copy(
            update={"survivor_id": state.merged_into, "forwards": command.forwards + 1}
        )
        return Step(commands=(onward,), note="forwarded")
    survivor = state or CustomerState.new(command.survivor_id)
    if any(m.merge_event_id == command.merge_id for m in survivor.merges):
        return Step(note="duplicate")
    combined = merge.combine(
        survivor, absorbed, merge_event_id=command.merge_id, merged_at=command.requested_at
    )
    too_many = guard.over_limit(combined)
    if too_many is not None:
        return _reject(command, f"the merged profile would hold too many {too_many} identities")
    links = tuple(
        IdentityLink(
            identity=identity_key(kind, value),
            customer_id=survivor.customer_id,
            source_event_id=command.source_event_id,
            merge_id=command.merge_id,
        )
        for kind, values in identities_of(absorbed).items()
        for value in values
        if guard.linkable(identity_key(kind, value))
    )
    decisions = _merge_decisions(survivor, combined, command.merge_id, now)
    return Step(state=combined, links=links, decisions=decisions)


def _reject(command: ProfileMerge, why: str) -> Step:
    back = command.model_copy(
        update={"step": MergeStep.REJECTED, "rejection": why, "absorbed_state": None}
    )
    return Step(commands=(back,), note="rejected")


def _thaw_rejected(state: CustomerState | None, command: ProfileMerge, now: datetime) -> Step:
    """The survivor refused: the absorbed profile is itself again, identities and lists."""
    if state is None or state.merged_into != command.survivor_id:
        return Step(note="not merged")
    thawed = merge.mark_unmerged(state)
    return _restored(thawed, command.merge_id, command.source_event_id)


def _restored(state: CustomerState, because: str, source_event_id: str) -> Step:
    links = tuple(
        IdentityLink(
            identity=identity_key(kind, value),
            customer_id=state.customer_id,
            source_event_id=source_event_id,
            merge_id=because,
        )
        for kind, values in identities_of(state).items()
        for value in values
    )
    entries = tuple(
        dial_list_changes({}, state, because=because, suppressions=[]),
    )
    return Step(state=state, links=links, decisions=entries)


def _merge_decisions(
    before: CustomerState, after: CustomerState, because: str, now: datetime
) -> tuple[Decision, ...]:
    """The survivor inherits the absorbed profile's suppressions: announce each under the
    survivor's id (campaign systems key by customer), then the dial-list changes."""
    decided_at = to_millis(now)
    known = {(s.campaign_id, s.reason, s.channels) for s in before.suppressions}
    suppressions: list[Suppression] = []
    for record in after.suppressions:
        if (record.campaign_id, record.reason, record.channels) in known:
            continue
        known.add((record.campaign_id, record.reason, record.channels))
        suppressions.append(
            Suppression(
                suppression_id=suppression_id(
                    f"{because}|{record.suppression_id}", record.campaign_id, record.reason
                ),
                campaign_id=record.campaign_id,
                customer_id=after.customer_id,
                reason=record.reason,
                channels=record.channels,
                source_event_id=record.source_event_id,
                source_channel=Channel.OTHER,
                policy=POLICY_MERGE,
                occurred_at=record.decided_at,
                decided_at=decided_at,
            )
        )
    changes = dial_list_changes(listed(before), after, because=because, suppressions=suppressions)
    return (*suppressions, *changes)


def on_unmerge(state: CustomerState | None, command: ProfileUnmerge, now: datetime) -> Step:
    if command.step is UnmergeStep.REQUESTED:
        # Step 1, on the absorbed profile: thaw it and send it to the survivor.
        if state is None or state.merged_into != command.survivor_id:
            return Step(note="not merged")
        snapshot = merge.mark_unmerged(state)
        detach = command.model_copy(update={"step": UnmergeStep.DETACH, "absorbed_state": snapshot})
        restored = _restored(snapshot, command.unmerge_id, command.unmerge_id)
        return Step(
            state=snapshot,
            commands=(detach,),
            links=restored.links,
            decisions=restored.decisions,
        )
    # Step 2, on the survivor: take out what came from the absorbed profile.
    absorbed = command.absorbed_state
    if state is None or absorbed is None:
        return Step(note="no state")
    record = next((m for m in state.merges if m.absorbed_customer_id == command.absorbed_id), None)
    if record is None:
        return Step(note="not merged")
    split = merge.split(state, absorbed, record.merge_event_id)
    # Identities both profiles had stay with the survivor, which is linked to them again.
    links = tuple(
        IdentityLink(
            identity=identity_key(kind, value),
            customer_id=split.customer_id,
            source_event_id=command.unmerge_id,
            merge_id=command.unmerge_id,
        )
        for kind, values in _shared(split, absorbed)
        for value in values
    )
    changes = dial_list_changes(listed(state), split, because=command.unmerge_id, suppressions=[])
    return Step(state=split, links=links, decisions=tuple(changes))


def _shared(
    survivor: CustomerState, absorbed: CustomerState
) -> Iterable[tuple[str, tuple[str, ...]]]:
    theirs = identities_of(absorbed)
    for kind, values in identities_of(survivor).items():
        both = tuple(v for v in values if v in theirs.get(kind, ()))
        if both:
            yield kind, both


def redirected(fact_customer_id: str, state: CustomerState | None) -> str | None:
    """Where an event for a merged-away profile belongs: its survivor."""
    if state is None or state.merged_into is None or state.merged_into == fact_customer_id:
        return None
    return state.merged_into


class UnroutableEvent(ValueError):
    """An interaction that names no customer and no identity to find one by."""


def routing_identity(event: Interaction, guard: IdentityGuard) -> str:
    """The identity an interaction without a customer id is resolved by: the first one
    that may link profiles. With only shared or placeholder identities it gets one of its
    own (`event:<id>`), so it never joins everybody who typed the same placeholder."""
    identities = resolving_identities(event)
    if not identities:
        raise UnroutableEvent("interaction names no customer id and no identity")
    for identity in identities:
        if guard.linkable(identity):
            return identity
    return identity_key("event", event.event_id)


def fallback_identity(identity: str, event: Interaction) -> str | None:
    """Where to resolve an event next when `identity` is held by nobody: a context token
    that no contact made here (expired, mistyped, forged) never resolves anyone itself;
    the event's next identity does. None: resolve by `identity` (a new profile)."""
    if not is_context_identity(identity):
        return None
    rest = [i for i in resolving_identities(event) if not is_context_identity(i)]
    return rest[0] if rest else None


def identity_links(
    before: CustomerState, after: CustomerState, guard: IdentityGuard, source_event_id: str
) -> list[IdentityLink]:
    """The links to announce for the identities `after` knows and `before` did not,
    leaving out shared and placeholder values, which never link anyone."""
    links = []
    for kind, value in new_identities(before, after):
        identity = identity_key(kind, value)
        if guard.linkable(identity):
            links.append(
                IdentityLink(
                    identity=identity,
                    customer_id=after.customer_id,
                    source_event_id=source_event_id,
                )
            )
    return links
