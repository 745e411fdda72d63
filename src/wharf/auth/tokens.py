"""Registry bearer tokens (the Docker Registry v2 token spec): JWTs signed with a key that lives in
the data directory, so tokens survive restarts and every process of a node agrees.

The key decides the algorithm: an EC P-256 key (what a new installation creates) signs ES256, an
RSA key (what installations made before December 2026 have) RS256. Clients treat the token as
opaque; signing ES256 costs ~60 µs against ~1 ms for RSA-2048, which is most of a token request."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from collections import OrderedDict
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from wharf.auth.identity import Identity
from wharf.core import repositories, revocation
from wharf.core.errors import TokenRevoked
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db

CLOCK_SKEW_S = 30
# Every token this service signs names what it is for in its `purpose` claim, and every
# verification demands the purpose it expects: a registry token is never a robot's password, and
# a robot's password never a registry token, whatever their audiences.
REGISTRY_PURPOSE = "registry"
ROBOT_PURPOSE = "robot-federation"
# The audience of robot tokens from the federation exchange: they are passwords, not registry grants.
ROBOT_AUDIENCE = "wharf:robot-federation"


class TokenError(Exception):
    """The bearer token is missing, malformed, expired or not ours."""


@dataclass(frozen=True, slots=True)
class Grant:
    identity: Identity
    access: dict[tuple[str, str], frozenset[str]]
    """(type, name) -> actions, e.g. ("repository", "ns/app") -> {"pull", "push"}."""
    generation: int | None = None
    """The account's credential generation at issue; the token is good while it is still current."""
    public_only: frozenset[str] = frozenset()
    """Repository names the token may pull from only while they are public."""

    def allows(self, kind: str, name: str, action: str) -> bool:
        granted = self.access.get((kind, name), frozenset())
        return action in granted or "*" in granted  # "*" is every action


SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def _algorithm(key: object, path: Path) -> str:
    """The JWS algorithm a key signs with: ES256 for EC P-256, RS256 for RSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    raise TokenError(f"{path} holds neither an EC P-256 key nor an RSA key")


def _load_or_create_key(path: Path) -> SigningKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        _algorithm(key, path)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    # Two processes starting together must end up with the same key: the first link wins.
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass
    finally:
        tmp.unlink(missing_ok=True)
    return _load_or_create_key(path)


_ECDSA_SHA256 = ec.ECDSA(hashes.SHA256())


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _key_id(key: SigningKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(raw[i : i + 4] for i in range(0, 48, 4))


@dataclass(frozen=True, slots=True)
class RobotPassword:
    """What a federation robot token was issued to."""

    name: str
    account_id: int
    generation: int


class TokenService:
    def __init__(
        self, key_path: Path, issuer: str, lifetime_s: int, audience: str, *, create: bool = True
    ) -> None:
        """`audience`: the fixed `aud` of registry tokens (SERVER_HOSTNAME), never a request's Host.
        `create`: make the key when `key_path` is missing. A configured, shared key is never
        made up by one node: the others would not accept its tokens."""
        if not create and not key_path.is_file():
            raise TokenError(
                f"the registry signing key {key_path} does not exist: create it once "
                "(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out FILE) and "
                "give every node the same file"
            )
        if audience == ROBOT_AUDIENCE:
            raise TokenError(f"the registry audience cannot be {ROBOT_AUDIENCE!r}")
        self._key = _load_or_create_key(key_path)
        self.algorithm = _algorithm(self._key, key_path)
        self._public = self._key.public_key()
        self.key_id = _key_id(self._key)
        header = {"alg": self.algorithm, "kid": self.key_id, "typ": "JWT"}
        self._header = _b64(json.dumps(header, separators=(",", ":")).encode())
        self.issuer = issuer
        self.audience = audience
        self.lifetime_s = lifetime_s
        self._verified: OrderedDict[str, tuple[float, Grant]] = OrderedDict()

    def _sign(self, claims: dict[str, Any]) -> str:
        """The compact JWS of `claims` (RFC 7515), as PyJWT writes it: half of PyJWT's encode was
        its own bookkeeping, around the one signature it makes. Verifying stays PyJWT's."""
        signing_input = self._header + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            r, s = decode_dss_signature(self._key.sign(signing_input, _ECDSA_SHA256))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWA 3.4: R || S, 32 bytes each
        else:
            signature = self._key.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return (signing_input + b"." + _b64(signature)).decode()

    def _decode(self, token: str, audience: str, purpose: str) -> dict[str, Any]:
        claims = jwt.decode(
            token,
            self._public,
            algorithms=[self.algorithm],
            audience=audience,
            issuer=self.issuer,
            leeway=CLOCK_SKEW_S,
            options={"require": ["exp", "iat", "aud", "iss", "sub", "purpose"]},
        )
        if claims.get("purpose") != purpose:
            raise jwt.InvalidTokenError(f"not a {purpose} token")
        return claims

    def issue(
        self, identity: Identity, access: list[dict[str, Any]], public_only: Collection[str] = ()
    ) -> str:
        """A registry token: `access` for `identity`, bound to its credential generation.
        `public_only`: names of the repositories it may pull from only while they are public."""
        if identity.account_id is not None and identity.generation is None:
            raise TokenError("an account's token must carry its credential generation")
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": identity.name or "(anonymous)",
            "purpose": REGISTRY_PURPOSE,
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_s,
            "jti": base64.urlsafe_b64encode(os.urandom(12)).decode(),
            "access": access,
            "public_only": sorted(public_only),
            "context": {
                "version": 2,
                "entity_kind": identity.kind,
                "kind": identity.kind,
                "user": identity.name,
                "account_id": identity.account_id,
                "superuser": identity.is_superuser,
                "gen": identity.generation,
                # The OAuth/app token's scopes still cap what this token may list (the catalog).
                **({"scopes": sorted(identity.scopes)} if identity.scopes is not None else {}),
            },
        }
        return self._sign(claims)

    def issue_robot(self, robot: RobotPassword, lifetime_s: int) -> str:
        """A short-lived password for a robot, handed out for a trusted OIDC token (keyless login).
        It is bound to the robot's credential generation: regenerating the robot's token ends it."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": ROBOT_AUDIENCE,
            "sub": robot.name,
            "purpose": ROBOT_PURPOSE,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "jti": base64.urlsafe_b64encode(os.urandom(12)).decode(),
            "account_id": robot.account_id,
            "gen": robot.generation,
        }
        return self._sign(claims)

    def signed_here(self, token: str) -> bool:
        """Whether the JWT names this service's key (then it is one of ours, not an OIDC token)."""
        try:
            return jwt.get_unverified_header(token).get("kid") == self.key_id
        except jwt.PyJWTError:
            return False

    def verify_robot(self, token: str) -> RobotPassword | None:
        """The robot a token from issue_robot was issued to, or None for anything else."""
        try:
            claims = self._decode(token, ROBOT_AUDIENCE, ROBOT_PURPOSE)
            return RobotPassword(str(claims["sub"]), int(claims["account_id"]), int(claims["gen"]))
        except (jwt.PyJWTError, KeyError, TypeError, ValueError):
            return None

    def verify(self, token: str) -> Grant:
        """The grant of a registry token from `issue`. Whether its generation is still current is
        checked by the request's transaction (`is_current`)."""
        cached = self._verified.get(token)
        now = time.time()
        if cached is not None and now < cached[0] + CLOCK_SKEW_S:
            return cached[1]
        try:
            claims = self._decode(token, self.audience, REGISTRY_PURPOSE)
        except jwt.PyJWTError as e:
            raise TokenError(str(e)) from None
        grant = _grant(claims)
        if grant.identity.account_id is not None and grant.generation is None:
            raise TokenError("the token carries no credential generation")
        self._verified[token] = (float(claims["exp"]), grant)
        if len(self._verified) > 4096:
            self._verified.popitem(last=False)
        return grant


