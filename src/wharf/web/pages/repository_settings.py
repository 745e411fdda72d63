"""The repository page's admin tabs: ?tab=logs (usage logs) and ?tab=settings (description,
visibility, permissions, notifications, state, deletion), and the forms they post to
/repository/<ns>/<name>/settings/<action> and /repository/<ns>/<name>/logs/export.

Only the repository's admins see these tabs, as on Quay. Every change goes through the core
function the API uses, which writes the usage-log entry in the same transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth.permissions import ADMIN, RepositoryView
from wharf.core import (
    accounts,
    audit,
    events,
    grants,
    logs,
    notifications,
    repositories,
    teams,
)
from wharf.core.errors import InvalidInput
from wharf.core.paging import Paged
from wharf.core.repositories import RepositoryRecord
from wharf.runtime import Runtime
from wharf.services import address_confirmation
from wharf.services import notifications as notification_service
from wharf.services import repositories as repository_service
from wharf.services import repository_settings as settings_service
from wharf.web import access, forms, render
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.pages import _list_query as list_query
from wharf.web.pages import logs as logs_view
from wharf.web.pages import repository_mirror, retention
from wharf.web.session import FRESH_LOGIN_S, confirm_fresh_login, read_form, visitor

"""Deleting a repository asks for the password again when it was entered longer ago than this."""
DESCRIPTION_MAX = 256 * 1024
NOTICE_ATTEMPTS = 3
NOTICES_PER_PAGE = 25
NOTICES_VIEW = {"tab": "settings"}
"""The deliveries listed under each notification."""

METHOD_LABELS = {
    "webhook": "Webhook POST",
    "slack": "Slack",
    "email": "E-mail",
    "quay_notification": "Notification in Wharf",
    "flowdock": "Flowdock",
    "hipchat": "HipChat",
}
EVENT_LABELS = {
    "repo_push": "Push to repository",
    "build_queued": "Build queued",
    "build_start": "Build started",
    "build_success": "Build succeeded",
    "build_failure": "Build failed",
    "build_cancelled": "Build cancelled",
    "vulnerability_found": "Vulnerability found",
    "repo_mirror_sync_started": "Mirror sync started",
    "repo_mirror_sync_success": "Mirror sync succeeded",
    "repo_mirror_sync_failed": "Mirror sync failed",
    "repo_image_expiry": "Tags about to expire",
}


@dataclass(frozen=True, slots=True)
class Notice:
    """A notification as the settings tab lists it."""

    record: notifications.NotificationRecord
    attempts: list[notifications.Attempt]

    @property
    def target(self) -> str:
        """Where it goes, in words."""
        c = self.record.config
        if self.record.method in ("webhook", "slack"):
            return str(c.get("url", ""))
        if self.record.method == "email":
            return str(c.get("email", ""))
        if self.record.method == "quay_notification":
            target = c.get("target") or {}
            return f"{target.get('kind', '')} {target.get('name', '')}".strip()
        if self.record.method == "hipchat":
            return f"room {c.get('room_id', '')}"
        return ""


def repository_events() -> list[tuple[str, str]]:
    return [
        (name, EVENT_LABELS.get(name, name))
        for name, kind in events.EVENTS.items()
        if not kind.namespace_event
    ]


async def settings_context(rt: Runtime, request: Request, view: RepositoryView) -> dict[str, Any]:
    repo = view.repo
    nq = list_query.parse("", request.query_params, NOTICES_VIEW)
    found = await settings_service.read(
        rt, view.namespace, repo, NOTICE_ATTEMPTS, contains=nq.q, page=nq.page, per_page=NOTICES_PER_PAGE
    )
    listed = found.notifications
    out: dict[str, Any] = {
        "description": found.description,
        "user_roles": found.user_roles,
        "team_roles": found.team_roles,
        "teams": found.teams,
        "robots": found.robots,
        "notices": Paged([Notice(n, a) for n, a in listed.rows], listed.total, listed.page, listed.per_page),
        "lq": nq,
        # the pager's links come back to the list, not to the top of the tab
        "notice_link": lambda n: f"{nq.link(n)}#notifications",
    }
    out.update(
        roles=grants.ROLES,
        states=[s for s in repositories.STATES if s != "ORG_MIRROR"],  # set by org mirroring only
        state_name=repositories.STATE_NAMES.get(repo.state, str(repo.state)),
        events=repository_events(),
        methods=[(m, label) for m, label in METHOD_LABELS.items() if m in notifications.METHODS],
        severities=events.SEVERITIES,
        mail_enabled=notification_service.mail_enabled(rt.settings),
        fresh_window_min=FRESH_LOGIN_S // 60,
        disable_after=notifications.DISABLE_AFTER,
    )
    out.update(await retention.repository_context(rt, repo))
    out.update(await repository_mirror.context(rt, view))
    return out


async def logs_context(rt: Runtime, request: Request, view: RepositoryView, full_name: str) -> dict[str, Any]:
    found = await logs_view.view(
        rt,
        request,
        logs.Scope(repository_id=view.repo.id),
        base=f"/repository/{full_name}?tab=logs",
        export_action=f"/repository/{full_name}/logs/export",
    )
    return {"logs": found}


def _role(form: dict[str, str]) -> str:
    role = form.get("role", "")
    if role not in grants.ROLES:
        raise WebError(400, "Pick a role", "Choose read, write or admin.")
    return role


def _method_config(form: dict[str, str], method: str) -> dict[str, Any]:
    """The method's config from the form's fields (each method has its own)."""
    if method in ("webhook", "slack"):
        config: dict[str, Any] = {"url": form.get("url", "").strip()}
        if method == "webhook" and form.get("payload") == "legacy":
            config["payload"] = "legacy"
        return config
    if method == "email":
        return {"email": form.get("email", "").strip()}
    if method == "quay_notification":
        return {
            "target": {"kind": form.get("target_kind") or "user", "name": form.get("target_name", "").strip()}
        }
    if method == "flowdock":
        return {"flow_api_token": form.get("flow_api_token", "").strip()}
    if method == "hipchat":
        return {
            "notification_token": form.get("notification_token", "").strip(),
            "room_id": form.get("room_id", "").strip(),
        }
    raise WebError(400, "Pick a method", "Choose how the notification is sent.")


def _event_config(form: dict[str, str], event: str) -> dict[str, Any]:
    if event == "vulnerability_found" and form.get("level", "") != "":
        return {"level": form["level"]}
    if event == "repo_image_expiry":
        try:
            return {"days": int(form.get("days", "") or "7")}
        except ValueError:
            raise InvalidInput("enter a whole number of days from 1 to 365", field="days") from None
    if event.startswith("build_") and form.get("ref_regex", "").strip():
        return {"ref-regex": form["ref_regex"].strip()}
    return {}


async def change(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    full_name = request.path_params["repository"]
    action = request.path_params["action"]
    form = await read_form(rt, request)
    view = await access.repository(request, v, full_name, ADMIN)
    repo, by = view.repo, v.actor
    back = f"/repository/{full_name}?tab=settings"

    if action == "description":
        text = form.get("description", "")
        if len(text) > DESCRIPTION_MAX:
            raise FormError(
                f"{back}#description", description="The description is longer than 256 KiB: shorten it."
            )
        await rt.db.write(repositories.set_description, repo, text, by)
        return render.redirect(back, "Saved the description.")
    if action == "visibility":
        visibility = form.get("visibility", "")
        if visibility not in ("public", "private"):
            raise WebError(400, "Pick a visibility", "Choose public or private.")
        await rt.db.write(repositories.set_visibility, repo, visibility, by)
        who = "anyone who can reach this registry" if visibility == "public" else "only those granted a role"
        return render.redirect(back, f"{full_name} is now {visibility}: {who} can pull it.")
    if action == "state":
        state = form.get("state", "")
        if state not in repositories.STATES:
            raise WebError(400, "Pick a state", f"Choose one of {', '.join(repositories.STATES)}.")
        await rt.db.write(repositories.set_state, repo, repositories.STATES[state], by)
        return render.redirect(back, f"{full_name} is now in state {state}.")
    if action in ("grant", "revoke"):
        return await _permission(rt, view, form, action, by, back)
    if action in repository_mirror.ACTIONS:
        return await repository_mirror.change(rt, view, form, action, by, back)
    if action.startswith("notification-"):
        return await _notification(rt, view, form, action.removeprefix("notification-"), by, back)
    if action == "delete":
        await confirm_fresh_login(rt, request, v, form, f"{back}#delete")
        typed = form.get("confirm", "").strip()
        if typed != full_name:
            raise FormError(
                f"{back}#delete",
                confirm=f"That is not the repository's full name: type {full_name} exactly to delete it. "
                "Nothing was deleted.",
            )
        await repository_service.delete(rt, repo, by)
        return render.redirect("/", f"Deleted repository {full_name}.")
    raise WebError.not_found("This action")


async def export(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    full_name = request.path_params["repository"]
    form = await read_form(rt, request)
    view = await access.repository(request, v, full_name, ADMIN)
    repo = view.repo
    return await logs_view.start_export(
        rt,
        request,
        v,
        logs.Scope(repository_id=repo.id),
        (repo.namespace, repo.name),
        form,
        f"/repository/{full_name}?tab=logs",
    )


ROUTES: list[BaseRoute] = [
    Route("/repository/{repository:path}/settings/{action}", change, methods=["POST"]),
    Route("/repository/{repository:path}/logs/export", export, methods=["POST"]),
]


async def _permission(
    rt: Runtime, view: RepositoryView, form: dict[str, str], action: str, by: audit.Actor, back: str
) -> Response:
    repo, namespace = view.repo, view.namespace
    kind, name = form.get("kind", "user"), form.get("name", "").strip()
    if not name:
        raise FormError(
            f"{back}#permissions",
            name="Enter the name of a user or robot, or pick a team.",
            action=f"/repository/{repo.full_name}/settings/grant-user",  # the team form is a list
        )
    if kind == "team":
        if namespace.kind != "org":
            raise WebError(
                400, "No teams here", "Only an organization's repositories can grant roles to teams."
            )
        team = await rt.db.read(teams.get, namespace.id, name)
        if team is None:
            raise WebError(
                404, f"No team {name} in {namespace.name}", "Pick a team from the list, or create it first."
            )
        if action == "grant":
            role = _role(form)
            await rt.db.write(grants.set_team_role, repo, team, role, by)
            return render.redirect(back, f"Team {name} now has the {role} role on {repo.full_name}.")
        await rt.db.write(grants.delete_team_role, repo, team, by)
        return render.redirect(back, f"Team {name} no longer has a role on {repo.full_name}.")
    account = await rt.db.read(accounts.get_by_name, name)
    if account is None or account.kind == "org":
        raise FormError(
            f"{back}#permissions",
            name=f"There is no user or robot named {name!r}. Check the spelling; a robot's name has its "
            f"namespace first, like {namespace.name}+deployer. To give an organization's members a role, "
            "grant it to one of its teams.",
            action=f"/repository/{repo.full_name}/settings/grant-user",
        )
    if action == "grant":
        role = _role(form)
        await rt.db.write(grants.set_user_role, repo, account, role, by)
        return render.redirect(back, f"{name} now has the {role} role on {repo.full_name}.")
    await rt.db.write(grants.delete_user_role, repo, account, by)
    return render.redirect(back, f"{name} no longer has a role on {repo.full_name}.")


async def _ask_address(
    rt: Runtime, repo: RepositoryRecord, email: str, by: audit.Actor, back: str
) -> Response:
    """An address has to agree to get a repository's mail first (core/authorized_emails.py): send
    it the link, and let the admin create the notification once it has been opened."""
    try:
        await address_confirmation.ask(rt, repo, email, by.name, by.origin)
    except address_confirmation.MailFailed as e:
        raise WebError(
            502, "The confirmation e-mail could not be sent", f"{e}. Try again, or ask the registry's admin."
        ) from None
    return render.redirect(
        back + "#notifications",
        f"{email} has not agreed to receive these notifications yet: it has been sent a link to confirm. "
        "Once it has been opened, create the notification again.",
    )


async def _notification(
    rt: Runtime, view: RepositoryView, form: dict[str, str], action: str, by: audit.Actor, back: str
) -> Response:
    repo, namespace = view.repo, view.namespace
    if action == "create":
        return await _create_notification(rt, view, form, by, back)
    uuid = form.get("uuid", "")
    # a row's action comes back to the row's page of the list
    row_page = list_query.back_url("", form.get("back", ""), NOTICES_VIEW)
    back = f"/repository/{repo.full_name}{row_page}#notifications"
    if action == "test":
        found = await notification_service.send_test(rt, namespace, repo, uuid, by)
        return render.redirect(
            back,
            f"Sent a test of “{found.title or EVENT_LABELS.get(found.event, found.event)}”; its outcome "
            "appears under Recent deliveries in a moment.",
        )
    if action == "reset":
        found = await rt.db.write(notifications.reset_failures, namespace, repo, uuid, by)
        return render.redirect(
            back, f"Re-enabled “{found.title or EVENT_LABELS.get(found.event, found.event)}”."
        )
    if action == "delete":
        await rt.db.write(notifications.delete_notification, namespace, repo, uuid, by)
        return render.redirect(back, "Deleted the notification.")
    raise WebError.not_found("This action")


_METHOD_FIELDS = {
    "webhook": "url",
    "slack": "url",
    "email": "email",
    "quay_notification": "target_name",
    "flowdock": "flow_api_token",
    "hipchat": "room_id",
}
"""The form's field a method's config error is about."""


async def _create_notification(
    rt: Runtime, view: RepositoryView, form: dict[str, str], by: audit.Actor, back: str
) -> Response:
    """A refusal shows the settings tab again, the form open, the message next to the field."""
    repo, namespace = view.repo, view.namespace
    here = f"{back}#notifications"
    event, method = form.get("event", ""), form.get("method", "")
    if event not in dict(repository_events()):
        raise FormError(here, event="Pick the event that sends the notification from the list.")
    if method not in _METHOD_FIELDS:
        raise FormError(here, method="Pick how the notification is sent from the list.")
    config = _method_config(form, method)
    title = form.get("title", "").strip() or None
    with forms.refusing(here, {"target": "target_name"}):
        try:
            await notification_service.create(
                rt, namespace, repo, event, method, config, _event_config(form, event), title, by
            )
        except notification_service.InvalidMethodConfig as e:
            raise FormError(here, {_METHOD_FIELDS[method]: _config_message(str(e))}) from None
        except notification_service.MailOff:
            raise FormError(
                here,
                method="This registry sends no e-mail: pick another method, or ask its admin to set "
                "MAIL_SERVER.",
            ) from None
        except notification_service.EmailNotConfirmed:
            return await _ask_address(rt, repo, config["email"], by, back)
    return render.redirect(back, f"Added the notification “{title or EVENT_LABELS.get(event, event)}”.")


def _config_message(text: str) -> str:
    """A method's config refusal (integrations/notification_methods.py) as advice to a person."""
    if "internal address" in text:
        host = text.removeprefix("refusing to call ").split(": it is", 1)[0]
        return (
            f"The registry does not call {host}: it is an internal address, and calling it could reach "
            "services behind the registry. Use an address reachable from the internet, or ask the "
            "registry's admin to allow this one in SSRF_ALLOWED_HOSTS."
        )
    if "WEBHOOK_HOSTNAME_BLACKLIST" in text:
        return "The registry's admin blocked this host (WEBHOOK_HOSTNAME_BLACKLIST): use another address."
    if "http:// or https://" in text:
        return "Enter a full http:// or https:// address, like https://hooks.example.com/wharf."
    if "e-mail address" in text:
        return "Enter an e-mail address like team@example.com."
    return (
        forms.sentence(text.replace("config.", "").replace("_", " ")) + " Fill it in and send the form again."
    )
