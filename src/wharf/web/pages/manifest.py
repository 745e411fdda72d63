"""/repository/<ns>/<name>/manifest/<digest>: one manifest: an image's history and configuration
(from its config blob) and its layers, or the platforms of an index; and its labels (added and
removed here by writers)."""

from __future__ import annotations

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.auth import permissions
from wharf.core import tag_changes
from wharf.oci.manifest import ManifestError, parse_manifest
from wharf.services import manifest_details
from wharf.web import access, render
from wharf.web.errors import WebError
from wharf.web.session import read_form, visitor


class _DigestConvertor(Convertor[str]):
    """Only a digest: a repository may have a path component named `manifest`."""

    regex = r"[a-z0-9]+(?:[.+_-][a-z0-9]+)*:[a-zA-Z0-9=_-]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("digest", _DigestConvertor())


async def show(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    full_name, digest = request.path_params["repository"], request.path_params["digest"]
    view = await access.repository(request, v, full_name)
    found = await manifest_details.of(rt, view.repo, digest, v.identity.account_id)
    try:
        parsed = parse_manifest(found.record.content, found.record.media_type)
    except ManifestError:
        parsed = None  # stored before a stricter parser; shown raw
    config = await manifest_details.image_config_of(rt, parsed) if parsed is not None else None
    page = access.repository_page(request, view)
    return render.page(
        request,
        "repository/manifest.html",
        page=page,
        tab="tags",
        digest=digest,
        parsed=parsed,
        config=config.config if config else None,
        config_note=config.note if config else None,
        raw=found.record.content.decode("utf-8", errors="replace"),
        record=found.record,
        labels=found.labels,
        tags=found.tags,
        starred=found.starred,
        settings=rt.settings,
    )


async def change_labels(request: Request) -> Response:
    rt = access.runtime(request)
    v = await visitor(rt, request)
    full_name, digest = request.path_params["repository"], request.path_params["digest"]
    form = await read_form(rt, request)
    view = await access.repository(request, v, full_name, permissions.WRITE, changing="labels")
    back = f"/repository/{full_name}/manifest/{digest}"
    if request.path_params["action"] == "add":
        key, value = form.get("key", "").strip(), form.get("value", "")
        await rt.db.write(tag_changes.add_label, view.repo, digest, key, value, "text/plain", v.actor)
        return render.redirect(back, f"Added the label {key}.")
    if request.path_params["action"] == "delete":
        label = await rt.db.write(tag_changes.remove_label, view.repo, digest, form.get("label", ""), v.actor)
        return render.redirect(back, f"Deleted the label {label.key}.")
    raise WebError.not_found("This action")


ROUTES: list[BaseRoute] = [
    Route(
        "/repository/{repository:path}/manifest/{digest:digest}/labels/{action}",
        change_labels,
        methods=["POST"],
    ),
    Route("/repository/{repository:path}/manifest/{digest:digest}", show, methods=["GET"]),
]
