from __future__ import annotations

import asyncio
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from wharf.auth.identity import Identity
from wharf.auth.tokens import ROBOT_AUDIENCE, RobotPassword, TokenError, TokenService

ALICE = Identity("user", 7, "alice", generation=42)


def test_issue_and_verify(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test")
    token = svc.issue(ALICE, [{"type": "repository", "name": "alice/a", "actions": ["pull"]}])
    grant = svc.verify(token)
    assert grant.identity == Identity("user", 7, "alice")
    assert grant.generation == 42
    assert grant.allows("repository", "alice/a", "pull")
    assert not grant.allows("repository", "alice/a", "push")
    assert not grant.allows("repository", "alice/b", "pull")
    assert jwt.get_unverified_header(token)["kid"] == svc.key_id
    assert (tmp_path / "k.pem").stat().st_mode & 0o777 == 0o600


def test_wrong_audience_and_foreign_key(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test")
    elsewhere = TokenService(tmp_path / "k.pem", "wharf", 60, "elsewhere")
    other = TokenService(tmp_path / "other.pem", "wharf", 60, "reg.test")
    token = svc.issue(ALICE, [])
    with pytest.raises(TokenError):
        elsewhere.verify(token)
    with pytest.raises(TokenError):
        other.verify(token)


def test_expired(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", -120, "reg.test")
    token = svc.issue(ALICE, [])
    with pytest.raises(TokenError):
        svc.verify(token)


def test_unsigned_token_is_refused(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test")
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
        svc.verify(forged)


def test_key_is_shared_by_instances(tmp_path: Path) -> None:
    a = TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test")
    b = TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test")
    assert a.key_id == b.key_id
    assert b.verify(a.issue(ALICE, [])).identity.name == "alice"


def test_a_configured_key_is_shared_and_never_made_up(tmp_path: Path) -> None:
    shared = tmp_path / "shared.pem"
    with pytest.raises(TokenError, match="does not exist: create it once"):
        TokenService(shared, "wharf", 60, "registry.test", create=False)
    assert not shared.exists()
    TokenService(shared, "wharf", 60, "registry.test")  # made once, as an operator would
    node_a = TokenService(shared, "wharf", 60, "registry.test", create=False)
    node_b = TokenService(shared, "wharf", 60, "registry.test", create=False)
    token = node_a.issue(Identity("user", 1, "alice", generation=3), [])
    assert node_b.verify(token).identity.name == "alice"


def test_each_token_is_good_for_its_purpose_only(tmp_path: Path) -> None:
    """A registry token is never a robot password and a robot password never a registry token,
    even when their audiences are made to agree."""
    svc = TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test")
    robot = RobotPassword("acme+ci", 9, 5)
    password = svc.issue_robot(robot, 60)
    assert svc.verify_robot(password) == robot
    with pytest.raises(TokenError):
        svc.verify(password)
    registry = svc.issue(Identity("robot", 9, "acme+ci", generation=5), [])
    assert svc.verify_robot(registry) is None
    assert svc.signed_here(registry) and svc.signed_here(password)
    # a token with the other's audience but no purpose, or the wrong one, is refused both ways
    for purpose in (None, "registry", "something"):
        claims = {"iss": "wharf", "aud": ROBOT_AUDIENCE, "sub": "acme+ci", "iat": int(time.time())}
        claims |= {"exp": int(time.time()) + 60, "account_id": 9, "gen": 5}
        if purpose:
            claims["purpose"] = purpose
        forged = svc._sign(claims)
        assert svc.verify_robot(forged) is None
    with pytest.raises(TokenError, match="cannot be"):
        TokenService(tmp_path / "k.pem", "wharf", 60, ROBOT_AUDIENCE)


def test_an_account_token_needs_a_generation(tmp_path: Path) -> None:
    svc = TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test")
    with pytest.raises(TokenError):
        svc.issue(Identity("user", 7, "alice"), [])
    assert svc.verify(svc.issue(Identity("anonymous"), [])).identity.is_anonymous


def _write_key(
    path: Path, key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )


def test_the_key_decides_the_algorithm(tmp_path: Path) -> None:
    """A new key is EC P-256 (ES256); an RSA key from an older installation, or one an operator
    configured, keeps signing RS256, and its tokens keep verifying across restarts."""
    new = TokenService(tmp_path / "new.pem", "wharf", 60, "reg.test")
    assert new.algorithm == "ES256"
    assert b"BEGIN PRIVATE KEY" in (tmp_path / "new.pem").read_bytes()
    assert jwt.get_unverified_header(new.issue(ALICE, []))["alg"] == "ES256"

    _write_key(tmp_path / "old.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048))
    old = TokenService(tmp_path / "old.pem", "wharf", 60, "reg.test", create=False)
    assert old.algorithm == "RS256"
    token = old.issue(ALICE, [{"type": "repository", "name": "alice/a", "actions": ["pull"]}])
    assert jwt.get_unverified_header(token)["alg"] == "RS256"
    restarted = TokenService(tmp_path / "old.pem", "wharf", 60, "reg.test")
    assert restarted.verify(token).allows("repository", "alice/a", "pull")
    robot = RobotPassword("acme+ci", 9, 5)
    assert restarted.verify_robot(old.issue_robot(robot, 60)) == robot
    # a token of one key is never accepted by a service holding the other, whatever its algorithm
    with pytest.raises(TokenError):
        new.verify(token)
    with pytest.raises(TokenError):
        old.verify(new.issue(ALICE, []))
    assert new.verify_robot(old.issue_robot(robot, 60)) is None


def test_an_rs256_token_is_refused_by_an_es256_service(tmp_path: Path) -> None:
    """The algorithm a service verifies is its key's, never the one a token's header names."""
    svc = TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test")
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    claims = jwt.decode(svc.issue(ALICE, []), options={"verify_signature": False})
    forged = jwt.encode(claims, other, algorithm="RS256", headers={"kid": svc.key_id})
    with pytest.raises(TokenError):
        svc.verify(forged)


@pytest.mark.parametrize(
    "key",
    [ec.generate_private_key(ec.SECP384R1()), ed25519.Ed25519PrivateKey.generate()],
    ids=["p384", "ed25519"],
)
def test_other_key_types_are_refused_with_what_to_use(
    tmp_path: Path, key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
) -> None:
    _write_key(tmp_path / "k.pem", key)
    with pytest.raises(TokenError, match="neither an EC P-256 key nor an RSA key"):
        TokenService(tmp_path / "k.pem", "wharf", 60, "reg.test", create=False)


def test_a_key_on_first_use_is_read_or_made_by_the_first_token(tmp_path: Path) -> None:
    """The server's runtime reads (or makes) its key when the first token is signed or verified,
    with the same results as a key read up front."""
    path = tmp_path / "keys" / "k.pem"
    svc = TokenService(path, "wharf", 60, "reg.test", key_on_first_use=True)
    assert not path.exists()
    token = svc.issue(ALICE, [{"type": "repository", "name": "alice/a", "actions": ["pull"]}])
    assert path.stat().st_mode & 0o777 == 0o600
    assert TokenService(path, "wharf", 60, "reg.test").verify(token).allows("repository", "alice/a", "pull")
    verifier = TokenService(path, "wharf", 60, "reg.test", key_on_first_use=True)
    assert verifier.verify(token).identity.name == "alice"
    assert verifier.key_id == svc.key_id and verifier.algorithm == "ES256"
    made = TokenService(tmp_path / "made.pem", "wharf", 60, "reg.test", key_on_first_use=True)
    asyncio.run(made.ready())  # what the token endpoint awaits: the key is made off the event loop
    assert (tmp_path / "made.pem").is_file()

    # a configured key is checked when the service is made, and never made up later either
    shared = tmp_path / "shared.pem"
    with pytest.raises(TokenError, match="does not exist: create it once"):
        TokenService(shared, "wharf", 60, "reg.test", create=False, key_on_first_use=True)
    shared.write_bytes(path.read_bytes())
    node = TokenService(shared, "wharf", 60, "reg.test", create=False, key_on_first_use=True)
    shared.unlink()
    with pytest.raises(TokenError, match="does not exist: create it once"):
        node.issue(ALICE, [])
    assert not shared.exists()

    _write_key(tmp_path / "p384.pem", ec.generate_private_key(ec.SECP384R1()))
    wrong = TokenService(tmp_path / "p384.pem", "wharf", 60, "reg.test", key_on_first_use=True)
    with pytest.raises(TokenError, match="neither an EC P-256 key nor an RSA key"):
        wrong.issue(ALICE, [])


def test_a_key_on_first_use_is_made_once_when_the_first_tokens_arrive_together(tmp_path: Path) -> None:
    """The first requests of a fresh server reach the key on several threads at once: one key is
    made, every token verifies with it, and no temporary file is left."""
    path = tmp_path / "keys" / "k.pem"
    svc = TokenService(path, "wharf", 60, "reg.test", key_on_first_use=True)
    start = threading.Barrier(8)

    def first_token() -> str:
        start.wait()
        return svc.issue(ALICE, [])

    with ThreadPoolExecutor(8) as pool:
        tokens = list(pool.map(lambda _: first_token(), range(8)))
    verifier = TokenService(path, "wharf", 60, "reg.test")
    assert all(verifier.verify(t).identity.name == "alice" for t in tokens)
    assert sorted(p.name for p in path.parent.iterdir()) == ["k.pem"]
