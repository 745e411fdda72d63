"""Forgotten passwords: /recovery asks for the account's e-mail address and mails a link (the same
page follows whether or not the address has an account); /recovery/reset?code=... sets a new
password, which signs the account out everywhere."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core.errors import NotAllowed, NotFound
from wharf.services import recovery as recovery_service
from wharf.web import access, forms, render
from wharf.web.errors import WebError
from wharf.web.forms import FormError
from wharf.web.session import client_ip, read_form, visitor


def _unavailable(e: Exception) -> WebError:
    return WebError(400, "Password recovery is not available here", f"{e}.")


async def recovery_page(request: Request) -> Response:
    await visitor(access.runtime(request), request)
    return render.page(request, "recovery.html", sent=False)


async def request_recovery(request: Request) -> Response:
    rt = access.runtime(request)
    await visitor(rt, request)
    form = await read_form(rt, request)
    try:
        await recovery_service.request(rt, form.get("email", ""), client_ip(rt, request), None)
    except (recovery_service.MailUnavailable, NotAllowed) as e:
        raise _unavailable(e) from None
    except recovery_service.TooManyRequests as e:
        raise WebError(429, "Too many requests", f"{e}.") from None
    return render.page(request, "recovery.html", sent=True)


async def _holder_name(request: Request, code: str) -> str:
    try:
        return (await recovery_service.account_of(access.runtime(request), code)).name
    except NotFound as e:
        raise WebError(404, "This link does not work", str(e)) from None
    except (recovery_service.MailUnavailable, NotAllowed) as e:
        raise _unavailable(e) from None


async def reset_page(request: Request) -> Response:
    await visitor(access.runtime(request), request)
    code = request.query_params.get("code", "")
    name = await _holder_name(request, code)
    return render.page(request, "recovery_reset.html", code=code, username=name)


async def reset(request: Request) -> Response:
    rt = access.runtime(request)
    await visitor(rt, request)
    form = await read_form(rt, request)
    code, password = form.get("code", ""), form.get("password", "")
    await _holder_name(request, code)
    here = f"/recovery/reset?code={code}"
    if password != form.get("confirm", ""):
        raise FormError(here, confirm="The two passwords differ: type the same one twice.")
    with forms.refusing(here):
        found = await recovery_service.reset(rt, code, password, client_ip(rt, request))
    return render.redirect("/signin", f"Saved the new password of {found.name}: sign in with it.")


ROUTES: list[BaseRoute] = [
    Route("/recovery", recovery_page, methods=["GET"]),
    Route("/recovery", request_recovery, methods=["POST"]),
    Route("/recovery/reset", reset_page, methods=["GET"]),
    Route("/recovery/reset", reset, methods=["POST"]),
]
