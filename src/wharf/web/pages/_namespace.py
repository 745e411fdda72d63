"""What the organization and user pages share: the namespace as the visitor may use it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from wharf.auth import permissions
from wharf.core import accounts, durations, logs, orgs, tag_changes
from wharf.core.accounts import AccountRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime
from wharf.web import render
from wharf.web.errors import WebError
from wharf.web.pages import logs as logs_view
from wharf.web.session import Visitor


@dataclass(frozen=True, slots=True)
class NamespacePage:
    account: AccountRecord
    can_admin: bool
    """Organization admin, or the user themselves: may change everything here."""
    is_member: bool
    registry_host: str

    @property
    def is_org(self) -> bool:
        return self.account.kind == "org"

    @property
    def name(self) -> str:
        return self.account.name

    @property
    def base(self) -> str:
        return f"/{'organization' if self.is_org else 'user'}/{self.account.name}"

    @property
    def log_scope(self) -> logs.Scope:
        """An organization's usage logs are its namespace's; a user's, all that involve them (their
        namespace and what they did elsewhere), as on Quay."""
        if self.is_org:
            return logs.Scope(namespace_id=self.account.id)
        return logs.Scope(involving_id=self.account.id)


async def organization(rt: Runtime, request: Request, v: Visitor, name: str) -> NamespacePage:
    def read(db: Db) -> NamespacePage | None:
        org = orgs.get(db, name)
        if org is None:
            return None
        is_admin = permissions.can_admin_org(db, v.identity, org)
        member = permissions.is_org_member(db, v.identity, org)
        return NamespacePage(org, is_admin, member, rt.settings.public_host)

    found = await rt.db.read(read)
    if found is None:
        raise WebError.not_found(f"Organization {name}")
    return found


async def user(rt: Runtime, request: Request, v: Visitor, name: str) -> NamespacePage:
    account = await rt.db.read(accounts.get_by_name, name)
    if account is None or account.kind != "user":
        raise WebError.not_found(f"User {name}")
    mine = v.signed_in and v.identity.account_id == account.id
    return NamespacePage(account, mine, mine, rt.settings.public_host)


async def owner(rt: Runtime, request: Request, v: Visitor, kind: str, name: str) -> NamespacePage:
    """The organization or user named in the address, which the visitor must administer."""
    ns = await (organization if kind == "organization" else user)(rt, request, v, name)
    require_admin(ns)
    return ns


def require_admin(ns: NamespacePage) -> None:
    if ns.can_admin:
        return
    if ns.is_org:
        raise WebError.forbidden(
            f"Only administrators of {ns.name} may do this. Ask someone in its owners team (or another "
            "team with the admin role) to do it, or to add you to such a team."
        )
    raise WebError.forbidden(f"Only {ns.name} may do this: sign in as {ns.name}.")


def expiration_choices(options: list[str]) -> list[tuple[int, str]]:
    """TAG_EXPIRATION_OPTIONS as (seconds, label), shortest first."""
    seen = {durations.parse_seconds(o): o for o in options}
    return sorted(seen.items())


def label_seconds(seconds: int) -> str:
    for unit, length in (("week", 604800), ("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length and seconds % length == 0:
            n = seconds // length
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{seconds} seconds"


async def tab_page(
    rt: Runtime, request: Request, ns: NamespacePage, tab: str, found: dict[str, Any]
) -> Response:
    """One tab of an organization's or a user's page (they share the templates), with the logs
    view read here when the tab is `logs`."""
    if tab == "logs":
        found["logs"] = await logs_view.view(
            rt, request, ns.log_scope, base=f"{ns.base}?tab=logs", export_action=f"{ns.base}/logs/export"
        )
    return render.page(
        request,
        f"organization/{tab}.html",
        ns=ns,
        tab=tab,
        settings=rt.settings,
        choices=expiration_choices(rt.settings.TAG_EXPIRATION_OPTIONS),
        window_s=tag_changes.time_machine_s(rt.settings.DEFAULT_TAG_EXPIRATION, ns.account),
        label_seconds=label_seconds,
        **found,
    )
