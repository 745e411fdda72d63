"""/repository/<ns>/<name>/triggers: a repository's build triggers and the form that sets up a
custom git one (with "Check the Dockerfile": the trigger analyzer's answer, and a pull robot
proposed for a private base); /repository/<ns>/<name>/trigger/<uuid>: one trigger, with the deploy key and
the webhook URL to copy to the git server, its recent builds, enable/disable and delete.
Repository admins only, as the API's trigger routes. The work is services/build_triggers.py's.
Connecting a trigger to GitHub, GitLab or Bitbucket sends the browser to the service and back
(/oauth2/<service>/callback/trigger...), then the trigger's page offers the user's repositories.
"""

from __future__ import annotations

from typing import Any, Protocol

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.auth.identity import Identity
from wharf.auth.permissions import RepositoryView
from wharf.core.build_triggers import TriggerRecord
from wharf.core.errors import InvalidInput, NotAllowed, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.runtime import Runtime
from wharf.services import (
    bitbucket_triggers,
    connected_triggers,
    github_triggers,
    gitlab_triggers,
    trigger_analysis,
)
from wharf.services import build_triggers as trigger_service
from wharf.web import access, forms, render
from wharf.web.errors import WebError
from wharf.web.forms import SUMMARY, FormError
from wharf.web.session import Visitor, read_form, signed_in

NO_STORE = {"Cache-Control": "no-store"}
"""The trigger's page shows its webhook token: never kept by a cache."""
RECENT = 10


async def _admined(request: Request, full_name: str | None = None) -> tuple[Visitor, RepositoryView]:
    """The visitor and the repository they administer: the path's, or `full_name` (GitLab's and
    Bitbucket's callbacks, whose path cannot name it)."""
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    full_name = full_name or request.path_params["repository"].rstrip("/")
    view = await access.repository(request, v, full_name, permissions.ADMIN)
    access.refuse_frozen(view, "build triggers")
    return v, view


def _base(view: RepositoryView) -> str:
    return f"/repository/{view.repo.full_name}"


async def listing(request: Request) -> Response:
    rt = access.runtime(request)
    _, view = await _admined(request)
    return await _listing(request, rt, view, None)


async def _listing(
    request: Request, rt: Runtime, view: RepositoryView, analysis: dict[str, Any] | None
) -> Response:
    found = await trigger_service.list_triggers(rt, view.repo)
    return render.page(
        request,
        "repository/triggers.html",
        page=access.repository_page(request, view),
        tab="builds",
        triggers=found,
        connectable=[(s, connected_triggers.NAMES[s]) for s in connected_triggers.enabled(rt)],
        analysis=analysis,
    )


def suggested_robot(analysis: dict[str, Any]) -> str | None:
    """The robot to propose for a private base: the first that can read it already."""
    if analysis.get("status") != trigger_analysis.REQUIRES_ROBOT:
        return None
    return next((str(r["name"]) for r in analysis.get("robots") or [] if r.get("can_read")), None)


async def analyze(request: Request) -> Response:
    """ "Check the Dockerfile" on the set-up form: the analyzer's answer shown above the form,
    what was typed kept, and a robot that can read a private base proposed when none was typed."""
    rt = access.runtime(request)
    form = await read_form(rt, request)
    v, view = await _admined(request)
    result = await trigger_analysis.analyze_config(rt, v.identity, view.repo, None, _config(form))
    values = forms.kept(form)
    robot = suggested_robot(result)
    if robot and not values.get("pull_robot", "").strip():
        values["pull_robot"] = robot
    action = f"{_base(view)}/triggers/new"
    request.scope["wharf.entered"] = forms.Entered(action, values, address=request.url.path)
    return await _listing(request, rt, view, result)


def _config(form: dict[str, str]) -> dict[str, Any]:
    templates = [t.strip() for t in form.get("tag_templates", "").split(",") if t.strip()]
    config: dict[str, Any] = {
        "build_source": form.get("build_source", "").strip(),
        "dockerfile_path": form.get("dockerfile_path", "").strip() or "/Dockerfile",
        "tag_templates": templates,
        "default_tag_from_ref": form.get("default_tag_from_ref") == "on",
        "latest_for_default_branch": form.get("latest_for_default_branch") == "on",
    }
    for name in ("context", "branchtag_regex", "default_branch", "known_hosts"):
        if form.get(name, "").strip():
            config[name] = form[name].strip()
    return config


