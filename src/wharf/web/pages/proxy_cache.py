"""The proxy-cache form on an organization's Settings tab (FEATURE_PROXY_CACHE): save, check the
upstream (Validate) or remove the configuration, through the services /api/v1 uses."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core.errors import UpstreamFailed, UpstreamRefused
from wharf.runtime import Runtime
from wharf.services import proxy_cache
from wharf.web import access, forms, render
from wharf.web.access import NamespacePage
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.session import Visitor, read_form

ADVICE = {
    "upstream_registry": "Write the registry's host, with a namespace if you like: quay.io or "
    "quay.io/projectquay.",
}


def entered(form: dict[str, str], page: str) -> proxy_cache.NewConfig:
    """The configuration typed into a proxy-cache form (here, and on the organization creation page)."""
    raw = form.get("expiration_s", "").strip() or "86400"
    if not raw.isdigit() or len(raw) > 10:
        raise FormError(page, expiration_s="Write the seconds as a whole number, such as 86400 for a day.")
    return proxy_cache.NewConfig(
        form.get("upstream_registry", "").strip(),
        form.get("upstream_registry_username", "").strip() or None,
        form.get("upstream_registry_password", "") or None,
        int(raw),
        form.get("insecure") == "on",
    )


async def _save(rt: Runtime, v: Visitor, ns: NamespacePage, form: dict[str, str], page: str) -> Response:
    new = entered(form, page)
    with forms.refusing(page, advice=ADVICE):
        await proxy_cache.create(rt, ns.account, new, v.actor)
    return render.redirect(page, f"{ns.name} is now a proxy cache of {new.upstream_registry}.")


async def validated(rt: Runtime, form: dict[str, str], page: str) -> str:
    """Check the typed configuration with its upstream: what to tell the visitor, or FormError."""
    new = entered(form, page)
    with forms.refusing(page, advice=ADVICE):
        try:
            outcome = await proxy_cache.validate(rt, new)
        except (UpstreamFailed, UpstreamRefused) as e:
            raise FormError(page, upstream_registry=forms.sentence(str(e))) from None
    said = "logged in" if outcome == "Valid" else "answers, and wants a login to pull (none was given)"
    return f"The upstream {new.upstream_registry} {said}. Nothing was saved yet."


async def _validate(rt: Runtime, _v: Visitor, ns: NamespacePage, form: dict[str, str], page: str) -> Response:
    return render.redirect(page, await validated(rt, form, page))


async def _remove(rt: Runtime, v: Visitor, ns: NamespacePage, _form: dict[str, str], page: str) -> Response:
    with forms.refusing(page, missing="It was removed already."):
        await proxy_cache.delete(rt, ns.account, v.actor)
    return render.redirect(page, f"{ns.name} is no longer a proxy cache; what it cached stays.")


_ACTIONS: dict[str, Callable[[Runtime, Visitor, NamespacePage, dict[str, str], str], Awaitable[Response]]] = {
    "save": _save,
    "validate": _validate,
    "remove": _remove,
}


async def change(request: Request) -> Response:
    rt = access.runtime(request)
    v, ns = await access.admined_organization(request)
    if not rt.settings.FEATURE_PROXY_CACHE:
        raise WebError.not_found("Proxy caches are turned off on this registry.")
    form = await read_form(rt, request)
    handler = _ACTIONS.get(form.get("action", ""))
    if handler is None:
        raise WebError.not_found("No such action.")
    return await handler(rt, v, ns, dict(form), f"{ns.base}?tab=settings")


ROUTES: list[BaseRoute] = [Route("/organization/{org:str}/proxycache", change, methods=["POST"])]
