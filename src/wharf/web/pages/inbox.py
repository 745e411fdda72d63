"""/notifications: the visitor's inbox of in-app notifications (what the bell counts), with dismiss.
(The notifications a repository sends on events are set up in pages/repository_settings.py.)"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import inbox
from wharf.web import access, inbox_links, render
from wharf.web.session import read_form, signed_in

PAGE = 50


async def show(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    assert v.identity.account_id is not None
    try:
        page_no = max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        page_no = 1
    found = await rt.db.read(
        inbox.list_for, v.identity.account_id, offset=(page_no - 1) * PAGE, limit=PAGE + 1
    )
    items = found[:PAGE]
    links = {item.uuid: inbox_links.of(item, v.name) for item in items}
    return render.page(
        request, "inbox.html", items=items, links=links, page_no=page_no, more=len(found) > PAGE
    )


async def dismiss(request: Request) -> Response:
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    form = await read_form(rt, request)
    assert v.identity.account_id is not None
    dismissed = form.get("dismissed", "true") == "true"
    await rt.db.write(inbox.set_dismissed, v.identity.account_id, request.path_params["uuid"], dismissed)
    return render.redirect("/notifications", "Dismissed." if dismissed else "Marked as new.")


ROUTES: list[BaseRoute] = [
    Route("/notifications", show, methods=["GET"]),
    Route("/notifications/{uuid}/dismiss", dismiss, methods=["POST"]),
]
