"""Robot accounts of an organization or of the visitor's own namespace: the list (a tab of the
namespace page), and one robot's page with its credentials, repository roles and federation.

The same routes serve /organization/<org>/robots/... and /user/<name>/robots/...; only the
namespace's administrators (the user themselves) reach them, as with the API.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.core import grants, robots
from wharf.core.clock import now_ms
from wharf.core.robots import RobotRecord
from wharf.runtime import Runtime
from wharf.services import robots as robot_service
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.credentials import FILES, Credentials
from wharf.web.errors import WebError
from wharf.web.forms import SUMMARY, FormError
from wharf.web.pages import _list_query as list_query
from wharf.web.session import read_form, read_form_lists, signed_in

REPOSITORY_LIMIT = 500
NO_STORE = {"Cache-Control": "no-store"}
"""Pages and files with a token: never kept by the browser's or a proxy's cache."""
FEDERATION_ROWS = 2
"""Empty issuer/subject rows offered below the saved ones."""


async def listing(request: Request, rt: Runtime, ns: NamespacePage) -> dict[str, Any]:
    """The namespace's Robot accounts tab: a page of 50 robots filtered by short name (`q`)."""
    lq = list_query.parse(ns.base, request.query_params, {"tab": "robots"})
    return {"robots": await robot_service.page_of(rt, ns.account, contains=lq.q, page=lq.page), "lq": lq}


def credentials(rt: Runtime, ns: NamespacePage, robot: RobotRecord) -> Credentials:
    return Credentials(
        ns.registry_host,
        robot.account.name,
        rt.secrets.open(robot.token_ciphertext) or "",
        insecure=rt.settings.PREFERRED_URL_SCHEME != "https",
    )


async def _owner(request: Request, *, changing: bool = False) -> NamespacePage:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    ns = await access.admined_namespace(request, v)
    if (
        changing
        and ns.account.kind == "user"
        and await rt.db.read(permissions.is_restricted, rt.settings, v.identity)
    ):
        # As the API (and Quay): a robot of their own would be a way around the restriction.
        raise WebError.forbidden("Restricted users cannot have robot accounts of their own.")
    return ns


async def _robot(rt: Runtime, ns: NamespacePage, shortname: str) -> RobotRecord:
    robot = await rt.db.read(robots.get, ns.account, shortname)
    if robot is None:
        raise WebError.not_found(f"Robot {robots.full_name(ns.name, shortname)}")
    return robot


def _page(ns: NamespacePage, shortname: str) -> str:
    return f"{ns.base}/robots/{shortname}"


async def create(request: Request) -> Response:
    rt = access.runtime(request)
    ns = await _owner(request, changing=True)
    form = await read_form(rt, request)
    v = await signed_in(rt, request)
    shortname = form.get("name", "").strip()
    full = robots.full_name(ns.name, shortname)
    try:
        with forms.refusing(f"{ns.base}?tab=robots", advice={"name": forms.ROBOT_SYNTAX}):
            await robot_service.create(
                rt, ns.account, shortname, description=form.get("description", "").strip(), by=v.actor
            )
    except robot_service.RobotsDisallowed:
        raise WebError(
            403,
            "Robot accounts are turned off",
            "This registry disallows robot accounts (ROBOTS_DISALLOW); its admin can allow this one "
            "with ROBOTS_WHITELIST.",
        ) from None
    return render.redirect(
        f"{_page(ns, shortname)}?credentials=1",
        f"Created robot {full}. Log in with the command below, then give it roles on repositories.",
    )


async def show(request: Request) -> Response:
    """The robot's page; its token (and the credentials made of it) only on `?credentials=1`, the
    reveal: a page left open, a screenshot or a shared screen does not show it by accident."""
    rt = access.runtime(request)
    ns = await _owner(request)
    robot = await _robot(rt, ns, request.path_params["robot"])
    found = await robot_service.detail(rt, ns.account, robot, REPOSITORY_LIMIT)
    shown = request.query_params.get("credentials") == "1"
    return render.page(
        request,
        "organization/robot.html",
        headers=NO_STORE if shown else None,
        ns=ns,
        robot=robot,
        creds=credentials(rt, ns, robot) if shown else None,
        empty_rows=FEDERATION_ROWS,
        held=found.held,
        repositories=found.repositories,
        federation=found.federation,
        teams=found.teams,
    )


