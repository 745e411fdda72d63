"""Users signing in with an OpenID Connect provider (Keycloak, Entra ID, Dex...), configured as in
Quay: every top-level key ending in `_LOGIN_CONFIG` is a provider, whose id is the key's prefix in
lower case (`KEYCLOAK_LOGIN_CONFIG` is `keycloak`, called back at /oauth2/keycloak/callback).

This module speaks to the provider: the authorization URL (code flow with PKCE S256, state and
nonce), the token endpoint (with the client secret, through the outbound guard) and the ID token's
verification (integrations/oidc.py, which also checks its audience and nonce). What a login means
for accounts is services/external_login.py's business.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit

from wharf.config import Settings
from wharf.integrations import oidc, outbound
from wharf.integrations.oidc import OIDCError

SUFFIX = "_LOGIN_CONFIG"
RESERVED = frozenset({"ldap", "jwt", "keystone", "database", "apptoken", "oidc"})
"""Ids that name other ways of signing in: a provider cannot take them (Quay refuses the first three)."""
_ID = re.compile(r"^[a-z0-9][a-z0-9_]{0,31}$")


class LoginConfigError(ValueError):
    """A `*_LOGIN_CONFIG` block is unusable: the message names the key and what is wrong."""


@dataclass(frozen=True, slots=True)
class LoginService:
    id: str
    """The lowercased prefix of the config key: in URLs and as federated_logins.service."""
    name: str
    """SERVICE_NAME: what the sign-in button says ("Sign in with Keycloak")."""
    issuer: str
    """OIDC_SERVER, without a trailing slash: the `iss` the provider's tokens carry."""
    client_id: str
    client_secret: str
    scopes: tuple[str, ...]
    username_claim: str
    """PREFERRED_USERNAME_CLAIM_NAME: the claim a new account's name comes from."""
    email_claim: str
    """VERIFIED_EMAIL_CLAIM_NAME: the claim the account's e-mail comes from."""
    verified_claim: str | None
    """A boolean claim (`email_verified`) that must not be false for the e-mail to be taken."""
    group_claim: str | None
    """PREFERRED_GROUP_CLAIM_NAME: read for team sync; not used by sign-in itself."""
    extra_params: dict[str, str]
    """OIDC_ENDPOINT_CUSTOM_PARAMS["authorization_endpoint"]: added to the authorization URL."""
    debugging: bool
    """DEBUGGING (Quay): lets the provider be reached over plain http (tests, a lab)."""
    kind: str = "oidc"
    """OIDC, or GITHUB: GitHub's OAuth 2 login, which is not OpenID Connect (integrations/github_login.py)."""
    api: str = ""
    """GitHub's API_ENDPOINT, with a trailing slash (the user, e-mails and organizations come from it)."""
    allowed_orgs: frozenset[str] | None = None
    """GitHub's ALLOWED_ORGANIZATIONS in lower case when ORG_RESTRICT is on; None: anyone may sign in."""


