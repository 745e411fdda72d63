"""Verifying ID tokens of external OpenID Connect issuers (keyless robot federation).

The issuer named in the token is trusted only after the caller matched it against configuration
(a robot's federation list); its discovery document and JWKS are fetched through the outbound
guard and cached for a few minutes.

PyJWT (and through it cryptography, ~9 MiB) is imported on the first verification, not with this
module: most servers never see an OIDC token (docs/performance.md).
"""

from __future__ import annotations

import hmac
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from wharf.config import Settings
from wharf.integrations import outbound

if TYPE_CHECKING:
    import jwt

CACHE_S = 300
CLOCK_SKEW_S = 30
_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"]


class OIDCError(Exception):
    """The token is malformed, expired, not signed by its issuer, or the issuer cannot be reached."""


# Keyed by issuer and the outbound allow-list it was fetched under: a document fetched while an
# internal host was allowed must not answer a runtime whose guard would refuse that host.
_CacheKey = tuple[str, tuple[str, ...]]
_jwks_cache: dict[_CacheKey, tuple[float, jwt.PyJWKSet]] = {}


def _key(issuer: str, settings: Settings) -> _CacheKey:
    return issuer, tuple(settings.SSRF_ALLOWED_HOSTS)


def unverified_issuer(token: str) -> str | None:
    """The `iss` claim, read without verification (to pick the issuer to verify against)."""
    import jwt

    try:
        claims = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


_discovery_cache: dict[_CacheKey, tuple[float, dict[str, Any]]] = {}


async def discovery(issuer: str, settings: Settings, refresh: bool = False) -> dict[str, Any]:
    """The issuer's discovery document (its endpoints), once it names the issuer itself; cached."""
    cached = _discovery_cache.get(_key(issuer, settings))
    if cached is not None and not refresh and cached[0] > time.monotonic():
        return cached[1]
    try:
        document = await outbound.get_json(issuer.rstrip("/") + "/.well-known/openid-configuration", settings)
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise OIDCError(str(e)) from None
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise OIDCError(f"the discovery document of {issuer} names another issuer")
    _discovery_cache[_key(issuer, settings)] = (time.monotonic() + CACHE_S, document)
    return document


async def _keys(issuer: str, settings: Settings, refresh: bool = False) -> jwt.PyJWKSet:
    import jwt

    cached = _jwks_cache.get(_key(issuer, settings))
    if cached is not None and not refresh and cached[0] > time.monotonic():
        return cached[1]
    try:
        document = await discovery(issuer, settings, refresh)
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str):
            raise OIDCError(f"the discovery document of {issuer} has no jwks_uri")
        keys = jwt.PyJWKSet.from_dict(await outbound.get_json(jwks_uri, settings))
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise OIDCError(str(e)) from None
    except jwt.PyJWTError as e:
        raise OIDCError(f"the JWKS of {issuer} is unusable: {e}") from None
    _jwks_cache[_key(issuer, settings)] = (time.monotonic() + CACHE_S, keys)
    return keys


async def verify(
    token: str, issuer: str, settings: Settings, *, audience: str | None = None, nonce: str | None = None
) -> dict[str, Any]:
    """The token's claims, once its signature, issuer and lifetime check out, and, when given, its
    audience (`aud` names this client) and `nonce` (the one the login sent: a token minted for
    another login cannot be slipped in)."""
    import jwt

    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError as e:
        raise OIDCError(f"not a JWT: {e}") from None
    kid = header.get("kid")
    keys = await _keys(issuer, settings)
    key = _find(keys, kid)
    if key is None:  # the issuer may have rotated its keys since we cached them
        key = _find(await _keys(issuer, settings, refresh=True), kid)
    if key is None:
        raise OIDCError(f"{issuer} has no signing key {kid!r}")
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=_ALGORITHMS,
            issuer=issuer,
            leeway=CLOCK_SKEW_S,
            audience=audience,
            options={"require": ["exp", "iss", "sub"], "verify_aud": audience is not None},
        )
    except jwt.PyJWTError as e:
        raise OIDCError(f"the token does not verify: {e}") from None
    if nonce is not None and not hmac.compare_digest(str(claims.get("nonce", "")).encode(), nonce.encode()):
        raise OIDCError("the token's nonce is not the one this login sent")
    return claims


def _find(keys: jwt.PyJWKSet, kid: Any) -> jwt.PyJWK | None:
    for key in keys.keys:
        if kid is None or key.key_id == kid:
            return key
    return None


@dataclass(frozen=True, slots=True)
class Verifier:
    """`verify` with this installation's outbound settings: what auth checks a robot's OIDC login
    with (auth/context.py's OidcVerifier; the runtime holds one)."""

    settings: Settings

    def unverified_issuer(self, token: str) -> str | None:
        return unverified_issuer(token)

    async def claims(self, token: str, issuer: str) -> dict[str, Any] | None:
        try:
            return await verify(token, issuer, self.settings)
        except OIDCError:
            return None
