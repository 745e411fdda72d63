"""OAuth applications of organizations, and the authorization codes of the code grant."""

from __future__ import annotations

import hmac
import re
import secrets
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, unquote, urlsplit

from sqlalchemy import bindparam, delete, insert, select, update

from wharf.core import _secrets, accounts, audit, revocation, scopes, tokens
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Db
from wharf.db.models import AccessToken, OAuthApplication, OAuthCode

CODE_LIFETIME_MS = 10 * 60 * 1000
# Tokens handed out by the OAuth flows live as long as Quay's (ten years) unless revoked.
GRANTED_TOKEN_LIFETIME_S = 10 * 365 * 24 * 3600
_CODE_LOOKUP, _CODE_SECRET = 20, 40


@dataclass(frozen=True, slots=True)
class ApplicationRecord:
    id: int
    client_id: str
    org_id: int
    name: str
    description: str
    application_uri: str
    redirect_uri: str
    avatar_email: str | None
    secret_ciphertext: str


_COLUMNS = (
    OAuthApplication.id,
    OAuthApplication.client_id,
    OAuthApplication.org_id,
    OAuthApplication.name,
    OAuthApplication.description,
    OAuthApplication.application_uri,
    OAuthApplication.redirect_uri,
    OAuthApplication.avatar_email,
    OAuthApplication.secret_ciphertext,
)
_BY_CLIENT_ID = select(*_COLUMNS).where(OAuthApplication.client_id == bindparam("client_id"))


def _record(row: Any) -> ApplicationRecord:
    return ApplicationRecord(*row)


def get(db: Db, client_id: str) -> ApplicationRecord | None:
    row = db.execute(_BY_CLIENT_ID, {"client_id": client_id}).first()
    return _record(row) if row else None


def list_for_org(db: Db, org_id: int) -> list[ApplicationRecord]:
    rows = db.execute(
        select(*_COLUMNS).where(OAuthApplication.org_id == org_id).order_by(OAuthApplication.name)
    )
    return [_record(r) for r in rows]


def _check(name: str, redirect_uri: str, application_uri: str) -> None:
    if not name.strip():
        raise InvalidInput("an application needs a name", field="name")
    for label, uri in (("redirect_uri", redirect_uri), ("application_uri", application_uri)):
        if uri and not uri.startswith(("http://", "https://")):
            raise InvalidInput(f"{label} must be an http:// or https:// URL", field=label)
    if redirect_uri and _clean_url(redirect_uri) is None:
        raise InvalidInput(
            "redirect_uri must be an http:// or https:// URL with a plain host name, no user name,"
            " fragment, backslash, dot segment or encoded slash",
            field="redirect_uri",
        )


def create(
    db: Db,
    box: SecretBox,
    org: AccountRecord,
    *,
    name: str,
    description: str = "",
    application_uri: str = "",
    redirect_uri: str = "",
    avatar_email: str | None = None,
    actor: audit.Actor | None,
) -> ApplicationRecord:
    _check(name, redirect_uri, application_uri)
    client_id = secrets.token_hex(10).upper()
    db.execute(
        insert(OAuthApplication).values(
            client_id=client_id,
            org_id=org.id,
            name=name,
            description=description,
            application_uri=application_uri,
            redirect_uri=redirect_uri,
            avatar_email=avatar_email,
            secret_ciphertext=box.seal(secrets.token_urlsafe(30)),
            created_ms=now_ms(),
        )
    )
    audit.record(
        db, "create_application", actor, namespace_id=org.id, application_name=name, client_id=client_id
    )
    app = get(db, client_id)
    assert app is not None
    return app