async def download(request: Request) -> Response:
    """One of the robot's credential files: the Kubernetes secret, config.json, Mesos' archive."""
    rt = access.runtime(request)
    ns = await _owner(request)
    robot = await _robot(rt, ns, request.path_params["robot"])
    name = request.path_params["file"]
    if name not in FILES:
        raise WebError.not_found("This file")
    creds = credentials(rt, ns, robot)
    filename = f"{creds.secret_name.removesuffix('-pull-secret')}-{name}"
    body = creds.file(name, now_ms() // 1000)
    return Response(
        body,
        media_type=FILES[name],
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'},
    )


async def regenerate(request: Request) -> Response:
    rt = access.runtime(request)
    ns = await _owner(request, changing=True)
    await read_form(rt, request)
    v = await signed_in(rt, request)
    robot = await _robot(rt, ns, request.path_params["robot"])
    await rt.db.write(robots.regenerate, rt.secrets, robot, ns.account, v.actor)
    return render.redirect(
        f"{_page(ns, robot.shortname)}?credentials=1",
        f"{robot.account.name} has a new token; the old one no longer works. Update the places that use it.",
    )


async def delete(request: Request) -> Response:
    rt = access.runtime(request)
    ns = await _owner(request, changing=True)
    await read_form(rt, request)
    v = await signed_in(rt, request)
    robot = await _robot(rt, ns, request.path_params["robot"])
    await rt.db.write(robots.delete_robot, robot, ns.account, v.actor)
    return render.redirect(f"{ns.base}?tab=robots", f"Deleted robot {robot.account.name}.")


async def set_permissions(request: Request) -> Response:
    """Bulk assignment: one role (or none) on every repository ticked."""
    rt = access.runtime(request)
    ns = await _owner(request, changing=True)
    form = await read_form_lists(rt, request)
    v = await signed_in(rt, request)
    robot = await _robot(rt, ns, request.path_params["robot"])
    role = (form.get("role") or [""])[-1]
    chosen = [n for n in form.get("repository", []) if n]
    page = _page(ns, robot.shortname)
    if role not in (*grants.ROLES, robot_service.NO_ROLE):
        raise FormError(page, role="Choose read, write, admin, or none to remove the role.")
    if not chosen:
        raise FormError(
            page, {SUMMARY: "No repository was ticked: tick the ones the role applies to, then apply it."}
        )
    changed = await robot_service.set_roles(rt, ns.account, robot, chosen, role, v.actor)
    what = f"the {role} role" if role != robot_service.NO_ROLE else "no role"
    plural = "repository" if changed == 1 else "repositories"
    return render.redirect(
        _page(ns, robot.shortname), f"{robot.account.name} now has {what} on {changed} {plural}."
    )


async def set_federation(request: Request) -> Response:
    rt = access.runtime(request)
    ns = await _owner(request, changing=True)
    form = await read_form_lists(rt, request)
    v = await signed_in(rt, request)
    robot = await _robot(rt, ns, request.path_params["robot"])
    issuers, subjects = form.get("issuer", []), form.get("subject", [])
    if len(issuers) != len(subjects):
        raise WebError(400, "The form could not be read", "Send the form from the robot's page again.")
    entries = _federation_rows(_page(ns, robot.shortname), issuers, subjects)
    entries = list(dict.fromkeys(entries))  # a row typed twice is meant once
    if entries:
        await rt.db.write(robots.set_federation, robot, ns.account, entries, v.actor)
        count = f"{len(entries)} OIDC identit{'y' if len(entries) == 1 else 'ies'}"
        message = f"{robot.account.name} now trusts {count}."
    else:
        await rt.db.write(robots.delete_federation, robot, ns.account, v.actor)
        message = f"{robot.account.name} trusts no OIDC identity any more."
    return render.redirect(_page(ns, robot.shortname), message)


ISSUER_ADVICE = "An issuer is the https:// URL of an OIDC provider, up to 2048 characters."
SUBJECT_ADVICE = (
    "A subject is the token's sub claim, up to 1024 characters, like repo:org/app:ref:refs/heads/main."
)


def _wrong_issuer(issuer: str) -> str:
    if not issuer:
        return "Each row needs an issuer"
    if not issuer.startswith(("https://", "http://")):
        return "That is not an issuer URL"
    return "That issuer is too long" if len(issuer) > 2048 else ""


def _federation_rows(page: str, issuers: list[str], subjects: list[str]) -> list[tuple[str, str]]:
    """The rows typed, without the empty ones; each wrong row's message is next to its field
    (`issuer.<row>`, `subject.<row>`, counted from 0 as the form sends them)."""
    entries: list[tuple[str, str]] = []
    wrong: dict[str, str] = {}
    for row, (issuer, subject) in enumerate(zip(issuers, subjects, strict=True)):
        issuer, subject = issuer.strip(), subject.strip()
        if not issuer and not subject:
            continue
        if said := _wrong_issuer(issuer):
            wrong[f"issuer.{row}"] = f"{said}. {ISSUER_ADVICE} Empty the row to drop it."
        if not subject or len(subject) > 1024:
            said = "Each row needs a subject" if not subject else "That subject is too long"
            wrong[f"subject.{row}"] = f"{said}. {SUBJECT_ADVICE} Empty the row to drop it."
        entries.append((issuer, subject))
    if wrong:
        raise FormError(page, wrong)
    return entries


def _routes(kind: str) -> list[BaseRoute]:
    prefix = f"/{kind}/{{ns:str}}/robots"
    return [
        Route(f"{prefix}/new", create, methods=["POST"]),
        Route(f"{prefix}/{{robot:str}}", show, methods=["GET"]),
        Route(f"{prefix}/{{robot:str}}/credentials/{{file:str}}", download, methods=["GET"]),
        Route(f"{prefix}/{{robot:str}}/regenerate", regenerate, methods=["POST"]),
        Route(f"{prefix}/{{robot:str}}/delete", delete, methods=["POST"]),
        Route(f"{prefix}/{{robot:str}}/permissions", set_permissions, methods=["POST"]),
        Route(f"{prefix}/{{robot:str}}/federation", set_federation, methods=["POST"]),
    ]


ROUTES: list[BaseRoute] = [*_routes("organization"), *_routes("user")]
