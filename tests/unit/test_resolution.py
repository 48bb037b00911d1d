"""Identity resolution rules: which links ask for a merge, who survives, the guards."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from streams.config import ConfigError, Settings
from streams.domain.links import IdentityLink
from streams.domain.resolution import (
    IdentityGuard,
    MergeStep,
    is_placeholder,
    merge_id_for,
    on_link,
)

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def link(customer_id: str, identity: str = "phone:+905321234567", **extra: str) -> IdentityLink:
    return IdentityLink(identity=identity, customer_id=customer_id, source_event_id="e-1", **extra)


class TestOnLink:
    def test_a_new_identity_is_simply_linked(self) -> None:
        assert on_link(None, link("c-1"), NOW) == ("c-1", None)

    def test_the_same_holder_asks_for_nothing(self) -> None:
        assert on_link("c-1", link("c-1"), NOW) == ("c-1", None)

    def test_a_link_to_another_profile_asks_to_merge_it_into_the_holder(self) -> None:
        holder, merge = on_link("c-1", link("c-2"), NOW)
        assert holder == "c-1"
        assert merge is not None
        assert (merge.survivor_id, merge.absorbed_id) == ("c-1", "c-2")
        assert merge.step is MergeStep.REQUESTED
        assert merge.target_id == "c-2"  # the absorbed profile goes first
        assert merge.linked_by == "phone"  # the kind, never the number itself
        assert "+90532" not in merge.model_dump_json()
        assert merge.merge_id == merge_id_for("c-1", "c-2", "e-1")

    def test_a_known_customer_survives_an_anonymous_holder(self) -> None:
        holder, merge = on_link("anon-1234", link("c-2"), NOW)
        assert holder == "c-2"
        assert merge is not None
        assert (merge.survivor_id, merge.absorbed_id) == ("c-2", "anon-1234")

    def test_links_made_by_a_merge_move_the_identity_without_another_merge(self) -> None:
        assert on_link("c-2", link("c-1", merge_id="m-1"), NOW) == ("c-1", None)

    def test_a_redelivered_link_asks_for_the_same_merge(self) -> None:
        first = on_link("c-1", link("c-2"), NOW)[1]
        again = on_link("c-1", link("c-2"), NOW)[1]
        assert first is not None and again is not None
        assert first.merge_id == again.merge_id


class TestGuards:
    @pytest.mark.parametrize(
        ("kind", "value"),
        [
            ("phone", "+900000000000"),
            ("phone", "+11111111111"),
            ("phone", "+901234567890"),
            ("email", "noreply@bank.example"),
            ("email", "unknown@anywhere.example"),
            ("account", "0000000"),
        ],
    )
    def test_placeholders_never_link(self, kind: str, value: str) -> None:
        assert is_placeholder(kind, value)
        assert not IdentityGuard().linkable(f"{kind}:{value}")

    @pytest.mark.parametrize(
        "identity",
        ["phone:+905321234567", "email:ayse@example.com", "account:TR100042", "device:ios-1"],
    )
    def test_real_values_link(self, identity: str) -> None:
        assert IdentityGuard().linkable(identity)

    def test_configured_shared_numbers_never_link(self) -> None:
        settings = Settings.from_env(
            {
                "TOUCHLINE_BLOCKED_IDENTITIES": "phone:0212 555 0000, email:Info@Bank.example",
                "TOUCHLINE_DEFAULT_REGION": "TR",
            }
        )
        guard = IdentityGuard(blocked=settings.blocked_identities)
        assert settings.blocked_identities == {"phone:+902125550000", "email:info@bank.example"}
        assert not guard.linkable("phone:+902125550000")
        assert not guard.linkable("email:info@bank.example")
        assert guard.linkable("phone:+902125550001")

    @pytest.mark.parametrize("raw", ["pigeon:1", "phone", "phone:abc", "email:nobody"])
    def test_unusable_blocked_identities_are_a_config_error(self, raw: str) -> None:
        with pytest.raises(ConfigError, match="TOUCHLINE_BLOCKED_IDENTITIES"):
            Settings.from_env({"TOUCHLINE_BLOCKED_IDENTITIES": raw})