async def create(request: Request) -> Response:
    """Create and activate a custom git trigger in one step (the API's two)."""
    rt = access.runtime(request)
    form = await read_form(rt, request)
    v, view = await _admined(request)
    page = f"{_base(view)}/triggers"
    robot = form.get("pull_robot", "").strip() or None
    config = _config(form)
    with forms.refusing(page):
        # The configuration is checked before the trigger exists: a refused form leaves none.
        trigger_service.clean_config(config)
        trigger = await trigger_service.create(rt, v.identity, view.repo, "custom-git")
        try:
            trigger = await trigger_service.activate(rt, v.identity, view.repo, trigger.uuid, config, robot)
        except (NotAllowed, NotFound) as e:
            await trigger_service.delete(rt, v.identity, view.repo, trigger.uuid)
            raise FormError(page, {"pull_robot": forms.sentence(str(e))}) from None
        except BaseException:
            await trigger_service.delete(rt, v.identity, view.repo, trigger.uuid)
            raise
    return render.redirect(
        f"{_base(view)}/trigger/{trigger.uuid}",
        "The trigger is set up. Give its key read access to the repository and point the push "
        "webhook at its URL.",
    )


async def show(request: Request) -> Response:
    rt = access.runtime(request)
    v, view = await _admined(request)
    uuid = request.path_params["trigger_uuid"]
    try:
        trigger = await trigger_service.get(rt, view.repo, uuid)
    except NotFound:
        raise WebError.not_found("This build trigger") from None
    recent = await trigger_service.recent_builds(rt, view.repo, uuid, RECENT)
    sources, problem = await _connected_sources(rt, v, view, trigger)
    return render.page(
        request,
        "repository/trigger.html",
        headers=NO_STORE,
        page=access.repository_page(request, view),
        tab="builds",
        trigger=trigger,
        credentials=trigger_service.credentials(rt, trigger),
        builds=recent,
        connected=connected_triggers.is_connected(trigger),
        service_name=connected_triggers.NAMES.get(trigger.service, trigger.service),
        sources=sources,
        sources_problem=problem,
    )


async def toggle(request: Request) -> Response:
    rt = access.runtime(request)
    form = await read_form(rt, request)
    v, view = await _admined(request)
    uuid = request.path_params["trigger_uuid"]
    page = f"{_base(view)}/trigger/{uuid}"
    enabled = form.get("enabled") == "true"
    try:
        await trigger_service.toggle(rt, v.identity, view.repo, uuid, enabled)
    except NotFound:
        raise WebError.not_found("This build trigger") from None
    except trigger_service.TriggerInactive as e:
        raise FormError(page, {SUMMARY: forms.sentence(str(e))}) from None
    return render.redirect(
        page, "The trigger is enabled." if enabled else "The trigger is disabled: pushes build nothing."
    )


async def delete(request: Request) -> Response:
    rt = access.runtime(request)
    await read_form(rt, request)
    v, view = await _admined(request)
    try:
        await trigger_service.delete(rt, v.identity, view.repo, request.path_params["trigger_uuid"])
    except NotFound:
        raise WebError.not_found("This build trigger") from None
    return render.redirect(f"{_base(view)}/triggers", "Deleted the trigger; its builds stay in the history.")


async def _connected_sources(
    rt: Runtime, v: Visitor, view: RepositoryView, trigger: TriggerRecord
) -> tuple[list[str], str | None]:
    """The repositories an inactive connected trigger may build, for the connected user; with
    what went wrong asking the service, if something did."""
    if trigger.is_active or not connected_triggers.is_connected(trigger):
        return [], None
    try:
        return await connected_triggers.source_names(rt, v.identity, view.repo, trigger.uuid), None
    except (NotAllowed, NotFound, InvalidInput) as e:
        return [], forms.sentence(str(e))


async def connect_github(request: Request) -> Response:
    """Send the browser to GitHub to let Wharf into the user's repositories."""
    rt = access.runtime(request)
    await read_form(rt, request)
    v, view = await _admined(request)
    try:
        url = github_triggers.connect_url(rt, v.identity, view.repo)
    except github_triggers.GitHubTriggersOff:
        raise WebError.not_found("GitHub build triggers") from None
    return _leave_for(request, url, "GitHub")


async def connect_gitlab(request: Request) -> Response:
    """Send the browser to GitLab to let Wharf into the user's projects."""
    rt = access.runtime(request)
    await read_form(rt, request)
    v, view = await _admined(request)
    try:
        url = gitlab_triggers.connect_url(rt, v.identity, view.repo)
    except gitlab_triggers.GitLabTriggersOff:
        raise WebError.not_found("GitLab build triggers") from None
    return _leave_for(request, url, "GitLab")


async def connect_bitbucket(request: Request) -> Response:
    """Send the browser to Bitbucket to let Wharf into the user's repositories."""
    rt = access.runtime(request)
    await read_form(rt, request)
    v, view = await _admined(request)
    try:
        url = bitbucket_triggers.connect_url(rt, v.identity, view.repo)
    except bitbucket_triggers.BitbucketTriggersOff:
        raise WebError.not_found("Bitbucket build triggers") from None
    return _leave_for(request, url, "Bitbucket")


