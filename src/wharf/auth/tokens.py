"""Registry bearer tokens (the Docker Registry v2 token spec): JWTs signed with a key that lives in
the data directory, so tokens survive restarts and every process of a node agrees.

The key decides the algorithm: an EC P-256 key (what a new installation creates) signs ES256, an
RSA key (what installations made before December 2026 have) RS256. Clients treat the token as
opaque; signing ES256 costs ~60 µs against ~1 ms for RSA-2048, which is most of a token request.

cryptography and PyJWT (~11 MiB, most of it cryptography's Rust extension with its own OpenSSL) are
imported when the key is first needed, not with this module. The server's runtime asks for that
(`key_on_first_use`), so an idle server does not hold them; `wharf serve` makes and checks the key
in its start-up child instead (cli._prepare). See docs/performance.md."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from wharf.auth.identity import Identity
from wharf.core import repositories, revocation
from wharf.core.errors import TokenRevoked
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey

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
    build: dict[str, Any] | None = None
    """A build's token: the build (and trigger) it pushes for, as its usage log entries name them."""

    def allows(self, kind: str, name: str, action: str) -> bool:
        granted = self.access.get((kind, name), frozenset())
        return action in granted or "*" in granted  # "*" is every action


def _algorithm(key: object, path: Path) -> str:
    """The JWS algorithm a key signs with: ES256 for EC P-256, RS256 for RSA."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return "ES256"
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    raise TokenError(f"{path} holds neither an EC P-256 key nor an RSA key")


def _missing(path: Path) -> TokenError:
    return TokenError(
        f"the registry signing key {path} does not exist: create it once "
        "(openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out FILE) and "
        "give every node the same file"
    )


def _load_or_create_key(path: Path, create: bool) -> SigningKey:
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if path.exists():
        try:
            key = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as e:  # not PEM, encrypted, unknown
            raise TokenError(f"{path} is not a private key in PEM without a password: {e}") from None
        _algorithm(key, path)
        assert isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey)
        return key
    if not create:
        raise _missing(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    # Unique per process and per thread: two threads of one process may both find no key.
    tmp = path.with_suffix(f".{os.getpid()}.{threading.get_ident()}.tmp")
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
    return _load_or_create_key(path, create)


def _b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def _key_id(key: SigningKey) -> str:
    from cryptography.hazmat.primitives import serialization

    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    raw = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(raw[i : i + 4] for i in range(0, 48, 4))


@dataclass(frozen=True, slots=True)
class _Key:
    """The signing key, loaded, with what signing and verifying need of it."""

    public: Any
    """The public key, for PyJWT's verification."""
    algorithm: str
    key_id: str
    header: bytes
    """The JWS header of every token signed with the key, base64url-encoded."""
    sign: Callable[[bytes], bytes]
    """The JWS signature of a signing input."""


def _load(path: Path, create: bool) -> _Key:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    key = _load_or_create_key(path, create)
    algorithm = _algorithm(key, path)
    sign: Callable[[bytes], bytes]
    if isinstance(key, ec.EllipticCurvePrivateKey):
        ec_key, ecdsa = key, ec.ECDSA(hashes.SHA256())

        def sign(data: bytes) -> bytes:
            r, s = decode_dss_signature(ec_key.sign(data, ecdsa))
            return r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWA 3.4: R || S, 32 bytes each

    else:
        rsa_key, pkcs1, sha256 = key, padding.PKCS1v15(), hashes.SHA256()

        def sign(data: bytes) -> bytes:
            return rsa_key.sign(data, pkcs1, sha256)

    key_id = _key_id(key)
    header = _b64(json.dumps({"alg": algorithm, "kid": key_id, "typ": "JWT"}, separators=(",", ":")).encode())
    return _Key(key.public_key(), algorithm, key_id, header, sign)


@dataclass(frozen=True, slots=True)
class RobotPassword:
    """What a federation robot token was issued to."""

    name: str
    account_id: int
    generation: int


