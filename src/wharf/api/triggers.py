"""Build triggers, as Quay's /api/v1 has them (all for repository admins): list, read, enable or
disable, delete, activate, analyze, start by hand, the builds each started, and the helpers the
setup wizard asks (`fields`, `sources`, `namespaces`, `subdir`); plus `createBuildTrigger`, which
Quay does in its web flows and Wharf offers here. The push webhook itself is `webhooks` below,
outside /api/v1 as in Quay.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request, Response
from pydantic import BaseModel, Field

from wharf.api.access import ContentAdminRepository
from wharf.api.builds import build_view
from wharf.api.deps import Rt, User
from wharf.api.errors import invalid_request, not_found
from wharf.auth.address import client_address
from wharf.core.build_triggers import TriggerRecord
from wharf.runtime import Runtime
from wharf.services import build_triggers as trigger_service
from wharf.services import connected_triggers, trigger_analysis

router = APIRouter(tags=["trigger"])

_TRIGGER = "/repository/{repository:path}/trigger/{trigger_uuid}"


class CreateTrigger(BaseModel):
    service: str = Field("custom-git", max_length=32)


class UpdateTrigger(BaseModel):
    enabled: bool


class ActivateTrigger(BaseModel):
    config: dict[str, Any]
    pull_robot: str | None = Field(None, max_length=255)


class AnalyzeTrigger(BaseModel):
    config: dict[str, Any]


class RunParameters(BaseModel):
    model_config = {"extra": "forbid"}
    branch_name: str | None = Field(None, max_length=255)
    commit_sha: str | None = Field(None, max_length=64)
    refs: dict[str, Any] | None = None


class SourcesRequest(BaseModel):
    namespace: str | None = Field(None, max_length=255)


def trigger_view(rt: Runtime, trigger: TriggerRecord) -> dict[str, Any]:
    """Quay's trigger_view for an admin: the configuration holds the deploy key and the webhook
    URL to copy (`credentials`, as Quay's custom trigger has them)."""
    config = dict(trigger.config)
    if trigger.is_active:
        config["credentials"] = trigger_service.credentials(rt, trigger)
    robot = trigger.pull_robot
    return {
        "id": trigger.uuid,
        "service": trigger.service,
        "is_active": trigger.is_active,
        "build_source": trigger.config.get("build_source"),
        "repository_url": connected_triggers.repository_url(rt, trigger),
        "config": config,
        "can_invoke": True,
        "enabled": trigger.enabled,
        "disabled_reason": trigger.disabled_reason,
        "pull_robot": {"name": robot, "kind": "user", "is_robot": True} if robot else None,
    }


@router.get(
    "/repository/{repository:path}/trigger/",
    operation_id="listBuildTriggers",
    summary="A repository's build triggers",
)
async def list_build_triggers(rt: Rt, target: ContentAdminRepository, repository: str) -> dict[str, Any]:
    found = await trigger_service.list_triggers(rt, target.repo)
    return {"triggers": [trigger_view(rt, t) for t in found]}


@router.post(
    "/repository/{repository:path}/trigger/",
    operation_id="createBuildTrigger",
    status_code=201,
    summary="Create an inactive build trigger (Wharf: Quay does this in its web flows)",
)
async def create_build_trigger(
    rt: Rt, who: User, target: ContentAdminRepository, repository: str, body: CreateTrigger
) -> dict[str, Any]:
    return trigger_view(rt, await trigger_service.create(rt, who, target.repo, body.service))


@router.get(_TRIGGER, operation_id="getBuildTrigger", summary="A build trigger")
async def get_build_trigger(
    rt: Rt, target: ContentAdminRepository, repository: str, trigger_uuid: str
) -> dict[str, Any]:
    return trigger_view(rt, await trigger_service.get(rt, target.repo, trigger_uuid))


@router.put(_TRIGGER, operation_id="updateBuildTrigger", summary="Enable or disable a build trigger")
async def update_build_trigger(
    rt: Rt, who: User, target: ContentAdminRepository, repository: str, trigger_uuid: str, body: UpdateTrigger
) -> dict[str, Any]:
    found = await trigger_service.toggle(rt, who, target.repo, trigger_uuid, body.enabled)
    return trigger_view(rt, found)


@router.delete(_TRIGGER, operation_id="deleteBuildTrigger", status_code=204, summary="Delete a build trigger")
async def delete_build_trigger(
    rt: Rt, who: User, target: ContentAdminRepository, repository: str, trigger_uuid: str
) -> Response:
    await trigger_service.delete(rt, who, target.repo, trigger_uuid)
    return Response(status_code=204)


@router.post(f"{_TRIGGER}/activate", operation_id="activateBuildTrigger", summary="Activate a build trigger")
async def activate_build_trigger(
    rt: Rt,
    who: User,
    target: ContentAdminRepository,
    repository: str,
    trigger_uuid: str,
    body: ActivateTrigger,
) -> dict[str, Any]:
    found = await trigger_service.activate(rt, who, target.repo, trigger_uuid, body.config, body.pull_robot)
    return trigger_view(rt, found)


@router.post(
    f"{_TRIGGER}/analyze",
    operation_id="analyzeBuildTrigger",
    summary="What a trigger's Dockerfile builds on, and whether it needs a pull robot",
)
async def analyze_build_trigger(
    rt: Rt,
    who: User,
    target: ContentAdminRepository,
    repository: str,
    trigger_uuid: str,
    body: AnalyzeTrigger,
) -> dict[str, Any]:
    """What the Dockerfile builds on, read from the source (services/trigger_analysis.py)."""
    return await trigger_analysis.analyze(rt, who, target.repo, trigger_uuid, body.config)


@router.post(
    f"{_TRIGGER}/start",
    operation_id="manuallyStartBuildTrigger",
    status_code=201,
    summary="Build a commit with the trigger's configuration now",
)
async def manually_start_build_trigger(
    rt: Rt,
    who: User,
    target: ContentAdminRepository,
    repository: str,
    trigger_uuid: str,
    body: RunParameters,
    response: Response,
) -> dict[str, Any]:
    run = trigger_service.RunParameters(body.commit_sha, body.branch_name, body.refs)
    build = await trigger_service.manual_start(rt, who, target.repo, trigger_uuid, run)
    response.headers["Location"] = (
        f"{rt.settings.public_origin}/api/v1/repository/{target.repo.full_name}/build/{build.uuid}/status"
    )
    return build_view(build, True, True)


@router.get(
    f"{_TRIGGER}/builds", operation_id="listTriggerRecentBuilds", summary="The builds a trigger started"
)
async def list_trigger_recent_builds(
    rt: Rt,
    target: ContentAdminRepository,
    repository: str,
    trigger_uuid: str,
    limit: int = Query(5, ge=0, le=100, description="The maximum number of builds to return"),
) -> dict[str, Any]:
    found = await trigger_service.recent_builds(rt, target.repo, trigger_uuid, limit)
    return {"builds": [build_view(b, True, True) for b in found]}


# The wizard's helpers. A GitHub or GitLab trigger connected through Wharf's OAuth application
# answers from its service (as the user who connected it); a custom git server has no API to list its
# repositories, branches or directories: they answer empty, or not found for fields.


@router.post(
    f"{_TRIGGER}/fields/{{field_name}}",
    operation_id="listTriggerFieldValues",
    summary="Values of a run field",
)
async def list_trigger_field_values(
    rt: Rt, who: User, target: ContentAdminRepository, repository: str, trigger_uuid: str, field_name: str
) -> dict[str, Any]:
    values = await connected_triggers.field_values(rt, who, target.repo, trigger_uuid, field_name)
    if values is None:
        raise not_found(f"no values are known for {field_name[:40]}")
    return {"values": values}


@router.post(
    f"{_TRIGGER}/sources", operation_id="listTriggerBuildSources", summary="Build sources in a namespace"
)
async def list_trigger_build_sources(
    rt: Rt,
    who: User,
    target: ContentAdminRepository,
    repository: str,
    trigger_uuid: str,
    body: SourcesRequest,
) -> dict[str, Any]:
    if not body.namespace:
        raise invalid_request("namespace is required")
    found = await connected_triggers.sources(rt, who, target.repo, trigger_uuid, body.namespace)
    return {"sources": found}


@router.get(
    f"{_TRIGGER}/namespaces",
    operation_id="listTriggerBuildSourceNamespaces",
    summary="Namespaces of build sources",
)
async def list_trigger_build_source_namespaces(
    rt: Rt, who: User, target: ContentAdminRepository, repository: str, trigger_uuid: str
) -> dict[str, Any]:
    return {"namespaces": await connected_triggers.namespaces(rt, who, target.repo, trigger_uuid)}


@router.post(f"{_TRIGGER}/subdir", operation_id="listBuildTriggerSubdirs", summary="Buildable directories")
async def list_build_trigger_subdirs(
    rt: Rt,
    who: User,
    target: ContentAdminRepository,
    repository: str,
    trigger_uuid: str,
    body: dict[str, Any],
) -> dict[str, Any]:
    return await connected_triggers.subdirs(rt, who, target.repo, trigger_uuid, body)


# --- the push webhook (outside /api/v1, as in Quay) ----------------------------------------------

webhooks = APIRouter(tags=["trigger"], include_in_schema=False)


@webhooks.post("/webhooks/push/trigger/{trigger_uuid}")
async def build_trigger_webhook(rt: Rt, trigger_uuid: str, request: Request) -> Response:
    """A git server's push: no login here, the trigger's token or the sender's signature proves it."""
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > trigger_service.MAX_PAYLOAD:
            raise invalid_request("the payload is too large")
    headers = {k.lower(): v for k, v in request.headers.items()}
    ip = client_address(request, rt.settings.TRUSTED_PROXIES)
    outcome = await trigger_service.receive_push(rt, trigger_uuid, headers, bytes(body), ip)
    return Response(status_code=200, content=outcome.skipped or "Okay", media_type="text/plain")
