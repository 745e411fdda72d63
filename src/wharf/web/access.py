"""Who reaches what in the UI: the runtime a page handler works with, the repository, namespace or
team named in the address with the role the page needs, and the superuser check.

Page handlers are module-level functions of the request; they take the runtime with `runtime` and
the thing they show or change through one of the functions here, which raise a `WebError` (a page
saying what to do) when the visitor may not. The roles come from the permission resolver
(auth/permissions.py), as on every surface.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from wharf.auth import permissions
from wharf.auth.permissions import RepositoryView
from wharf.core import accounts, logs, repositories, teams
from wharf.core.accounts import AccountRecord
from wharf.core.teams import TeamRecord
from wharf.oci.names import InvalidNameError, RepositoryName
from wharf.runtime import Runtime
from wharf.services import org_roles
from wharf.web.errors import WebError
from wharf.web.session import Visitor, signed_in


def runtime(request: Request) -> Runtime:
    """The process's runtime, which web/app.py keeps in the pages' application state."""
    rt: Runtime = request.app.state.runtime
    return rt


# Repositories ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RepositoryPage:
    """A repository as one visitor sees it: shared by the repository page's tabs and their forms."""

    view: RepositoryView
    full_name: str
    registry_host: str

    @property
    def can_write(self) -> bool:
        """May change the repository's content (tags, labels, builds)."""
        return (
            not self.view.frozen and permissions.RANK[self.view.role] >= permissions.RANK[permissions.WRITE]
        )

    @property
    def can_admin(self) -> bool:
        return self.view.role == permissions.ADMIN


async def repository(
    request: Request, v: Visitor, full_name: str, role: str = permissions.READ, changing: str = ""
) -> RepositoryView:
    """The repository with the visitor's role, which must be at least `role`. A hidden one looks
    like a missing one, and an anonymous visitor is asked to sign in first (the repository may be
    theirs). With the write role, for forms that change `changing` (tags, labels), the repository's
    state must accept changes too; others are told which role they would need."""
    rt = runtime(request)
    try:
        name = RepositoryName.parse(full_name, rt.settings.LIBRARY_NAMESPACE)
    except InvalidNameError:
        raise WebError.not_found(f"Repository {full_name}") from None
    view = await rt.db.read(permissions.view_repository, rt.settings, v.identity, name.namespace, name.name)
    if view is None:
        if not v.signed_in:
            raise WebError.sign_in(request)
        raise WebError.not_found(f"Repository {full_name}")
    if role == permissions.WRITE:
        if permissions.RANK[view.role] < permissions.RANK[permissions.WRITE]:
            raise WebError.forbidden(
                f"Changing {changing} needs the write role on {full_name}; you have {view.role}."
            )
        refuse_frozen(view, changing)
        repositories.check_writable(view.repo)
    elif role == permissions.ADMIN and view.role != permissions.ADMIN:
        raise WebError.forbidden(
            f"The usage logs and settings of {full_name} need the admin role on it; you have "
            f"{view.role}. Ask an admin of the repository (or of its organization) to grant it."
        )
    return view


def refuse_frozen(view: RepositoryView, changing: str) -> None:
    """A restricted user administers what their own namespace holds but may not change its
    content (`permissions.content_frozen`), as on Quay."""
    if view.frozen:
        raise WebError.forbidden(
            f"Changing {changing} is not allowed in your own namespace: you are a restricted user."
        )


def repository_page(request: Request, view: RepositoryView) -> RepositoryPage:
    return RepositoryPage(
        view, f"{view.repo.namespace}/{view.repo.name}", runtime(request).settings.public_host
    )


# Namespaces --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NamespacePage:
    """An organization or a user as the visitor may use it (their pages share the templates)."""

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


async def organization(request: Request, v: Visitor, name: str) -> NamespacePage:
    rt = runtime(request)
    found = await org_roles.of(rt, v.identity, name)
    if found is None:
        raise WebError.not_found(f"Organization {name}")
    return NamespacePage(found.org, found.is_admin, found.is_member, rt.settings.public_host)


async def user(request: Request, v: Visitor, name: str) -> NamespacePage:
    rt = runtime(request)
    account = await rt.db.read(accounts.get_by_name, name)
    if account is None or account.kind != "user":
        raise WebError.not_found(f"User {name}")
    mine = v.signed_in and v.identity.account_id == account.id
    return NamespacePage(account, mine, mine, rt.settings.public_host)


async def admined_namespace(request: Request, v: Visitor) -> NamespacePage:
    """The organization or user of the address (/organization/<ns>/... or /user/<ns>/...), which
    the visitor must administer."""
    kind, name = request.url.path.split("/")[1], request.path_params["ns"]
    ns = await (organization if kind == "organization" else user)(request, v, name)
    require_admin(ns)
    return ns


async def own_account(request: Request) -> tuple[Visitor, AccountRecord]:
    """The signed-in visitor's own account, which the address's `name` must be."""
    rt = runtime(request)
    v = await signed_in(rt, request)
    if request.path_params["name"] != v.name:
        raise WebError.forbidden("You can change only your own password and tokens.")
    assert v.identity.account_id is not None
    account = await rt.db.read(accounts.get_by_id, v.identity.account_id)
    assert account is not None
    return v, account


async def admined_organization(request: Request) -> tuple[Visitor, NamespacePage]:
    """The signed-in visitor and the organization of the address's `org`, which they administer."""
    v = await signed_in(runtime(request), request)
    ns = await organization(request, v, request.path_params["org"])
    require_admin(ns)
    return v, ns


def require_admin(ns: NamespacePage) -> None:
    if ns.can_admin:
        return
    if ns.is_org:
        raise WebError.forbidden(
            f"Only administrators of {ns.name} may do this. Ask someone in its owners team (or another "
            "team with the admin role) to do it, or to add you to such a team."
        )
    raise WebError.forbidden(f"Only {ns.name} may do this: sign in as {ns.name}.")


async def team(request: Request, ns: NamespacePage, name: str) -> TeamRecord:
    """A team of the organization; who may see or change it is the caller's to check (members see
    their own teams, administrators all)."""
    found = await runtime(request).db.read(teams.get, ns.account.id, name)
    if found is None:
        raise WebError.not_found(f"Team {name} of {ns.name}")
    return found


# The superuser panel -----------------------------------------------------------------------------


async def superuser(request: Request) -> Visitor:
    v = await signed_in(runtime(request), request)
    if not permissions.is_superuser(v.identity):
        # Looks like any unknown page to everyone else, as the panel's existence is nobody's business.
        raise WebError.not_found("This page")
    return v
