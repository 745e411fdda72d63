"""A user's OAuth authorizations (Quay's listUserAuthorizations and friends): the access tokens
OAuth applications hold for the user, with the application each belongs to. Deleting one ends
the token and the registry tokens it was traded for."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import delete, select

from wharf.core import audit, revocation
from wharf.core.clock import now_ms
from wharf.db.engine import Db
from wharf.db.models import AccessToken, Account, OAuthApplication


@dataclass(frozen=True, slots=True)
class Authorization:
    uuid: str
    scopes: frozenset[str]
    app_name: str
    app_description: str
    app_uri: str
    app_email: str | None
    """The application's avatar address, else its organization's."""
    org_name: str
    org_email: str | None


_QUERY = (
    select(
        AccessToken.uuid,
        AccessToken.scopes,
        AccessToken.expires_ms,
        OAuthApplication.name,
        OAuthApplication.description,
        OAuthApplication.application_uri,
        OAuthApplication.avatar_email,
        Account.name.label("org_name"),
        Account.email.label("org_email"),
    )
    .join(OAuthApplication, OAuthApplication.id == AccessToken.application_id)
    .join(Account, Account.id == OAuthApplication.org_id)
)


def list_for(db: Db, account_id: int, token_uuid: str | None = None) -> list[Authorization]:
    """The user's live tokens issued to OAuth applications (or the one with `token_uuid`)."""
    query = _QUERY.where(AccessToken.account_id == account_id, AccessToken.uuid.is_not(None))
    if token_uuid is not None:
        query = query.where(AccessToken.uuid == token_uuid)
    now = now_ms()
    return [
        Authorization(
            r.uuid,
            frozenset(r.scopes.split()),
            r.name,
            r.description,
            r.application_uri,
            r.avatar_email or r.org_email,
            r.org_name,
            r.org_email,
        )
        for r in db.execute(query.order_by(AccessToken.created_ms, AccessToken.id))
        if r.expires_ms is None or r.expires_ms > now
    ]


def delete_for(db: Db, account_id: int, token_uuid: str, actor: audit.Actor | None) -> bool:
    """Revoke the user's token `token_uuid` given to an application; False when there is none."""
    mine = (
        AccessToken.account_id == account_id,
        AccessToken.uuid == token_uuid,
        AccessToken.application_id.is_not(None),
    )
    if not db.execute(select(AccessToken.id).where(*mine)).first():
        return False
    revocation.revoke(db, [account_id])
    db.execute(delete(AccessToken).where(*mine))
    audit.record(db, "revoke_oauth_api_token", actor, namespace_id=account_id, token_uuid=token_uuid)
    return True