class TokenService:
    def __init__(
        self,
        key_path: Path,
        issuer: str,
        lifetime_s: int,
        audience: str,
        *,
        create: bool = True,
        key_on_first_use: bool = False,
    ) -> None:
        """`audience`: the fixed `aud` of registry tokens (SERVER_HOSTNAME), never a request's Host.
        `create`: make the key when `key_path` is missing. A configured, shared key is never
        made up by one node: the others would not accept its tokens.
        `key_on_first_use`: read (or make) the key, and import cryptography, when the first token is
        signed or verified rather than now."""
        if not create and not key_path.is_file():
            raise _missing(key_path)
        if audience == ROBOT_AUDIENCE:
            raise TokenError(f"the registry audience cannot be {ROBOT_AUDIENCE!r}")
        self._key_path = key_path
        self._create = create
        self._loaded: _Key | None = None
        self._loading = threading.Lock()
        self._jwt_imported = False
        self.issuer = issuer
        self.audience = audience
        self.lifetime_s = lifetime_s
        self._verified: OrderedDict[str, tuple[float, Grant]] = OrderedDict()
        if not key_on_first_use:
            self._key()

    def _key(self) -> _Key:
        """The key, loaded on first use, once per process (the first requests arrive together, on
        several threads); two processes making it agree on one, see _load_or_create_key."""
        if self._loaded is None:
            with self._loading:
                if self._loaded is None:
                    self._loaded = _load(self._key_path, self._create)
        return self._loaded

    async def ready(self) -> None:
        """Load the key and import PyJWT now, in a thread, unless done: what the first token
        request awaits, so that those imports (tens of ms) do not hold the event loop."""
        if self._loaded is None or not self._jwt_imported:
            await asyncio.to_thread(self._load_all)

    def _load_all(self) -> None:
        import jwt  # noqa: F401  (what verify uses; imported here, off the event loop)

        self._key()
        self._jwt_imported = True

    @property
    def algorithm(self) -> str:
        return self._key().algorithm

    @property
    def key_id(self) -> str:
        return self._key().key_id

    def _sign(self, claims: dict[str, Any]) -> str:
        """The compact JWS of `claims` (RFC 7515), as PyJWT writes it: half of PyJWT's encode was
        its own bookkeeping, around the one signature it makes. Verifying stays PyJWT's."""
        key = self._key()
        signing_input = key.header + b"." + _b64(json.dumps(claims, separators=(",", ":")).encode())
        return (signing_input + b"." + _b64(key.sign(signing_input))).decode()

    def _decode(self, token: str, audience: str, purpose: str) -> dict[str, Any]:
        import jwt

        key = self._key()
        claims = jwt.decode(
            token,
            key.public,
            algorithms=[key.algorithm],
            audience=audience,
            issuer=self.issuer,
            leeway=CLOCK_SKEW_S,
            options={"require": ["exp", "iat", "aud", "iss", "sub", "purpose"]},
        )
        if claims.get("purpose") != purpose:
            raise jwt.InvalidTokenError(f"not a {purpose} token")
        return claims

    def issue(
        self,
        identity: Identity,
        access: list[dict[str, Any]],
        public_only: Collection[str] = (),
        build: Mapping[str, Any] | None = None,
    ) -> str:
        """A registry token: `access` for `identity`, bound to its credential generation.
        `public_only`: names of the repositories it may pull from only while they are public;
        `build`: the build it is for (what its usage log entries say)."""
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
                **({"build": dict(build)} if build else {}),
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
        import jwt

        try:
            return jwt.get_unverified_header(token).get("kid") == self.key_id
        except jwt.PyJWTError:
            return False

    def verify_robot(self, token: str) -> RobotPassword | None:
        """The robot a token from issue_robot was issued to, or None for anything else."""
        import jwt

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
        import jwt

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
    repo, current, _ = _current(db, grant, namespace, name)
    return repo, current


def _current(
    db: Db, grant: Grant | None, namespace: str, name: str
) -> tuple[RepositoryRecord | None, bool, repositories.NamespaceKey | None]:
    account_id = grant.identity.account_id if grant is not None else None
    if grant is None or account_id is None:
        return repositories.get(db, namespace, name), True, None
    repo, generation, ns = repositories.get_as(db, namespace, name, account_id)
    return repo, generation == grant.generation, ns


def require_generation(grant: Grant, generation: int | None) -> None:
    """Raise TokenRevoked unless `generation` (the account's, read by the request's transaction,
    None when it is gone or disabled) is the one the token carries."""
    if generation != grant.generation:
        raise TokenRevoked()


def repository_or_namespace(
    db: Db, grant: Grant | None, namespace: str, name: str
) -> tuple[RepositoryRecord | None, repositories.NamespaceKey | None]:
    """`repository_for`, and when the repository does not exist the namespace a first push
    creates it in, as far as the same lookup read it (None: `repositories.create_in` reads it)."""
    repo, current, ns = _current(db, grant, namespace, name)
    if not current:
        raise TokenRevoked()
    return repo, ns


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
    build = ctx.get("build")
    return Grant(
        identity,
        access,
        gen if isinstance(gen, int) else None,
        frozenset(map(str, public_only)) if isinstance(public_only, list) else frozenset(),
        dict(build) if isinstance(build, dict) else None,
    )
