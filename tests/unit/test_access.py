"""API keys and roles: the key list, constant-time look-up, and the role order."""

from __future__ import annotations

import hashlib
import subprocess
import sys

import pytest

from streams.domain.access import (
    AccessConfigError,
    Role,
    allows,
    authenticate,
    digest_of,
    parse_api_keys,
)
from tests.hub import REPO, clean_env


def test_keys_in_clear_and_as_digests_with_roles_and_names() -> None:
    digest = hashlib.sha256(b"op-s3cret").hexdigest()
    keys = parse_api_keys(f"adm-s3cret, v-s3cret:viewer:wallboard, sha256:{digest}:operator")
    assert [(k.role, k.secret) for k in keys] == [
        (Role.ADMIN, "adm-s3cret"),  # no role: admin, as before
        (Role.VIEWER, "v-s3cret"),
        (Role.OPERATOR, None),  # a digest cannot be sent by the CLI
    ]
    assert keys[1].name == "wallboard"
    assert keys[2].name == f"key-{digest[:8]}"
    assert authenticate(keys, "op-s3cret") is keys[2]
    assert authenticate(keys, "v-s3cret") is keys[1]
    assert authenticate(keys, "op-s3cre") is None
    assert authenticate(keys, "") is None


def test_no_key_or_its_secret_shows_in_a_repr() -> None:
    (key,) = parse_api_keys("top-s3cret:agent")
    assert "top-s3cret" not in repr(key)
    assert digest_of("top-s3cret").hex() not in repr(key)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("ro-s3cret:readonly", "key 'key-.{8}' has the unknown role 'readonly'; the roles are"),
        ("a:admin,:viewer", "entry 2 has an empty key"),
        ("a:admin:same,b:viewer:same", "two keys have the same name"),
    ],
)
def test_an_unusable_key_list_names_the_entry_never_the_secret(raw: str, message: str) -> None:
    with pytest.raises(AccessConfigError, match=message) as caught:
        parse_api_keys(raw)
    assert "s3cret" not in str(caught.value)


def test_each_role_holds_the_rights_of_the_ones_before_it() -> None:
    keys = {k.role: k for k in parse_api_keys("v:viewer,g:agent,o:operator,a:admin")}
    for held in Role:
        for needed in Role:
            assert allows(keys[held], needed) == (held >= needed)


def test_an_unknown_role_stops_the_worker_before_it_starts() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "streams", "worker"],
        cwd=REPO,
        env=clean_env(TOUCHLINE_API_KEYS="ro-s3cret:readonly"),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "unknown role 'readonly'" in done.stderr and "s3cret" not in done.stderr
