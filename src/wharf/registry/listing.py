"""Tag listing and the catalog, both paged with `n` and `last` and a `Link` header."""

from __future__ import annotations

from urllib.parse import urlencode

from starlette.responses import JSONResponse, Response

from wharf.auth import permissions
from wharf.core import repositories, tags
from wharf.registry import _repo
from wharf.registry.context import Call
from wharf.registry.errors import BAD_PARAMETER, RegistryError


def _page_size(call: Call, maximum: int) -> int:
    raw = call.request.query_params.get("n")
    if raw is None or raw == "":
        return maximum
    if not raw.isdigit():
        raise RegistryError(BAD_PARAMETER, "n must be a non-negative integer")
    return min(int(raw), maximum)


def _paged(path: str, key: str, items: list[str], n: int, explicit_n: bool) -> Response:
    headers = {}
    more = len(items) > n
    items = items[:n]
    if more and items:
        query = urlencode({"n": n, "last": items[-1]}) if explicit_n else urlencode({"last": items[-1]})
        headers["Link"] = f'<{path}?{query}>; rel="next"'
    return JSONResponse(
        {**({"name": key} if key else {}), ("tags" if key else "repositories"): items}, headers=headers
    )


async def list_tags(call: Call, name: str) -> Response:
    repo = await _repo.for_read(call, name)
    n = _page_size(call, call.rt.settings.TAG_LIST_PAGE_LIMIT)
    last = call.request.query_params.get("last")
    names = await call.rt.db.read(tags.list_names, repo.id, after=last, limit=n + 1) if n else []
    return _paged(f"/v2/{name}/tags/list", name, names, n, "n" in call.request.query_params)


async def catalog(call: Call) -> Response:
    call.require("registry", "catalog", "*")
    assert call.grant is not None
    n = _page_size(call, call.rt.settings.CATALOG_PAGE_LIMIT)
    last = call.request.query_params.get("last")
    visible = permissions.visible_repositories(call.grant.identity, call.rt.settings)
    names = (
        await call.rt.db.read(repositories.list_names, visible=visible, after=last, limit=n + 1) if n else []
    )
    return _paged("/v2/_catalog", "", names, n, "n" in call.request.query_params)
