"""The rules the agents follow to route events and to ask the contact rules again, as
pure functions: which identity resolves an event, where a forged or expired context
token sends it, which new identities are announced, and who is rechecked."""

from __future__ import annotations

import pytest

from streams.domain.contact_holds import customers_to_recheck
from streams.domain.customer import CustomerState
from streams.domain.events import Message
from streams.domain.links import identity_key
from streams.domain.resolution import (
    IdentityGuard,
    UnroutableEvent,
    fallback_identity,
    identity_links,
    routing_identity,
)
from tests.factories import PHONE, interaction

SHARED = "+905320000000"


class TestRoutingIdentity:
    def test_the_first_linkable_identity_resolves_the_event(self) -> None:
        event = interaction("e1", Message(text="hi"), customer_id=None, email="a@example.com")
        assert routing_identity(event, IdentityGuard()) == f"phone:{PHONE}"

    def test_a_blocked_identity_is_passed_over_for_the_next(self) -> None:
        event = interaction("e1", Message(text="hi"), customer_id=None, email="a@example.com")
        guard = IdentityGuard(blocked=frozenset({f"phone:{PHONE}"}))
        assert routing_identity(event, guard) == "email:a@example.com"

    def test_only_shared_identities_give_the_event_a_profile_of_its_own(self) -> None:
        event = interaction("e1", Message(text="hi"), customer_id=None)
        guard = IdentityGuard(blocked=frozenset({f"phone:{PHONE}"}))
        assert routing_identity(event, guard) == identity_key("event", "e1")

    def test_no_identity_at_all_is_unroutable(self) -> None:
        event = interaction("e1", Message(text="hi"), customer_id=None, phone=None)
        with pytest.raises(UnroutableEvent, match="no customer id and no identity"):
            routing_identity(event, IdentityGuard())


class TestFallbackIdentity:
    def test_an_unknown_context_token_hands_over_to_the_next_identity(self) -> None:
        event = interaction("e1", Message(text="hi"), customer_id=None)
        assert fallback_identity("context:tok-1", event) == f"phone:{PHONE}"

    def test_an_unknown_context_token_alone_resolves_by_itself(self) -> None:
        event = interaction("e1", Message(text="hi"), customer_id=None, phone=None)
        assert fallback_identity("context:tok-1", event) is None

    def test_other_identities_never_fall_back(self) -> None:
        event = interaction("e1", Message(text="hi"), customer_id=None, email="a@example.com")
        assert fallback_identity(f"phone:{PHONE}", event) is None


def test_identity_links_announce_new_linkable_identities_only() -> None:
    before = CustomerState.new("c-1")
    after = before.model_copy(update={"phones": (PHONE, SHARED), "emails": ("a@example.com",)})
    guard = IdentityGuard(blocked=frozenset({f"phone:{SHARED}"}))
    links = identity_links(before, after, guard, "e-9")
    assert sorted(link.identity for link in links) == ["email:a@example.com", f"phone:{PHONE}"]
    assert {(link.customer_id, link.source_event_id) for link in links} == {("c-1", "e-9")}
    assert identity_links(after, after, guard, "e-10") == []


def test_customers_to_recheck_once_each_the_policy_reason_first() -> None:
    targeted = {"spring": ["c-2", "c-1"], "autumn": ["c-3"]}
    holders = {"phone:+1": "c-1", "phone:+2": "c-4", "phone:+3": None}
    found = customers_to_recheck(
        ["spring", "winter"],
        ["phone:+1", "phone:+2", "phone:+3"],
        lambda campaign: targeted.get(campaign, []),
        holders.get,
    )
    assert found == [("c-1", "policy"), ("c-2", "policy"), ("c-4", "dnc")]
    assert customers_to_recheck([], [], lambda c: ["x"], holders.get) == []