def update_app(
    db: Db,
    app: ApplicationRecord,
    *,
    name: str,
    redirect_uri: str,
    application_uri: str,
    description: str | None,
    avatar_email: str | None,
    actor: audit.Actor | None,
) -> ApplicationRecord:
    _check(name, redirect_uri, application_uri)
    values: dict[str, Any] = {"name": name, "redirect_uri": redirect_uri, "application_uri": application_uri}
    if description is not None:
        values["description"] = description
    if avatar_email is not None:
        values["avatar_email"] = avatar_email
    db.execute(update(OAuthApplication).where(OAuthApplication.id == app.id).values(**values))
    audit.record(
        db,
        "update_application",
        actor,
        namespace_id=app.org_id,
        application_name=name,
        client_id=app.client_id,
    )
    updated = get(db, app.client_id)
    assert updated is not None
    return updated


def delete_app(db: Db, app: ApplicationRecord, actor: audit.Actor | None) -> None:
    # Its tokens' owners: the registry tokens those were traded for end too.
    revocation.revoke(db, select(AccessToken.account_id).where(AccessToken.application_id == app.id))
    db.execute(delete(AccessToken).where(AccessToken.application_id == app.id))
    db.execute(delete(OAuthApplication).where(OAuthApplication.id == app.id))
    audit.record(
        db,
        "delete_application",
        actor,
        namespace_id=app.org_id,
        application_name=app.name,
        client_id=app.client_id,
    )


def reset_secret(
    db: Db, box: SecretBox, app: ApplicationRecord, actor: audit.Actor | None
) -> ApplicationRecord:
    db.execute(
        update(OAuthApplication)
        .where(OAuthApplication.id == app.id)
        .values(secret_ciphertext=box.seal(secrets.token_urlsafe(30)))
    )
    audit.record(
        db,
        "reset_application_client_secret",
        actor,
        namespace_id=app.org_id,
        application_name=app.name,
        client_id=app.client_id,
    )
    updated = get(db, app.client_id)
    assert updated is not None
    return updated


def secret(box: SecretBox, app: ApplicationRecord) -> str:
    return box.open(app.secret_ciphertext) or ""


def secret_matches(box: SecretBox, app: ApplicationRecord, presented: str) -> bool:
    return hmac.compare_digest(secret(box, app).encode(), presented.encode())


def mint_token(
    db: Db,
    app: ApplicationRecord,
    account: AccountRecord,
    scope: str,
    *,
    caller_scopes: frozenset[str] | None,
    title: str,
    lifetime_ms: int | None,
    actor: audit.Actor | None,
) -> tuple[str, tokens.TokenInfo]:
    """A token for the application acting as `account`, without the browser flow: the secret (its
    only copy) and what the token list will show. It carries no scope the caller's own token lacks
    (`caller_scopes`; None for a browser session)."""
    try:
        granted = scopes.parse(scope)
    except scopes.ScopeError as e:
        raise InvalidInput(str(e), field="scope") from None
    if not granted:
        raise InvalidInput("choose at least one scope for the token", field="scope")
    if caller_scopes is not None and not granted <= caller_scopes:
        raise InvalidInput("a token cannot carry scopes that your own token lacks", field="scope")
    token_uuid = str(uuid.uuid4())
    secret_text = tokens.mint(
        db,
        account,
        granted,
        application_id=app.id,
        title=title,
        token_uuid=token_uuid,
        lifetime_ms=lifetime_ms,
        actor=actor,
    )
    info = next(t for t in tokens.list_for_application(db, app.id) if t.uuid == token_uuid)
    return secret_text, info


# A host as it may be spelled in a redirect URI: DNS labels of ASCII letters, digits and hyphens
# (no trailing dot, no percent-encoding, no IDNA in Unicode form), or a bracketed IPv6 literal.
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_HOSTNAME = re.compile(rf"(?:{_LABEL}\.)*{_LABEL}")
_IPV6 = re.compile(r"\[[0-9A-Fa-f:.]+\]")
# Characters a browser or server may read differently from us: controls, space, backslash, and
# anything outside ASCII.
_UNSAFE = re.compile(r"[^\x21-\x7e]|\\")


