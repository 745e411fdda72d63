"""Registry bearer tokens (the Docker Registry v2 token spec): RS256 JWTs signed with a key that
lives in the data directory, so tokens survive restarts and every process of a node agrees."""

from __future__ import annotations

import base64
import hashlib
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from wharf.auth.identity import Identity

CLOCK_SKEW_S = 30
# The audience of robot tokens from the federation exchange: they are passwords, not registry grants.
ROBOT_AUDIENCE = "wharf:robot-federation"


class TokenError(Exception):
    """The bearer token is missing, malformed, expired or not ours."""


@dataclass(frozen=True, slots=True)
class Grant:
    identity: Identity
    access: dict[tuple[str, str], frozenset[str]]
    """(type, name) -> actions, e.g. ("repository", "ns/app") -> {"pull", "push"}."""

    def allows(self, kind: str, name: str, action: str) -> bool:
        granted = self.access.get((kind, name), frozenset())
        return action in granted or "*" in granted  # "*" is every action


def _load_or_create_key(path: Path) -> rsa.RSAPrivateKey:
    if path.exists():
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise TokenError(f"{path} does not hold an RSA key")
        return key
    path.parent.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
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


def _key_id(key: rsa.RSAPrivateKey) -> str:
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(raw[i : i + 4] for i in range(0, 48, 4))


class TokenService:
    def __init__(self, key_path: Path, issuer: str, lifetime_s: int, *, create: bool = True) -> None:
        """`create`: make the key when `key_path` is missing. A configured, shared key is never
        made up by one node: the others would not accept its tokens."""
        if not create and not key_path.is_file():
            raise TokenError(
                f"the registry signing key {key_path} does not exist: create it once "
                "(openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out FILE) and give "
                "every node the same file"
            )
        self._key = _load_or_create_key(key_path)
        self._public = self._key.public_key()
        self.key_id = _key_id(self._key)
        self.issuer = issuer
        self.lifetime_s = lifetime_s
        self._verified: OrderedDict[str, tuple[str, float, Grant]] = OrderedDict()

    def issue(self, identity: Identity, audience: str, access: list[dict[str, Any]]) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": audience,
            "sub": identity.name or "(anonymous)",
            "iat": now,
            "nbf": now,
            "exp": now + self.lifetime_s,
            "jti": base64.urlsafe_b64encode(os.urandom(12)).decode(),
            "access": access,
            "context": {
                "version": 2,
                "entity_kind": identity.kind,
                "kind": identity.kind,
                "user": identity.name,
                "account_id": identity.account_id,
                "superuser": identity.is_superuser,
                # The OAuth/app token's scopes still cap what this token may list (the catalog).
                **({"scopes": sorted(identity.scopes)} if identity.scopes is not None else {}),
            },
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def issue_robot(self, robot_name: str, lifetime_s: int) -> str:
        """A short-lived password for a robot, handed out for a trusted OIDC token (keyless login)."""
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": ROBOT_AUDIENCE,
            "sub": robot_name,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime_s,
            "jti": base64.urlsafe_b64encode(os.urandom(12)).decode(),
        }
        return jwt.encode(claims, self._key, algorithm="RS256", headers={"kid": self.key_id})

    def verify_robot(self, token: str) -> str | None:
        """The robot name a token from issue_robot was issued to, or None."""
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                audience=ROBOT_AUDIENCE,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iat", "aud", "iss", "sub"]},
            )
        except jwt.PyJWTError:
            return None
        return str(claims["sub"])

    def verify(self, token: str, audience: str) -> Grant:
        cached = self._verified.get(token)
        now = time.time()
        if cached is not None and cached[0] == audience and now < cached[1] + CLOCK_SKEW_S:
            return cached[2]
        try:
            claims = jwt.decode(
                token,
                self._public,
                algorithms=["RS256"],
                audience=audience,
                issuer=self.issuer,
                leeway=CLOCK_SKEW_S,
                options={"require": ["exp", "iat", "aud", "iss"]},
            )
        except jwt.PyJWTError as e:
            raise TokenError(str(e)) from None
        grant = _grant(claims)
        self._verified[token] = (audience, float(claims["exp"]), grant)
        if len(self._verified) > 4096:
            self._verified.popitem(last=False)
        return grant


def _grant(claims: dict[str, Any]) -> Grant:
    ctx = claims.get("context") or {}
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
    return Grant(identity, access)
