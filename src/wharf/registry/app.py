"""The /v2 ASGI application: route matching, authentication, error rendering."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from wharf.core.errors import DomainError, TokenRevoked
from wharf.registry import blobs, listing, manifests, token
from wharf.registry.context import Call, authenticate, challenge, revoked
from wharf.registry.errors import NOT_FOUND, UNAUTHORIZED, UNSUPPORTED, RegistryError, from_domain
from wharf.runtime import Runtime
from wharf.services import pulls

log = logging.getLogger("wharf.registry")

Handler = Callable[..., Awaitable[Response]]

_ROUTES: list[tuple[re.Pattern[str], dict[str, Handler]]] = [
    (
        re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$"),
        {
            "GET": lambda c, name, reference: manifests.get_manifest(c, name, reference, head=False),
            "HEAD": lambda c, name, reference: manifests.get_manifest(c, name, reference, head=True),
            "PUT": manifests.put_manifest,
            "DELETE": manifests.delete_manifest,
        },
    ),
    (
        re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/?$"),
        {"POST": blobs.start_upload},
    ),
    (
        re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<upload_id>[^/]+)$"),
        {
            "GET": blobs.get_upload,
            "PATCH": blobs.patch_upload,
            "PUT": blobs.put_upload,
            "DELETE": blobs.delete_upload,
        },
    ),
    (
        re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<reference>[^/]+)$"),
        {
            "GET": lambda c, name, reference: blobs.get_blob(c, name, reference, head=False),
            "HEAD": lambda c, name, reference: blobs.get_blob(c, name, reference, head=True),
            "DELETE": blobs.delete_blob,
        },
    ),
    (re.compile(r"^/v2/(?P<name>.+)/tags/list$"), {"GET": listing.list_tags}),
    (re.compile(r"^/v2/(?P<name>.+)/referrers/(?P<subject>[^/]+)$"), {"GET": manifests.referrers}),
]

_API_VERSION = ("Docker-Distribution-API-Version", "registry/2.0")


class RegistryApp:
    def __init__(self, rt: Runtime) -> None:
        self.rt = rt

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive)
        try:
            response = await self._dispatch(request)
        except RegistryError as e:
            response = _error_response(e, request.method)
        except TokenRevoked:
            response = _error_response(revoked(self.rt, request), request.method)
        except DomainError as e:
            response = _error_response(from_domain(e), request.method)
        response.headers.setdefault(*_API_VERSION)
        await response(scope, receive, send)

    async def _dispatch(self, request: Request) -> Response:
        path = listing.request_path(request)
        method = request.method
        if path in ("/v2", "/v2/"):
            if method not in ("GET", "HEAD"):
                raise RegistryError(UNSUPPORTED, headers={"Allow": "GET, HEAD"})
            return await self._base(request)
        if path == "/v2/auth":
            return await token.token(self.rt, request)
        if path == "/v2/_catalog":
            if method != "GET":
                raise RegistryError(UNSUPPORTED, headers={"Allow": "GET"})
            return await listing.catalog(Call(self.rt, request, authenticate(self.rt, request)))
        for pattern, handlers in _ROUTES:
            m = pattern.match(path)
            if m is None:
                continue
            handler = handlers.get(method)
            if handler is None:
                raise RegistryError(
                    UNSUPPORTED, f"{method} is not allowed here", headers={"Allow": ", ".join(handlers)}
                )
            call = Call(self.rt, request, authenticate(self.rt, request))
            return await handler(call, **m.groupdict())
        raise RegistryError(NOT_FOUND)

    async def _base(self, request: Request) -> Response:
        grant = authenticate(self.rt, request)
        if grant is None:
            raise RegistryError(UNAUTHORIZED, headers={"WWW-Authenticate": challenge(self.rt, request)})
        await pulls.require_current(self.rt, grant)  # a revoked token says so here too
        return Response(b"{}", media_type="application/json")


def _error_response(e: RegistryError, method: str) -> Response:
    body = b"" if method == "HEAD" else json.dumps(e.body()).encode()
    return Response(body, status_code=e.code.status, headers=e.headers, media_type="application/json")
