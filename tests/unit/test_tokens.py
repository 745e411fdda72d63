from __future__ import annotations

import time
from pathlib import Path

import jwt
import pytest

from wharf.auth.identity import Identity
from wharf.auth.tokens import TokenError, TokenService

ALICE = Identity("user", 7, "alice")


def test_issue_and_verify(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", 60)
    token = svc.issue(ALICE, "reg.test", [{"type": "repository", "name": "alice/a", "actions": ["pull"]}])
    grant = svc.verify(token, "reg.test")
    assert grant.identity == ALICE
    assert grant.allows("repository", "alice/a", "pull")
    assert not grant.allows("repository", "alice/a", "push")
    assert not grant.allows("repository", "alice/b", "pull")
    assert jwt.get_unverified_header(token)["kid"] == svc.key_id
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600


def test_wrong_audience_and_foreign_key(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", 60)
    other = TokenService(tmp_path / "other.pem", "wharf", 60)
    token = svc.issue(ALICE, "reg.test", [])
    with pytest.raises(TokenError):
        svc.verify(token, "elsewhere")
    with pytest.raises(TokenError):
        other.verify(token, "reg.test")


def test_expired(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", -120)
    token = svc.issue(ALICE, "reg.test", [])
    with pytest.raises(TokenError):
        svc.verify(token, "reg.test")


def test_unsigned_token_is_refused(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", 60)
    forged = jwt.encode(
        {
            "iss": "wharf",
            "aud": "reg.test",
            "exp": time.time() + 60,
            "iat": time.time(),
            "access": [{"type": "repository", "name": "x/y", "actions": ["push"]}],
        },
        "k" * 40,
        "HS256",
    )
    with pytest.raises(TokenError):
        svc.verify(forged, "reg.test")


def test_key_is_shared_by_instances(tmp_path: Path) -> None:
    a = TokenService(tmp_path / "k.pem", "wharf", 60)
    b = TokenService(tmp_path / "k.pem", "wharf", 60)
    assert a.key_id == b.key_id
    assert b.verify(a.issue(ALICE, "r", []), "r").identity == ALICE


def test_a_configured_key_is_shared_and_never_made_up(tmp_path: Path) -> None:
    shared = tmp_path / "shared.pem"
    with pytest.raises(TokenError, match="does not exist: create it once"):
        TokenService(shared, "wharf", 60, create=False)
    assert not shared.exists()
    TokenService(shared, "wharf", 60)  # made once, as an operator would
    node_a = TokenService(shared, "wharf", 60, create=False)
    node_b = TokenService(shared, "wharf", 60, create=False)
    token = node_a.issue(Identity("user", 1, "alice"), "registry.test", [])
    assert node_b.verify(token, "registry.test").identity.name == "alice"
