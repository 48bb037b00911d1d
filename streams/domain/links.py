"""Identity links: which customer an identity (phone, e-mail, account) belongs to."""

from __future__ import annotations

import uuid

from streams.domain.events import CustomerRef, Interaction
from streams.domain.model import Fact

CONTEXT_KIND = "context"

_ANONYMOUS_NS = uuid.UUID("0b5f3c1e-8a47-4f0e-9d62-7e21c4a9b3d5")


class IdentityLink(Fact):
    identity: str
    customer_id: str
    source_event_id: str
    # Set when a merge or an unmerge moves the identity: it then moves without asking
    # for another merge.
    merge_id: str | None = None


def identity_key(kind: str, value: str) -> str:
    return f"{kind}:{value}"


def primary_identity(ref: CustomerRef) -> str | None:
    """The identity an event without a customer id is resolved by."""
    identities = ref.identities()
    return identity_key(*identities[0]) if identities else None


def resolving_identities(event: Interaction) -> list[str]:
    """The identities an event without a customer id can be resolved by, in the order
    tried: a presented context token first (the customer proved who they were when it was
    made), then phone, e-mail and account."""
    keys = [identity_key(kind, value) for kind, value in event.customer.identities()]
    if event.context_token:
        keys.insert(0, identity_key(CONTEXT_KIND, event.context_token))
    return keys


def is_context_identity(identity: str) -> bool:
    return identity.startswith(CONTEXT_KIND + ":")


ANONYMOUS_PREFIX = "anon-"


def is_anonymous(customer_id: str) -> bool:
    """A profile the hub made up for an identity no customer id came with."""
    return customer_id.startswith(ANONYMOUS_PREFIX)


def anonymous_customer_id(identity: str) -> str:
    """A stable id for an identity never linked to a customer, so its history is kept
    together; derived by hash so the id itself carries no personal data."""
    return ANONYMOUS_PREFIX + str(uuid.uuid5(_ANONYMOUS_NS, identity))