def _leave_for(request: Request, url: str, service_name: str) -> Response:
    # A page that navigates, not a redirect of the POST: the CSP's form-action is 'self'.
    return render.page(
        request,
        "repository/trigger_connect.html",
        headers={"cache-control": "no-store", "referrer-policy": "no-referrer"},
        auth_url=url,
        service_name=service_name,
    )


async def github_callback(request: Request) -> Response:
    """GitHub sends the browser back here (Quay's path): the new trigger, inactive, is shown
    for its repository to be chosen."""
    rt = access.runtime(request)
    v, view = await _admined(request)
    params = request.query_params
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        raise WebError(403, "GitHub was not connected", forms.sentence(detail[:300]))
    try:
        trigger = await github_triggers.connect(
            rt, v.identity, view.repo, params.get("code", ""), params.get("state", "")
        )
    except github_triggers.GitHubTriggersOff:
        raise WebError.not_found("GitHub build triggers") from None
    except (NotAllowed, InvalidInput) as e:
        raise WebError(403, "GitHub was not connected", forms.sentence(str(e))) from None
    return render.redirect(
        f"{_base(view)}/trigger/{trigger.uuid}", "Connected to GitHub: choose the repository to build."
    )


class _Connecting(Protocol):
    """A service whose callback path cannot name the repository: its state does."""

    def state_repository(self, rt: Runtime, state: str) -> str: ...
    async def connect(
        self, rt: Runtime, who: Identity, repo: RepositoryRecord, code: str, state: str
    ) -> TriggerRecord: ...


async def _come_back(request: Request, service: _Connecting, name: str) -> Response:
    """The service sends the browser back here (Quay's path); the state names the repository."""
    rt = access.runtime(request)
    params = request.query_params
    if params.get("error"):
        detail = params.get("error_description") or params["error"]
        raise WebError(403, f"{name} was not connected", forms.sentence(detail[:300]))
    try:
        full_name = service.state_repository(rt, params.get("state", ""))
    except NotAllowed as e:
        raise WebError(403, f"{name} was not connected", forms.sentence(str(e))) from None
    v, view = await _admined(request, full_name)
    try:
        trigger = await service.connect(
            rt, v.identity, view.repo, params.get("code", ""), params.get("state", "")
        )
    except NotFound:
        # The service's triggers were turned off meanwhile.
        raise WebError.not_found(f"{name} build triggers") from None
    except (NotAllowed, InvalidInput) as e:
        raise WebError(403, f"{name} was not connected", forms.sentence(str(e))) from None
    return render.redirect(
        f"{_base(view)}/trigger/{trigger.uuid}", f"Connected to {name}: choose the repository to build."
    )


async def gitlab_callback(request: Request) -> Response:
    return await _come_back(request, gitlab_triggers, "GitLab")


async def bitbucket_callback(request: Request) -> Response:
    return await _come_back(request, bitbucket_triggers, "Bitbucket")


async def activate_connected(request: Request) -> Response:
    """Activate a connected trigger: Wharf adds the deploy key and webhook at the service."""
    rt = access.runtime(request)
    form = await read_form(rt, request)
    v, view = await _admined(request)
    uuid = request.path_params["trigger_uuid"]
    page = f"{_base(view)}/trigger/{uuid}"
    robot = form.get("pull_robot", "").strip() or None
    with forms.refusing(page):
        try:
            await trigger_service.activate(rt, v.identity, view.repo, uuid, _config(form), robot)
        except (NotAllowed, NotFound) as e:
            raise FormError(page, {SUMMARY: forms.sentence(str(e))}) from None
    return render.redirect(page, "The trigger is active: its pushes now come here.")


ROUTES: list[BaseRoute] = [
    Route("/repository/{repository:path}/triggers", listing, methods=["GET"]),
    Route("/repository/{repository:path}/triggers/new", create, methods=["POST"]),
    Route("/repository/{repository:path}/triggers/analyze", analyze, methods=["POST"]),
    Route("/repository/{repository:path}/trigger/{trigger_uuid}", show, methods=["GET"]),
    Route("/repository/{repository:path}/trigger/{trigger_uuid}/toggle", toggle, methods=["POST"]),
    Route("/repository/{repository:path}/trigger/{trigger_uuid}/delete", delete, methods=["POST"]),
    Route("/repository/{repository:path}/triggers/github", connect_github, methods=["POST"]),
    Route("/repository/{repository:path}/triggers/gitlab", connect_gitlab, methods=["POST"]),
    Route(
        "/repository/{repository:path}/trigger/{trigger_uuid}/activate", activate_connected, methods=["POST"]
    ),
    Route("/oauth2/github/callback/trigger/{repository:path}", github_callback, methods=["GET"]),
    Route("/repository/{repository:path}/triggers/bitbucket", connect_bitbucket, methods=["POST"]),
    Route(gitlab_triggers.CALLBACK_PATH, gitlab_callback, methods=["GET"]),
    Route(bitbucket_triggers.CALLBACK_PATH, bitbucket_callback, methods=["GET"]),
]
