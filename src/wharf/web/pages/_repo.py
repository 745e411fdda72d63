"""A repository as one visitor sees it: shared by the repository page's tabs and their forms."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from wharf.auth import permissions
from wharf.auth.permissions import RepositoryView
from wharf.core import repositories
from wharf.oci.names import InvalidNameError, RepositoryName
from wharf.runtime import Runtime
from wharf.web.errors import WebError
from wharf.web.session import Visitor


@dataclass(frozen=True, slots=True)
class RepositoryPage:
    view: RepositoryView
    full_name: str
    registry_host: str

    @property
    def can_write(self) -> bool:
        return permissions.RANK[self.view.role] >= permissions.RANK[permissions.WRITE]

    @property
    def can_admin(self) -> bool:
        return self.view.role == permissions.ADMIN


async def find(rt: Runtime, request: Request, v: Visitor, full_name: str) -> RepositoryView:
    """The repository with the visitor's role; a hidden one looks like a missing one, and an
    anonymous visitor is asked to sign in first (the repository may be theirs)."""
    try:
        name = RepositoryName.parse(full_name, rt.settings.LIBRARY_NAMESPACE)
    except InvalidNameError:
        raise WebError.not_found(f"Repository {full_name}") from None
    view = await rt.db.read(permissions.view_repository, rt.settings, v.identity, name.namespace, name.name)
    if view is None:
        if not v.signed_in:
            raise WebError.sign_in(request)
        raise WebError.not_found(f"Repository {full_name}")
    return view


async def find_writable(
    rt: Runtime, request: Request, v: Visitor, full_name: str, what: str
) -> RepositoryView:
    """`find`, for forms that change `what` (tags, labels): the write role, and a repository whose
    state accepts changes."""
    view = await find(rt, request, v, full_name)
    if permissions.RANK[view.role] < permissions.RANK[permissions.WRITE]:
        raise WebError.forbidden(
            f"Changing {what} needs the write role on {full_name}; you have {view.role}."
        )
    repositories.check_writable(view.repo)
    return view


async def find_admined(rt: Runtime, request: Request, v: Visitor, full_name: str) -> RepositoryView:
    """`find`, for the admin's tabs and forms: others are told which role they would need."""
    view = await find(rt, request, v, full_name)
    if view.role != permissions.ADMIN:
        raise WebError.forbidden(
            f"The usage logs and settings of {full_name} need the admin role on it; you have "
            f"{view.role}. Ask an admin of the repository (or of its organization) to grant it."
        )
    return view
