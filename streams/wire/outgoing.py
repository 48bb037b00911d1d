"""Kafka records the hub produces: topic, key, Avro value and CloudEvents headers."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from streams.adapters.native import interaction_key
from streams.domain.campaign_policy import CampaignPolicy, DoNotContactEntry
from streams.domain.decisions import Decision, DialListEntry, DialListRemoval, Suppression
from streams.domain.events import CampaignTarget, Interaction
from streams.domain.links import IdentityLink
from streams.domain.model import campaign_key
from streams.domain.screen_pop import ScreenPop
from streams.wire import cloudevents, topics
from streams.wire.serialization import AvroSerializer, DeadLetter


@dataclass(frozen=True)
class Record:
    topic: str
    key: bytes
    value: bytes | None
    headers: list[tuple[str, bytes]]


# The CloudEvents source of what the worker itself decides and sends.
_WORKER = "/touchline/worker"


def _described(
    topic: str,
    key: bytes,
    value: bytes | None,
    *,
    event_id: str,
    event_type: str,
    subject: str | None,
    time: datetime | None = None,
    source: str = _WORKER,
) -> Record:
    """A record with the CloudEvents headers that describe it (`time` None: now)."""
    return Record(
        topic=topic,
        key=key,
        value=value,
        headers=cloudevents.headers(
            event_id=event_id,
            event_type=event_type,
            source=source,
            time=datetime.now(UTC) if time is None else time,
            subject=subject,
        ),
    )


def interaction(serializer: AvroSerializer, event: Interaction, source: str) -> Record:
    return _described(
        topics.INTERACTIONS,
        interaction_key(event).encode(),
        serializer.encode_model(event, topics.INTERACTIONS),
        event_id=event.event_id,
        event_type=f"touchline.interaction.{event.payload.type}",
        source=source,
        time=event.occurred_at,
        subject=event.customer.customer_id,
    )


def campaign_target(serializer: AvroSerializer, target: CampaignTarget, source: str) -> Record:
    return _described(
        topics.CAMPAIGN_TARGETS,
        campaign_key(target.campaign_id, target.customer_id).encode(),
        serializer.encode_model(target, topics.CAMPAIGN_TARGETS),
        event_id=f"{target.upload_id}:{target.customer_id}",
        event_type="touchline.campaign-target",
        source=source,
        time=target.uploaded_at,
        subject=target.customer_id,
    )


def decision(serializer: AvroSerializer, made: Decision) -> Record:
    if isinstance(made, Suppression):
        return _described(
            topics.SUPPRESSIONS,
            made.key.encode(),
            serializer.encode_model(made, topics.SUPPRESSIONS),
            event_id=made.suppression_id,
            event_type="touchline.suppression",
            time=made.decided_at,
            subject=made.customer_id,
        )
    if isinstance(made, DialListEntry):
        value: bytes | None = serializer.encode_model(made, topics.DIAL_LIST)
        event_type = "touchline.dial-list.entry"
        event_id = f"{made.key}:{made.source_id}"
    else:
        assert isinstance(made, DialListRemoval)
        value = None
        event_type = "touchline.dial-list.removal"
        event_id = f"{made.key}:{made.because}"
    return _described(
        topics.DIAL_LIST,
        made.key.encode(),
        value,
        event_id=event_id,
        event_type=event_type,
        subject=made.customer_id,
    )


def identity_link(serializer: AvroSerializer, topic: str, link: IdentityLink) -> Record:
    return Record(
        topic=topic,
        key=link.identity.encode(),
        value=serializer.encode_model(link),
        headers=[],
    )


def screen_pop(serializer: AvroSerializer, topic: str, pop: ScreenPop) -> Record:
    """A pop on the internal `{app_id}-screen-pops` topic, keyed by the agent it is for."""
    return _described(
        topic,
        pop.agent_id.encode(),
        serializer.encode_model(pop, topic),
        event_id=f"{pop.event_id}:screen-pop:{pop.agent_id}",
        event_type="touchline.screen-pop",
        time=pop.occurred_at,
        subject=pop.customer_id,
    )


def dead_letter(serializer: AvroSerializer, letter: DeadLetter) -> Record:
    return _described(
        topics.INTERACTIONS_DLQ,
        letter.key or b"",
        serializer.encode_model(letter, topics.INTERACTIONS_DLQ),
        event_id=f"{letter.topic}/{letter.partition}/{letter.offset}",
        event_type="touchline.dead-letter",
        time=letter.failed_at,
        subject=None,
    )


def campaign_policy(serializer: AvroSerializer, policy: CampaignPolicy, source: str) -> Record:
    """One version of a campaign's policy on the compacted `touchline.policies.v1`."""
    return _described(
        topics.POLICIES,
        policy.campaign_id.encode(),
        serializer.encode_model(policy, topics.POLICIES),
        event_id=f"{policy.campaign_id}:v{policy.version}",
        event_type="touchline.policy",
        source=source,
        subject=policy.campaign_id,
    )


def dnc_entry(serializer: AvroSerializer, entry: DoNotContactEntry, source: str) -> Record:
    """A do-not-contact entry on the compacted `touchline.dnc.v1`, keyed `kind:value`."""
    return _described(
        topics.DNC,
        entry.key.encode(),
        serializer.encode_model(entry, topics.DNC),
        # The id is random, not the identity: headers are copied into places (logs, UIs)
        # that keys and values are not, and an entry is personal data.
        event_id=str(uuid.uuid4()),
        event_type="touchline.dnc-entry",
        source=source,
        subject=None,
    )


def dnc_removal(key: str, source: str) -> Record:
    """The tombstone that takes `key` (`kind:value`) off the do-not-contact list."""
    return _described(
        topics.DNC,
        key.encode(),
        None,
        event_id=str(uuid.uuid4()),
        event_type="touchline.dnc-entry.removal",
        source=source,
        subject=None,
    )