def _block(key: str, raw: object) -> LoginService:
    service_id = key[: -len(SUFFIX)].lower()
    if service_id in RESERVED or not _ID.match(service_id):
        raise LoginConfigError(f"{key}: {service_id!r} cannot name a login provider")
    if not isinstance(raw, dict):
        raise LoginConfigError(f"{key} must be a mapping of OIDC_SERVER, CLIENT_ID, CLIENT_SECRET...")
    missing = [k for k in ("OIDC_SERVER", "CLIENT_ID", "CLIENT_SECRET") if not raw.get(k)]
    if missing:
        raise LoginConfigError(f"{key} needs {', '.join(missing)}")
    issuer = str(raw["OIDC_SERVER"]).rstrip("/")
    debugging = bool(raw.get("DEBUGGING", False))
    scheme = urlsplit(issuer).scheme
    if scheme != "https" and not (scheme == "http" and debugging):
        raise LoginConfigError(f"{key}: OIDC_SERVER must be an https:// URL (http only with DEBUGGING: true)")
    scopes = raw.get("LOGIN_SCOPES") or ["openid"]
    if isinstance(scopes, str):
        scopes = scopes.split()
    scopes = tuple(str(s) for s in scopes)
    if "openid" not in scopes:
        scopes = ("openid", *scopes)
    custom = raw.get("OIDC_ENDPOINT_CUSTOM_PARAMS") or {}
    extra = custom.get("authorization_endpoint", {}) if isinstance(custom, dict) else {}
    return LoginService(
        id=service_id,
        name=str(raw.get("SERVICE_NAME") or service_id.capitalize()),
        issuer=issuer,
        client_id=str(raw["CLIENT_ID"]),
        client_secret=str(raw["CLIENT_SECRET"]),
        scopes=scopes,
        username_claim=str(raw.get("PREFERRED_USERNAME_CLAIM_NAME") or "preferred_username"),
        email_claim=str(raw.get("VERIFIED_EMAIL_CLAIM_NAME") or "email"),
        verified_claim=None if raw.get("VERIFIED_EMAIL_CLAIM_NAME") else "email_verified",
        group_claim=str(raw["PREFERRED_GROUP_CLAIM_NAME"]) if raw.get("PREFERRED_GROUP_CLAIM_NAME") else None,
        extra_params={str(k): str(v) for k, v in extra.items()} if isinstance(extra, dict) else {},
        debugging=debugging,
    )


GOOGLE = "https://accounts.google.com"
OIDC = "oidc"
GITHUB = "github"


def github_service(raw: object, key: str = "GITHUB_LOGIN_CONFIG") -> LoginService:
    """Quay's GITHUB_LOGIN_CONFIG: GITHUB_ENDPOINT (github.com, or a GitHub Enterprise server),
    API_ENDPOINT (its /api/v3/ unless given), CLIENT_ID, CLIENT_SECRET, ORG_RESTRICT and
    ALLOWED_ORGANIZATIONS. The provider's id is `github`, as in Quay. GITHUB_TRIGGER_CONFIG (`key`)
    has the same shape, for build triggers."""
    if not isinstance(raw, dict):
        raise LoginConfigError(f"{key} must be a mapping of CLIENT_ID, CLIENT_SECRET...")
    missing = [k for k in ("CLIENT_ID", "CLIENT_SECRET") if not raw.get(k)]
    if missing:
        raise LoginConfigError(f"{key} needs {', '.join(missing)}")
    endpoint = str(raw.get("GITHUB_ENDPOINT") or "https://github.com").rstrip("/")
    # github.com's API has its own host; an Enterprise server's is under /api/v3/ (Quay's default)
    default_api = "https://api.github.com" if endpoint == "https://github.com" else endpoint + "/api/v3"
    api = str(raw.get("API_ENDPOINT") or default_api).rstrip("/") + "/"
    debugging = bool(raw.get("DEBUGGING", False))
    for name, url in (("GITHUB_ENDPOINT", endpoint), ("API_ENDPOINT", api)):
        scheme = urlsplit(url).scheme
        if scheme != "https" and not (scheme == "http" and debugging):
            raise LoginConfigError(f"{key}: {name} must be an https:// URL (http only with DEBUGGING: true)")
    allowed = raw.get("ALLOWED_ORGANIZATIONS")
    restrict = bool(raw.get("ORG_RESTRICT")) and allowed is not None
    if restrict and (not isinstance(allowed, list) or not all(isinstance(o, str) for o in allowed)):
        raise LoginConfigError(f"{key}: ALLOWED_ORGANIZATIONS must be a list of names")
    orgs = frozenset(str(o).lower() for o in allowed) if restrict and isinstance(allowed, list) else None
    enterprise = ".github.com" not in api  # as github_login.is_enterprise
    return LoginService(
        id=GITHUB,
        name=str(raw.get("SERVICE_NAME") or ("GitHub Enterprise" if enterprise else "GitHub")),
        issuer=endpoint,
        client_id=str(raw["CLIENT_ID"]),
        client_secret=str(raw["CLIENT_SECRET"]),
        scopes=("user:email", "read:org") if raw.get("ORG_RESTRICT") else ("user:email",),
        username_claim="login",
        email_claim="email",
        verified_claim=None,
        group_claim=None,
        extra_params={},
        debugging=debugging,
        kind=GITHUB,
        api=api,
        allowed_orgs=orgs,
    )


