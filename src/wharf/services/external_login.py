"""Signing in with an OpenID Connect provider or GitHub, and linking one to an account (issue 19).

`begin` remembers the login (state, nonce, PKCE verifier, the browser that started it) and gives
the provider's authorization URL; the provider sends the browser back to /oauth2/{id}/callback,
where `complete` takes the remembered login (once), trades the code for an ID token and verifies
it (GitHub: for an access token, then asks its API; integrations/github_login.py), and signs in
to the linked account (made on the first login, as Quay does) or links the provider to the
account that started an `attach`. The surfaces open the web session and redirect.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from wharf.auth import browser
from wharf.core import accounts, audit, external_login_states, federated_logins
from wharf.core.errors import NotAllowed
from wharf.core.external_login_states import ATTACH, LOGIN, PendingLogin
from wharf.core.federated_logins import ExternalUser
from wharf.db.engine import Db
from wharf.integrations import github_login, oidc_login
from wharf.integrations.github_login import GitHubLoginError
from wharf.integrations.oidc import OIDCError
from wharf.integrations.oidc_login import LoginService
from wharf.runtime import Runtime

BROWSER_COOKIE = browser.EXTERNAL_LOGIN_COOKIE


class ExternalLoginFailed(Exception):
    """The login cannot go on; the message says why, in words for the person signing in."""


@dataclass(frozen=True, slots=True)
class Begun:
    auth_url: str
    browser: str
    """The value of BROWSER_COOKIE the surface sets (the one the browser had, or a new one)."""


@dataclass(frozen=True, slots=True)
class Completed:
    account_id: int
    intent: str
    redirect: str


def providers(rt: Runtime) -> list[LoginService]:
    """The configured providers, in configuration order (the sign-in page's buttons)."""
    return list(rt.login_services.values())


def provider(rt: Runtime, service_id: str) -> LoginService | None:
    return rt.login_services.get(service_id)


def callback_url(rt: Runtime, service: LoginService) -> str:
    """The redirect URI to register at the provider (Quay's path)."""
    return f"{rt.settings.public_origin}/oauth2/{service.id}/callback"


async def begin(
    rt: Runtime,
    service_id: str,
    *,
    intent: str,
    account_id: int | None,
    redirect: str,
    browser: str | None,
) -> Begun:
    """Start a login (`account_id` None) or the attaching of the provider to a signed-in account."""
    service = provider(rt, service_id)
    if service is None:
        raise ExternalLoginFailed(f"there is no login provider {service_id!r}")
    if intent not in external_login_states.INTENTS or (intent == ATTACH) != (account_id is not None):
        raise ExternalLoginFailed("attaching a provider needs a signed-in account; signing in needs none")
    browser = browser if browser and len(browser) == 43 else secrets.token_urlsafe(32)
    state, nonce, verifier = secrets.token_urlsafe(32), secrets.token_urlsafe(32), secrets.token_urlsafe(64)
    pending = PendingLogin(service.id, intent, account_id, nonce, verifier, redirect)
    try:
        if service.kind == oidc_login.GITHUB:
            url = github_login.authorization_url(service, redirect_uri=callback_url(rt, service), state=state)
        else:
            url = await oidc_login.authorization_url(
                service,
                rt.settings,
                redirect_uri=callback_url(rt, service),
                state=state,
                nonce=nonce,
                verifier=verifier,
            )
    except OIDCError as e:
        raise ExternalLoginFailed(f"{service.name} cannot be reached: {e}") from None
    await rt.db.write_despite_read_only(external_login_states.start, state, browser, pending)
    return Begun(url, browser)


async def complete(
    rt: Runtime, service_id: str, *, code: str, state: str, browser: str | None, ip: str | None
) -> Completed:
    """Finish the login the provider sent the browser back from."""
    service = provider(rt, service_id)
    if service is None:
        raise ExternalLoginFailed(f"there is no login provider {service_id!r}")
    pending = await rt.db.write_despite_read_only(
        external_login_states.take, state, browser or "", service.id
    )
    if pending is None:
        raise ExternalLoginFailed(
            f"this sign-in with {service.name} has expired or was not started in this browser: start again"
        )
    user = await _who(rt, service, code, pending)
    if pending.intent == LOGIN:
        account = await _sign_in(rt, service, user, ip)
        return Completed(account, LOGIN, pending.redirect)
    assert pending.account_id is not None
    await _attach(rt, service, user.ident, pending.account_id, ip)
    return Completed(pending.account_id, ATTACH, pending.redirect)


async def _who(rt: Runtime, service: LoginService, code: str, pending: PendingLogin) -> ExternalUser:
    """Who the provider says signed in, for the code it sent back."""
    redirect_uri = callback_url(rt, service)
    if service.kind == oidc_login.GITHUB:
        try:
            found = await github_login.user(service, rt.settings, code=code, redirect_uri=redirect_uri)
        except GitHubLoginError as e:
            raise ExternalLoginFailed(f"{service.name} did not sign you in: {e}") from None
        # The numeric id is the link's key: a GitHub login can be renamed, and taken by someone else.
        return ExternalUser(ident=found.id, email=found.email, superuser=None, name=found.login)
    try:
        claims = await oidc_login.exchange_code(
            service,
            rt.settings,
            code=code,
            redirect_uri=redirect_uri,
            verifier=pending.verifier,
            nonce=pending.nonce,
        )
    except OIDCError as e:
        raise ExternalLoginFailed(f"{service.name} did not confirm who you are: {e}") from None
    return _external_user(service, claims)


async def abandon(rt: Runtime, service_id: str, *, state: str, browser: str | None) -> None:
    """The provider refused the login: its state is used up all the same."""
    await rt.db.write_despite_read_only(external_login_states.take, state, browser or "", service_id)


def _external_user(service: LoginService, claims: dict[str, Any]) -> ExternalUser:
    name = claims.get(service.username_claim)
    email = claims.get(service.email_claim)
    if service.verified_claim is not None and claims.get(service.verified_claim) is not True:
        email = None  # an address the provider has not verified could be anyone's
    if not isinstance(name, str) or not name:
        # Google has no user names: the address's local part is the next best for a new account
        name = email.split("@")[0] if isinstance(email, str) else None
    return ExternalUser(
        ident=str(claims["sub"]),
        email=email if isinstance(email, str) and "@" in email else None,
        superuser=None,
        name=name if isinstance(name, str) and name else None,
    )


async def _sign_in(rt: Runtime, service: LoginService, user: ExternalUser, ip: str | None) -> int:
    def apply(db: Db) -> int:
        account = federated_logins.sign_in(
            db, service.id, user, may_create=rt.settings.FEATURE_USER_CREATION, actor_ip=ip
        )
        if not account.enabled:
            raise ExternalLoginFailed("this account is disabled: ask an administrator")
        actor = audit.Actor(account.id, account.name, ip)
        audit.record(db, "login_success", actor, namespace_id=account.id, credential=service.id)
        return account.id

    try:
        return await rt.db.write(apply)
    except federated_logins.UserCreationDisabled:
        raise ExternalLoginFailed(
            f"you have no account here yet, and user creation is disabled: ask an administrator "
            f"to create one, then sign in with {service.name} again"
        ) from None


async def _attach(rt: Runtime, service: LoginService, ident: str, account_id: int, ip: str | None) -> None:
    def apply(db: Db) -> None:
        account = accounts.get_by_id(db, account_id)
        if account is None:
            raise ExternalLoginFailed("the account this provider was to be linked to is gone")
        federated_logins.attach(db, service.id, ident, account_id)
        actor = audit.Actor(account.id, account.name, ip)
        audit.record(db, "user_attach_external_login", actor, namespace_id=account.id, service=service.id)

    try:
        await rt.db.write(apply)
    except federated_logins.AlreadyLinked as e:
        raise ExternalLoginFailed(f"{service.name}: {e}") from None


@dataclass(frozen=True, slots=True)
class LinkedLogin:
    service_id: str
    service_name: str
    ident: str


async def idents(rt: Runtime, account_id: int) -> dict[str, str]:
    """{service: the account's identity there} of every link, LDAP's too."""
    return await rt.db.read(federated_logins.idents_of, account_id)


async def linked(rt: Runtime, account_id: int) -> list[LinkedLogin]:
    """The providers the account is linked to (the account page lists them)."""
    idents = await rt.db.read(federated_logins.idents_of, account_id)
    configured = rt.login_services
    return [
        LinkedLogin(service, configured[service].name if service in configured else service, ident)
        for service, ident in sorted(idents.items())
        if service != federated_logins.LDAP
    ]


class LastWayIn(NotAllowed):
    """Detaching would leave the account without any way to sign in."""


async def detach(rt: Runtime, account_id: int, service_id: str, actor: audit.Actor) -> bool:
    """Remove the account's link to the provider; False when there was none. An account without a
    password keeps its last link: without it nobody could sign in to it again."""

    def apply(db: Db) -> bool:
        links = federated_logins.idents_of(db, account_id)
        if service_id not in links or service_id == federated_logins.LDAP:
            return False
        if len(links) == 1 and not accounts.has_password_set(db, account_id):
            raise LastWayIn(
                f"{service_id} is this account's only way to sign in: attach another provider "
                "before you detach this one"
            )
        federated_logins.detach(db, service_id, account_id)
        audit.record(db, "user_detach_external_login", actor, namespace_id=account_id, service=service_id)
        return True

    return await rt.db.write(apply)


async def name_to_confirm(rt: Runtime, account_id: int) -> bool:
    """Whether the user is to confirm or change the name Wharf chose for their new account
    (FEATURE_USERNAME_CONFIRMATION; Quay's confirm_username prompt)."""
    if not rt.settings.FEATURE_USERNAME_CONFIRMATION:
        return False
    return await rt.db.read(federated_logins.name_unconfirmed, account_id)


async def confirm_username(
    rt: Runtime, account_id: int, name: str | None, actor: audit.Actor
) -> accounts.AccountRecord:
    """Keep (`name` None or the same) or change the name of a new external account, once."""
    return await rt.db.write(federated_logins.confirm_username, account_id, name, actor)
