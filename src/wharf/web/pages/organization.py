"""/organization/<org>?tab=repos|teams|robots|defaultperms|applications|settings|logs, a team's
page, an OAuth application's page, and /organizations/new/.

Anyone who may see the organization sees its repositories (those they may read); members see the
teams they are in; administrators see and change everything. Robots are in pages/robots.py, the
settings form (shared with user namespaces) in pages/user.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.core import (
    accounts,
    applications,
    grants,
    orgs,
    prototypes,
    repositories,
    scopes,
    teams,
    tokens,
)
from wharf.core import robots as core_robots
from wharf.core.applications import ApplicationRecord
from wharf.core.errors import AlreadyExists, DomainError
from wharf.core.teams import TeamRecord
from wharf.db.engine import Db
from wharf.runtime import Runtime
from wharf.web import render
from wharf.web.errors import WebError
from wharf.web.pages import _namespace, robots
from wharf.web.pages._namespace import NamespacePage
from wharf.web.session import Visitor, confirm_fresh_login, read_form, read_form_lists, signed_in, visitor

TABS = ("repos", "teams", "robots", "defaultperms", "applications", "settings", "logs")
ADMIN_TABS = frozenset(TABS) - {"repos", "teams"}
LIST_LIMIT = 500
TOKEN_SCOPES = [(scope, about.title) for scope, about in scopes.DESCRIPTIONS.items()]


@dataclass(frozen=True, slots=True)
class ListedTeam:
    team: TeamRecord
    members: int
    repositories: int


def _team_roles_help() -> list[tuple[str, str]]:
    return [
        ("member", "inherits the roles the team is given on repositories"),
        ("creator", "members, and may create repositories in the organization"),
        ("admin", "full control of the organization and all its repositories"),
    ]


def routes(rt: Runtime) -> list[BaseRoute]:
    async def admin_org(request: Request) -> tuple[Visitor, NamespacePage]:
        v = await signed_in(rt, request)
        ns = await _namespace.organization(rt, request, v, request.path_params["org"])
        _namespace.require_admin(ns)
        return v, ns

    async def new_page(request: Request) -> Response:
        await signed_in(rt, request)
        return render.page(request, "organization/new.html", form={"name": "", "email": ""}, error=None)

    async def create(request: Request) -> Response:
        v = await signed_in(rt, request)
        form = await read_form(rt, request)
        name, email = form.get("name", "").strip(), form.get("email", "").strip()

        def again(message: str, status: int = 400) -> Response:
            return render.page(request, "organization/new.html", status=status, form=form, error=message)

        if email and ("@" not in email or len(email) > 255):
            return again("That e-mail address does not look right: use one like team@example.com, or none.")

        def write(db: Db) -> None:
            assert v.identity.account_id is not None
            creator = accounts.get_by_id(db, v.identity.account_id)
            assert creator is not None
            orgs.create(db, name, email or None, creator, v.actor)

        try:
            await rt.db.write(write)
        except AlreadyExists:
            return again(f"The name {name} is taken by a user or an organization: pick another.", 409)
        except DomainError as e:
            return again(f"That name is not valid: {e}.")
        return render.redirect(
            f"/organization/{name}?tab=teams",
            f"Created organization {name}. You are in its owners team; create teams and robots next.",
        )

    async def show(request: Request) -> Response:
        v = await visitor(rt, request)
        ns = await _namespace.organization(rt, request, v, request.path_params["org"])
        tab = request.query_params.get("tab", "repos")
        if tab not in TABS:
            tab = "repos"
        if tab in ADMIN_TABS or (tab == "teams" and not ns.is_member):
            if not v.signed_in:
                raise WebError.sign_in(request)
            if tab == "teams" and not ns.is_member:
                raise WebError.forbidden(f"Only members of {ns.name} see its teams.")
            _namespace.require_admin(ns)
        org = ns.account

        def read(db: Db) -> dict[str, Any]:
            if tab == "repos":
                visible = permissions.visible_repositories(v.identity, rt.settings)
                public = permissions.may_read_public(v.identity, rt.settings)
                found = repositories.listing(
                    db, visible=visible, include_public=public, namespace=org.name, limit=LIST_LIMIT
                )
                return {"repos": found, "can_create": permissions.can_create_in(db, v.identity, org)}
            if tab == "teams":
                listed = teams.list_teams(db, org.id)
                if not ns.can_admin:
                    assert v.identity.account_id is not None
                    mine = set(teams.names_of_member(db, org.id, v.identity.account_id))
                    listed = [t for t in listed if t.name in mine]
                out: dict[str, Any] = {
                    "teams": [ListedTeam(t, *teams.counts(db, t)) for t in listed],
                    "roles": _team_roles_help(),
                }
                if ns.can_admin:
                    out["members"] = orgs.members(db, org.id)
                    out["collaborators"] = orgs.collaborators(db, org.id)
                    owners = teams.get(db, org.id, orgs.OWNERS)
                    owner_names = [n for n, _ in teams.member_names(db, owners)] if owners else []
                    out["last_owner"] = owner_names[0] if len(owner_names) == 1 else None
                return out
            if tab == "robots":
                return {"robots": robots.listing(db, org)}
            if tab == "defaultperms":
                return {"prototypes": prototypes.list_for(db, org), "teams": teams.list_teams(db, org.id)}
            if tab == "applications":
                return {"apps": applications.list_for_org(db, org.id)}
            return {}

        return await _namespace.tab_page(rt, request, ns, tab, await rt.db.read(read))

    # -- teams --

    async def _team(ns: NamespacePage, name: str) -> TeamRecord:
        team = await rt.db.read(teams.get, ns.account.id, name)
        if team is None:
            raise WebError.not_found(f"Team {name} of {ns.name}")
        return team

    async def create_team(request: Request) -> Response:
        v, ns = await admin_org(request)
        form = await read_form(rt, request)
        name = form.get("name", "").strip()
        if await rt.db.read(teams.get, ns.account.id, name) is not None:
            raise WebError(
                409, "That team exists", f"{ns.name} already has a team {name}: pick another name."
            )
        await rt.db.write(
            teams.upsert, ns.account, name, form.get("role", "member"), form.get("description", ""), v.actor
        )
        return render.redirect(
            f"/organization/{ns.name}/teams/{name}", f"Created team {name}. Add members and repositories."
        )

    async def team_page(request: Request) -> Response:
        v = await signed_in(rt, request)
        ns = await _namespace.organization(rt, request, v, request.path_params["org"])
        team = await _team(ns, request.path_params["team"])

        def read(db: Db) -> dict[str, Any]:
            members = teams.member_names(db, team)
            mine = any(n == v.name for n, _ in members)
            if not ns.can_admin and not mine:
                raise WebError.forbidden(
                    f"Only members of team {team.name} and administrators of {ns.name} see this team."
                )
            out: dict[str, Any] = {"members": members, "held": grants.held_by_team(db, team.id)}
            if ns.can_admin:
                out["repositories"] = repositories.listing(
                    db, visible=None, include_public=False, namespace=ns.name, limit=LIST_LIMIT
                )
                out["org_robots"] = [r.account.name for r in robots_of(db, ns)]
            return out

        found = await rt.db.read(read)
        return render.page(
            request, "organization/team.html", ns=ns, team=team, roles=_team_roles_help(), **found
        )

    async def change_team(request: Request) -> Response:
        v, ns = await admin_org(request)
        form = await read_form(rt, request)
        team = await _team(ns, request.path_params["team"])
        action = request.path_params["action"]
        back = f"/organization/{ns.name}/teams/{team.name}"
        if action == "role":
            await rt.db.write(
                teams.upsert,
                ns.account,
                team.name,
                form.get("role", ""),
                form.get("description", team.description),
                v.actor,
            )
            return render.redirect(back, f"Saved team {team.name}.")
        if action == "delete":
            await rt.db.write(teams.delete_team, ns.account, team, v.actor)
            return render.redirect(f"/organization/{ns.name}?tab=teams", f"Deleted team {team.name}.")
        if action in ("add-member", "remove-member"):
            name = form.get("member", "").strip()
            member = await rt.db.read(accounts.get_by_name, name)
            if member is None or member.kind == "org":
                raise WebError(
                    404,
                    f"There is no user or robot {name}",
                    "Check the spelling: users by their username, robots as organization+name.",
                )
            if action == "add-member":
                await rt.db.write(teams.add_member, ns.account, team, member, v.actor)
                return render.redirect(back, f"Added {member.name} to team {team.name}.")
            await rt.db.write(teams.remove_member, ns.account, team, member, v.actor)
            return render.redirect(back, f"Removed {member.name} from team {team.name}.")
        if action in ("set-repository", "remove-repository"):
            name = form.get("repository", "").strip()
            repo = await rt.db.read(repositories.get, ns.name, name)
            if repo is None:
                raise WebError.not_found(f"Repository {ns.name}/{name}")
            if action == "set-repository":
                role = form.get("role", "")
                await rt.db.write(grants.set_team_role, repo, team, role, v.actor)
                return render.redirect(back, f"Team {team.name} has the {role} role on {repo.full_name}.")
            await rt.db.write(grants.delete_team_role, repo, team, v.actor)
            return render.redirect(back, f"Team {team.name} no longer has a role on {repo.full_name}.")
        raise WebError.not_found("This action")

    async def remove_member(request: Request) -> Response:
        v, ns = await admin_org(request)
        form = await read_form(rt, request)
        name = form.get("member", "")
        member = await rt.db.read(accounts.get_by_name, name)
        if member is None or member.kind == "org":
            raise WebError.not_found(f"Member {name}")
        await rt.db.write(orgs.remove_member, ns.account, member, v.actor)
        return render.redirect(
            f"/organization/{ns.name}?tab=teams",
            f"Removed {member.name} from every team of {ns.name} and from its repositories.",
        )

    # -- default permissions --

    async def create_prototype(request: Request) -> Response:
        v, ns = await admin_org(request)
        form = await read_form(rt, request)
        kind = form.get("delegate_kind", "")
        delegate = form.get("team" if kind == "team" else "user", "").strip()
        activating = form.get("activating", "").strip() or None
        if not delegate:
            raise WebError(
                400,
                "Whom should the permission go to?",
                "Choose a team, or enter a user or robot name, then add the default permission again.",
            )
        await rt.db.write(
            prototypes.create_named,
            ns.account,
            form.get("role", ""),
            delegate_kind=kind,
            delegate_name=delegate,
            activating_name=activating,
            actor=v.actor,
        )
        return render.redirect(
            f"/organization/{ns.name}?tab=defaultperms",
            f"New repositories{f' created by {activating}' if activating else ''} will give "
            f"{delegate} the {form.get('role')} role.",
        )

    async def change_prototype(request: Request) -> Response:
        v, ns = await admin_org(request)
        form = await read_form(rt, request)
        prototype_id, action = request.path_params["id"], request.path_params["action"]
        back = f"/organization/{ns.name}?tab=defaultperms"
        if action == "role":
            await rt.db.write(prototypes.change_role, ns.account, prototype_id, form.get("role", ""), v.actor)
            return render.redirect(back, f"The default permission now gives the {form.get('role')} role.")
        if action == "delete":
            await rt.db.write(prototypes.delete_prototype, ns.account, prototype_id, v.actor)
            return render.redirect(
                back, "Deleted the default permission. Existing repositories keep their roles."
            )
        raise WebError.not_found("This action")

    # -- OAuth applications --

    async def _app(ns: NamespacePage, client_id: str) -> ApplicationRecord:
        app = await rt.db.read(applications.get, client_id)
        if app is None or app.org_id != ns.account.id:
            raise WebError.not_found(f"Application {client_id} of {ns.name}")
        return app

    def _app_fields(form: dict[str, str]) -> dict[str, Any]:
        fields = {
            k: form.get(k, "").strip() for k in ("name", "redirect_uri", "application_uri", "description")
        }
        if not fields["name"] or len(fields["name"]) > 255:
            raise WebError(400, "The application needs a name", "Enter a name of at most 255 characters.")
        if len(fields["redirect_uri"]) > 2048 or len(fields["application_uri"]) > 2048:
            raise WebError(400, "An address is too long", "Addresses may be at most 2048 characters.")
        if len(fields["description"]) > 4096:
            raise WebError(400, "The description is too long", "Keep it under 4096 characters.")
        return fields

    async def create_app(request: Request) -> Response:
        v, ns = await admin_org(request)
        fields = _app_fields(await read_form(rt, request))
        app = await rt.db.write(applications.create, rt.secrets, ns.account, **fields, actor=v.actor)
        return render.redirect(
            f"/organization/{ns.name}/applications/{app.client_id}",
            f"Created application {app.name}. Its client ID and secret are below.",
        )

    async def app_page(request: Request) -> Response:
        _v, ns = await admin_org(request)
        app = await _app(ns, request.path_params["client_id"])
        return await _render_app(request, ns, app, new_token=None)

    async def _render_app(
        request: Request, ns: NamespacePage, app: ApplicationRecord, new_token: str | None, status: int = 200
    ) -> Response:
        listed = await rt.db.read(tokens.list_for_application, app.id)
        return render.page(
            request,
            "organization/application.html",
            status=status,
            ns=ns,
            app=app,
            secret=applications.secret(rt.secrets, app),
            tokens=listed,
            scopes=TOKEN_SCOPES,
            new_token=new_token,
        )

    async def change_app(request: Request) -> Response:
        v, ns = await admin_org(request)
        action = request.path_params["action"]
        lists = await read_form_lists(rt, request)
        form = {k: vs[-1] for k, vs in lists.items()}
        app = await _app(ns, request.path_params["client_id"])
        back = f"/organization/{ns.name}/applications/{app.client_id}"
        if action == "update":
            fields = _app_fields(form)
            await rt.db.write(applications.update_app, app, **fields, avatar_email=None, actor=v.actor)
            return render.redirect(back, f"Saved application {fields['name']}.")
        if action == "reset-secret":
            await rt.db.write(applications.reset_secret, rt.secrets, app, v.actor)
            return render.redirect(
                back, "The application has a new client secret; the old one no longer works."
            )
        if action == "delete":
            await rt.db.write(applications.delete_app, app, v.actor)
            return render.redirect(
                f"/organization/{ns.name}?tab=applications",
                f"Deleted application {app.name} and every token issued for it.",
            )
        if action == "token":
            title = form.get("title", "").strip() or app.name
            if len(title) > 255:
                raise WebError(400, "The token's name is too long", "Keep it under 255 characters.")
            assert v.identity.account_id is not None
            me = await rt.db.read(accounts.get_by_id, v.identity.account_id)
            assert me is not None
            secret, _info = await rt.db.write(
                applications.mint_token,
                app,
                me,
                " ".join(lists.get("scope", [])),
                caller_scopes=v.identity.scopes,
                title=title,
                lifetime_ms=None,
                actor=v.actor,
            )
            # The token exists only in this answer: it is stored hashed, so it is shown, not redirected.
            return await _render_app(request, ns, app, new_token=secret, status=201)
        if action == "revoke":
            token_uuid = form.get("token", "")
            if not await rt.db.write(tokens.revoke, app.id, token_uuid, v.actor):
                raise WebError.not_found("This token")
            return render.redirect(back, "Revoked the token: it no longer works.")
        raise WebError.not_found("This action")

    # -- settings and deletion --

    async def delete_org(request: Request) -> Response:
        v, ns = await admin_org(request)
        form = await read_form(rt, request)
        if form.get("confirm", "") != ns.name:
            raise WebError(
                400,
                "The organization was not deleted",
                f"Type the organization's name ({ns.name}) in the box to confirm.",
            )
        await confirm_fresh_login(rt, request, v, form)
        await rt.db.write(orgs.delete_org, ns.account, v.actor)
        return render.redirect(
            "/", f"Deleted organization {ns.name} with its repositories, teams and robots."
        )

    return [
        Route("/organizations/new/", new_page, methods=["GET"]),
        Route("/organizations/new/", create, methods=["POST"]),
        Route("/organization/{org:str}", show, methods=["GET"]),
        Route("/organization/{org:str}/teams/new", create_team, methods=["POST"]),
        Route("/organization/{org:str}/teams/{team:str}", team_page, methods=["GET"]),
        Route("/organization/{org:str}/teams/{team:str}/{action:str}", change_team, methods=["POST"]),
        Route("/organization/{org:str}/members/remove", remove_member, methods=["POST"]),
        Route("/organization/{org:str}/defaultperms/new", create_prototype, methods=["POST"]),
        Route(
            "/organization/{org:str}/defaultperms/{id:str}/{action:str}", change_prototype, methods=["POST"]
        ),
        Route("/organization/{org:str}/applications/new", create_app, methods=["POST"]),
        Route("/organization/{org:str}/applications/{client_id:str}", app_page, methods=["GET"]),
        Route(
            "/organization/{org:str}/applications/{client_id:str}/{action:str}", change_app, methods=["POST"]
        ),
        Route("/organization/{org:str}/delete", delete_org, methods=["POST"]),
    ]


def robots_of(db: Db, ns: NamespacePage) -> list[core_robots.RobotRecord]:
    return core_robots.list_for(db, ns.account)
