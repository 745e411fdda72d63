"""An organization's teams: the Teams tab's content, a team's page
(/organization/<org>/teams/<team>), and the forms that create and change teams and remove a member
from the whole organization.

Members see the teams they are in; administrators see and change every team.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import accounts, grants, orgs, repositories, teams
from wharf.core.accounts import AccountRecord
from wharf.core.teams import TeamRecord
from wharf.runtime import Runtime
from wharf.services import directory_sync
from wharf.services import team_invites as invite_service
from wharf.services import teams as team_service
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.forms import SUMMARY, FormError
from wharf.web.pages import _list_query as list_query
from wharf.web.session import Visitor, read_form, signed_in

LIST_LIMIT = 500
MEMBERS_VIEW = {"tab": "teams", "view": "members"}


def roles_help() -> list[tuple[str, str]]:
    return [
        ("member", "inherits the roles the team is given on repositories"),
        ("creator", "members, and may create repositories in the organization"),
        ("admin", "full control of the organization and all its repositories"),
    ]


async def tab(request: Request, rt: Runtime, v: Visitor, ns: NamespacePage) -> dict[str, Any]:
    """The Teams tab: the visitor's teams (all of them for administrators), or for administrators
    with `view=members` the organization's members and outside collaborators; each a page of 50
    with a name filter (`q`, `page`)."""
    out: dict[str, Any] = {"roles": roles_help()}
    if ns.can_admin and request.query_params.get("view") == "members":
        lq = list_query.parse(ns.base, request.query_params, MEMBERS_VIEW)
        found = await team_service.members_page(rt, ns.account, contains=lq.q, page=lq.page)
        out.update(
            view="members",
            lq=lq,
            members=found.members,
            collaborators=found.collaborators,
            last_owner=found.last_owner,
        )
        return out
    lq = list_query.parse(ns.base, request.query_params, {"tab": "teams"})
    out["teams"] = await team_service.teams_page(
        rt, ns.account, v.identity.account_id, admin=ns.can_admin, contains=lq.q, page=lq.page
    )
    out.update(view="teams", lq=lq)
    return out


async def create_team(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    form = await read_form(rt, request)
    name = form.get("name", "").strip()
    here = f"/organization/{ns.name}?tab=teams"
    if await rt.db.read(teams.get, ns.account.id, name) is not None:
        raise FormError(here, name=f"{ns.name} already has a team {name}: pick another name.", status=409)
    with forms.refusing(here, advice={"name": forms.TEAM_SYNTAX}):
        await rt.db.write(
            teams.upsert, ns.account, name, form.get("role", "member"), form.get("description", ""), v.actor
        )
    return render.redirect(
        f"/organization/{ns.name}/teams/{name}", f"Created team {name}. Add members and repositories."
    )


async def team_page(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    ns = await access.organization(request, v, request.path_params["org"])
    team = await access.team(request, ns, request.path_params["team"])
    found = await team_service.detail(rt, ns.account, team, admin=ns.can_admin, repository_limit=LIST_LIMIT)
    if not ns.can_admin and not any(n == v.name for n, _ in found.members):
        raise WebError.forbidden(
            f"Only members of team {team.name} and administrators of {ns.name} see this team."
        )
    out: dict[str, Any] = {"members": found.members, "held": found.held, "sync": found.sync}
    out["can_sync"] = ns.can_admin and _may_set_up_sync(rt, v)
    if ns.can_admin:
        out["repositories"] = found.repositories
        out["org_robots"] = found.org_robots
        out["invites"] = await invite_service.pending(rt, team)
        out["can_invite_email"] = invite_service.can_mail(rt)
    return render.page(request, "organization/team.html", ns=ns, team=team, roles=roles_help(), **out)


@dataclass(frozen=True, slots=True)
class _Change:
    """A form posted to /organization/<org>/teams/<team>/<action>, read and checked."""

    rt: Runtime
    v: Visitor
    ns: NamespacePage
    team: TeamRecord
    form: dict[str, str]

    @property
    def back(self) -> str:
        return f"/organization/{self.ns.name}/teams/{self.team.name}"


async def _set_role(c: _Change) -> Response:
    role, description = c.form.get("role", ""), c.form.get("description", c.team.description)
    await c.rt.db.write(teams.upsert, c.ns.account, c.team.name, role, description, c.v.actor)
    return render.redirect(c.back, f"Saved team {c.team.name}.")


async def _delete(c: _Change) -> Response:
    await c.rt.db.write(teams.delete_team, c.ns.account, c.team, c.v.actor)
    return render.redirect(f"/organization/{c.ns.name}?tab=teams", f"Deleted team {c.team.name}.")


async def _member(c: _Change) -> AccountRecord:
    name = c.form.get("member", "").strip()
    member = await c.rt.db.read(accounts.get_by_name, name)
    if member is None or member.kind == "org":
        raise FormError(
            c.back,
            member=f"There is no user or robot named {name!r}. Check the spelling: users by their "
            f"username, robots as {c.ns.name}+name.",
        )
    return member


async def _add_member(c: _Change) -> Response:
    member = await _member(c)
    with forms.refusing(c.back, {SUMMARY: "member"}):
        invited = await invite_service.add_or_invite(c.rt, c.ns.account, c.team, member, c.v.actor)
    if invited:
        return render.redirect(
            c.back, f"Invited {member.name} to team {c.team.name}: they join once they accept."
        )
    return render.redirect(c.back, f"Added {member.name} to team {c.team.name}.")


async def _invite_email(c: _Change) -> Response:
    email = c.form.get("email", "").strip()
    with forms.refusing(c.back, {SUMMARY: "email"}):
        try:
            await invite_service.invite_email(c.rt, c.ns.account, c.team, email, c.v.actor)
        except invite_service.MailUnavailable as e:
            raise FormError(c.back, email=str(e)) from None
    return render.redirect(c.back, f"Invited {email} to team {c.team.name}: the invitation is on its way.")


async def _cancel_invite(c: _Change) -> Response:
    email = c.form.get("email", "").strip()
    user = await _member(c) if not email else None
    await invite_service.cancel(c.rt, c.ns.account, c.team, c.v.actor, user=user, email=email or None)
    return render.redirect(c.back, f"Withdrew the invitation of {user.name if user else email}.")


async def _remove_member(c: _Change) -> Response:
    member = await _member(c)
    await c.rt.db.write(teams.remove_member, c.ns.account, c.team, member, c.v.actor)
    return render.redirect(c.back, f"Removed {member.name} from team {c.team.name}.")


async def _repository(c: _Change) -> repositories.RepositoryRecord:
    name = c.form.get("repository", "").strip()
    repo = await c.rt.db.read(repositories.get, c.ns.name, name)
    if repo is None:
        raise WebError.not_found(f"Repository {c.ns.name}/{name}")
    return repo


async def _set_repository(c: _Change) -> Response:
    repo = await _repository(c)
    role = c.form.get("role", "")
    await c.rt.db.write(grants.set_team_role, repo, c.team, role, c.v.actor)
    return render.redirect(c.back, f"Team {c.team.name} has the {role} role on {repo.full_name}.")


async def _remove_repository(c: _Change) -> Response:
    repo = await _repository(c)
    await c.rt.db.write(grants.delete_team_role, repo, c.team, c.v.actor)
    return render.redirect(c.back, f"Team {c.team.name} no longer has a role on {repo.full_name}.")


def _may_set_up_sync(rt: Runtime, v: Visitor) -> bool:
    """As enableOrganizationTeamSync: superusers, or organization admins when
    FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP."""
    return directory_sync.syncing_enabled(rt) and (
        v.identity.is_superuser or rt.settings.FEATURE_NONSUPERUSER_TEAM_SYNCING_SETUP
    )


async def _sync(c: _Change) -> Response:
    if not _may_set_up_sync(c.rt, c.v):
        raise WebError.forbidden("Only superusers bind teams to directory groups here.")
    with forms.refusing(c.back, {SUMMARY: "group_dn"}):
        await directory_sync.enable(c.rt, c.ns.account, c.team, c.form.get("group_dn", ""), c.v.actor)
    return render.redirect(
        c.back, f"Team {c.team.name} now follows its directory group; its users are brought in step shortly."
    )


async def _unsync(c: _Change) -> Response:
    if not _may_set_up_sync(c.rt, c.v):
        raise WebError.forbidden("Only superusers unbind teams from directory groups here.")
    await directory_sync.disable(c.rt, c.ns.account, c.team, c.v.actor)
    return render.redirect(c.back, f"Team {c.team.name} no longer follows a directory group.")


_ACTIONS: dict[str, Callable[[_Change], Awaitable[Response]]] = {
    "sync": _sync,
    "unsync": _unsync,
    "role": _set_role,
    "delete": _delete,
    "add-member": _add_member,
    "remove-member": _remove_member,
    "invite-email": _invite_email,
    "cancel-invite": _cancel_invite,
    "set-repository": _set_repository,
    "remove-repository": _remove_repository,
}


async def change_team(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    form = await read_form(rt, request)
    team = await access.team(request, ns, request.path_params["team"])
    action = _ACTIONS.get(request.path_params["action"])
    if action is None:
        raise WebError.not_found("This action")
    return await action(_Change(rt, v, ns, team, form))


async def remove_member(request: Request) -> Response:
    """Take someone out of every team of the organization and off its repositories."""
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    form = await read_form(rt, request)
    name = form.get("member", "")
    member = await rt.db.read(accounts.get_by_name, name)
    if member is None or member.kind == "org":
        raise WebError.not_found(f"Member {name}")
    await rt.db.write(orgs.remove_member, ns.account, member, v.actor)
    return render.redirect(
        list_query.back_url(f"/organization/{ns.name}", form.get("back", ""), MEMBERS_VIEW),
        f"Removed {member.name} from every team of {ns.name} and from its repositories.",
    )


ROUTES: list[BaseRoute] = [
    Route("/organization/{org:str}/teams/new", create_team, methods=["POST"]),
    Route("/organization/{org:str}/teams/{team:str}", team_page, methods=["GET"]),
    Route("/organization/{org:str}/teams/{team:str}/{action:str}", change_team, methods=["POST"]),
    Route("/organization/{org:str}/members/remove", remove_member, methods=["POST"]),
]