def is_current(db: Db, grant: Grant) -> bool:
    """Whether the token's account still exists, is enabled and has the generation the token
    carries: nothing revoked it since it was issued (core/revocation.py). One indexed read."""
    account_id = grant.identity.account_id
    return account_id is None or revocation.generation(db, account_id) == grant.generation


def current_repository(
    db: Db, grant: Grant | None, namespace: str, name: str
) -> tuple[RepositoryRecord | None, bool]:
    """(the repository, whether the token is still current), read together: the generation check
    rides on the repository lookup every /v2 request makes anyway."""
    account_id = grant.identity.account_id if grant is not None else None
    if grant is None or account_id is None:
        return repositories.get(db, namespace, name), True
    repo, generation = repositories.get_as(db, namespace, name, account_id)
    return repo, generation == grant.generation


def require_current(db: Db, grant: Grant | None) -> None:
    """`is_current`, raising TokenRevoked when it is not: for the transaction that acts on what
    the token grants."""
    if grant is not None and not is_current(db, grant):
        raise TokenRevoked()


def repository_for(db: Db, grant: Grant | None, namespace: str, name: str) -> RepositoryRecord | None:
    """`current_repository`, raising TokenRevoked when the token is no longer current."""
    repo, current = current_repository(db, grant, namespace, name)
    if not current:
        raise TokenRevoked()
    return repo


def _grant(claims: dict[str, Any]) -> Grant:
    ctx = claims.get("context") or {}
    gen = ctx.get("gen")
    identity = Identity(
        kind=str(ctx.get("kind", "anonymous")),
        account_id=ctx.get("account_id"),
        name=ctx.get("user"),
        is_superuser=bool(ctx.get("superuser", False)),
        scopes=frozenset(map(str, ctx["scopes"])) if isinstance(ctx.get("scopes"), list) else None,
    )
    access: dict[tuple[str, str], frozenset[str]] = {}
    for entry in claims.get("access") or []:
        if isinstance(entry, dict):
            key = (str(entry.get("type")), str(entry.get("name")))
            access[key] = access.get(key, frozenset()) | frozenset(map(str, entry.get("actions") or []))
    public_only = claims.get("public_only") or []
    return Grant(
        identity,
        access,
        gen if isinstance(gen, int) else None,
        frozenset(map(str, public_only)) if isinstance(public_only, list) else frozenset(),
    )
