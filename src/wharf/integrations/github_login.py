"""Users signing in with GitHub or a GitHub Enterprise server (Quay's GITHUB_LOGIN_CONFIG).

GitHub's login is OAuth 2, not OpenID Connect: there is no ID token to verify. The browser is sent
to GITHUB_ENDPOINT/login/oauth/authorize; the code it brings back is traded, with the client
secret, for an access token at /login/oauth/access_token; who the user is comes from the API with
that token: /user (the stable numeric id, the link's key, and the login, a new account's name),
/user/emails (the account's e-mail) and, when ORG_RESTRICT is on, /user/orgs (membership of one of
ALLOWED_ORGANIZATIONS is required). Every call goes through the outbound guard.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from wharf.config import Settings
from wharf.integrations import outbound
from wharf.integrations.oidc_login import LoginService


class GitHubLoginError(Exception):
    """GitHub did not confirm who the user is, or the user may not sign in: the message says why."""


@dataclass(frozen=True, slots=True)
class GitHubUser:
    id: str
    login: str
    email: str | None


def authorization_url(service: LoginService, *, redirect_uri: str, state: str) -> str:
    params = {
        "client_id": service.client_id,
        "redirect_uri": redirect_uri,
        "scope": " ".join(service.scopes),
        "state": state,
        "allow_signup": "false",
    }
    return f"{service.issuer}/login/oauth/authorize?{urlencode(params)}"


def api_headers(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/vnd.github+json"}


async def access_token(service: LoginService, settings: Settings, code: str, redirect_uri: str) -> str:
    form = urlencode(
        {
            "client_id": service.client_id,
            "client_secret": service.client_secret,
            "code": code,
            "redirect_uri": redirect_uri,
        }
    ).encode()
    try:
        answer = await outbound.post(
            f"{service.issuer}/login/oauth/access_token",
            settings,
            form,
            headers={"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"},
        )
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise GitHubLoginError(str(e)) from None
    try:
        body = json.loads(answer.body)
    except ValueError:
        body = None
    # GitHub answers a bad code with 200 and an `error` field.
    token = body.get("access_token") if isinstance(body, dict) else None
    if answer.status != 200 or not isinstance(token, str) or not token:
        detail = body.get("error") if isinstance(body, dict) else None
        raise GitHubLoginError(f"{service.name} refused the code ({detail or answer.status})")
    return token


async def _api(service: LoginService, settings: Settings, token: str, path: str) -> Any:
    try:
        return await outbound.get_json(
            service.api + path,
            settings,
            headers=api_headers(token),
        )
    except (outbound.OutboundRefused, outbound.OutboundFailed) as e:
        raise GitHubLoginError(str(e)) from None


def is_enterprise(service: LoginService) -> bool:
    """A GitHub Enterprise server, told from github.com by its API's host name as Quay does."""
    return ".github.com" not in service.api


def chosen_email(service: LoginService, emails: object) -> str | None:
    """The primary address if verified, else any verified one. A GitHub Enterprise server may not
    verify addresses at all: there, as in Quay, its primary address is taken when none is."""
    if not isinstance(emails, list):
        return None
    entries = [e for e in emails if isinstance(e, dict) and isinstance(e.get("email"), str)]
    verified = [e for e in entries if e.get("verified") is True]
    ranked = sorted(verified, key=lambda e: e.get("primary") is not True)
    if not ranked and is_enterprise(service):
        ranked = [e for e in entries if e.get("primary") is True]
    return str(ranked[0]["email"]) if ranked else None


async def user(service: LoginService, settings: Settings, *, code: str, redirect_uri: str) -> GitHubUser:
    """Who signed in at GitHub with `code`, once they pass ORG_RESTRICT."""
    token = await access_token(service, settings, code, redirect_uri)
    me = await _api(service, settings, token, "user")
    if not isinstance(me, dict) or not isinstance(me.get("id"), int) or not isinstance(me.get("login"), str):
        raise GitHubLoginError(f"{service.name} did not say who you are")
    if service.allowed_orgs is not None:
        orgs = await _api(service, settings, token, "user/orgs")
        names = (
            {str(o.get("login", "")).lower() for o in orgs if isinstance(o, dict)}
            if isinstance(orgs, list)
            else set()
        )
        if not names & service.allowed_orgs:
            raise GitHubLoginError(
                f"you are not a member of an allowed {service.name} organization: ask an administrator "
                "if you believe this is wrong"
            )
    email = chosen_email(service, await _api(service, settings, token, "user/emails"))
    return GitHubUser(str(me["id"]), str(me["login"]), email)