def _clean_url(uri: str) -> SplitResult | None:
    """`uri` split, if it is an http(s) URL whose every part means one thing to every reader."""
    if not uri or _UNSAFE.search(uri):
        return None
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    if not uri.startswith(("http://", "https://")) or parts.fragment or "#" in uri:
        return None
    netloc = parts.netloc
    host, _, port_text = netloc.rpartition(":") if port is not None else (netloc, "", "")
    if "@" in netloc or not (_HOSTNAME.fullmatch(host) or _IPV6.fullmatch(host)):
        return None
    if port is not None and (not port_text.isdigit() or port_text.startswith("0") or port == 0):
        return None
    path = parts.path
    decoded = unquote(path)
    if (
        unquote(decoded) != decoded  # encoded twice
        or _UNSAFE.search(decoded)
        or "%2f" in path.lower()  # an encoded / is a boundary to some readers and not to others
        or any(seg in (".", "..") for seg in decoded.split("/"))
        or (path and not path.startswith("/"))
    ):
        return None
    return parts


def redirect_matches(registered: str, presented: str) -> bool:
    """Whether `presented` is the registered redirect URI or a path below it, compared as URLs:
    the same scheme, host and port spelled the same way, and a path equal to the registered one
    or under it at a `/` boundary. Anything that could be read two ways is refused."""
    reg, got = _clean_url(registered), _clean_url(presented)
    if reg is None or got is None:
        return False
    if got.scheme != reg.scheme or got.netloc != reg.netloc:
        return False
    want, path = reg.path or "/", got.path or "/"
    return path == want or path.startswith(want if want.endswith("/") else want + "/")


def redirect_allowed(app: ApplicationRecord, redirect_uri: str) -> bool:
    """A redirect must go to the application's registered redirect URI or below it."""
    return redirect_matches(app.redirect_uri, redirect_uri)


def issue_code(
    db: Db, app: ApplicationRecord, account: AccountRecord, scopes: frozenset[str], redirect_uri: str
) -> str:
    lookup, secret_half = _secrets.new(_CODE_LOOKUP, _CODE_SECRET)
    db.execute(
        insert(OAuthCode).values(
            application_id=app.id,
            account_id=account.id,
            lookup=lookup,
            secret_hash=_secrets.digest(secret_half),
            scopes=" ".join(sorted(scopes)),
            redirect_uri=redirect_uri,
            expires_ms=now_ms() + CODE_LIFETIME_MS,
        )
    )
    return lookup + secret_half


def redeem_code(
    db: Db, app: ApplicationRecord, code: str, redirect_uri: str | None
) -> tuple[AccountRecord, frozenset[str]] | None:
    """The account and scopes a code was issued for, or None. A code is spent by any attempt to use it,
    so this returns instead of raising: the deletion must commit."""
    if len(code) != _CODE_LOOKUP + _CODE_SECRET:
        return None
    row = db.execute(
        select(
            OAuthCode.id,
            OAuthCode.account_id,
            OAuthCode.secret_hash,
            OAuthCode.scopes,
            OAuthCode.redirect_uri,
            OAuthCode.expires_ms,
        ).where(OAuthCode.lookup == code[:_CODE_LOOKUP], OAuthCode.application_id == app.id)
    ).first()
    if row is None:
        return None
    db.execute(delete(OAuthCode).where(OAuthCode.id == row.id))
    if not _secrets.matches(row.secret_hash, code[_CODE_LOOKUP:]) or row.expires_ms <= now_ms():
        return None
    if redirect_uri is not None and redirect_uri != row.redirect_uri:
        return None
    account = accounts.get_by_id(db, row.account_id)
    if account is None or not account.enabled:
        return None
    return account, frozenset(row.scopes.split())


def grant_token(
    db: Db, app: ApplicationRecord, account: AccountRecord, granted: frozenset[str], actor: audit.Actor
) -> str:
    """The token an OAuth flow (consent page, or a redeemed code) hands the application."""
    return tokens.mint(
        db,
        account,
        granted,
        application_id=app.id,
        title=app.name,
        lifetime_ms=GRANTED_TOKEN_LIFETIME_S * 1000,
        actor=actor,
    )