def services(settings: Settings) -> dict[str, LoginService]:
    """The configured providers by id, in the order of the configuration. Google's block (Quay's
    GOOGLE_LOGIN_CONFIG: CLIENT_ID and CLIENT_SECRET, on with FEATURE_GOOGLE_LOGIN) is Google's
    OpenID Connect issuer; GitHub's (GITHUB_LOGIN_CONFIG, on with FEATURE_GITHUB_LOGIN) is OAuth 2
    with GitHub's API (integrations/github_login.py)."""
    extra = settings.model_extra or {}
    found: dict[str, LoginService] = {}
    for key, raw in extra.items():
        if not key.endswith(SUFFIX):
            continue
        if key == "GITHUB_LOGIN_CONFIG":
            if extra.get("FEATURE_GITHUB_LOGIN"):
                found[GITHUB] = github_service(raw)
            continue
        if key == "GOOGLE_LOGIN_CONFIG":
            if not extra.get("FEATURE_GOOGLE_LOGIN") or not isinstance(raw, dict):
                continue
            raw = {
                "OIDC_SERVER": GOOGLE,
                "SERVICE_NAME": "Google",
                "LOGIN_SCOPES": ["email", "profile"],
                **raw,
            }
        service = _block(key, raw)
        found[service.id] = service
    return found


def pkce_challenge(verifier: str) -> str:
    """S256 (RFC 7636): base64url of the verifier's SHA-256, without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


async def _endpoint(service: LoginService, settings: Settings, name: str) -> str:
    document = await oidc.discovery(service.issuer, settings)
    url = document.get(name)
    if not isinstance(url, str):
        raise OIDCError(f"the discovery document of {service.issuer} has no {name}")
    return url


async def authorization_url(
    service: LoginService, settings: Settings, *, redirect_uri: str, state: str, nonce: str, verifier: str
) -> str:
    """Where the browser goes to sign in at the provider."""
    endpoint = await _endpoint(service, settings, "authorization_endpoint")
    params = {
        **service.extra_params,
        "response_type": "code",
        "client_id": service.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(service.scopes),
        "state": state,
        "nonce": nonce,
        "code_challenge": pkce_challenge(verifier),
        "code_challenge_method": "S256",
    }
    return endpoint + ("&" if "?" in endpoint else "?") + urlencode(params)


async def exchange_code(
    service: LoginService, settings: Settings, *, code: str, redirect_uri: str, verifier: str, nonce: str
) -> dict[str, Any]:
    """The verified claims of the ID token the provider gives for `code`: signed by the provider,
    issued by it, for this client, and carrying this login's nonce."""
    endpoint = await _endpoint(service, settings, "token_endpoint")
    form = urlencode(
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": verifier,
            "client_id": service.client_id,
            "client_secret": service.client_secret,
        }
    ).encode()
    try:
        answer = await outbound.post(
            endpoint,
            settings,
            form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise OIDCError(str(e)) from None
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    if answer.status != 200 or not isinstance(body, dict):
        detail = body.get("error") if isinstance(body, dict) else None
        raise OIDCError(
            f"the token endpoint of {service.issuer} refused the code ({detail or answer.status})"
        )
    id_token = body.get("id_token")
    if not isinstance(id_token, str):
        raise OIDCError(f"the token endpoint of {service.issuer} gave no ID token")
    claims = await oidc.verify(id_token, service.issuer, settings, audience=service.client_id, nonce=nonce)
    # A token for several audiences names the one it was issued to (OpenID Connect Core 3.1.3.7).
    audiences = claims.get("aud")
    if isinstance(audiences, list) and len(audiences) > 1 and claims.get("azp") != service.client_id:
        raise OIDCError("the token has several audiences and was not issued to this client (azp)")
    return claims
