"""/notifications: the visitor's inbox of in-app notifications (what the bell counts), with dismiss.
(The notifications a repository sends on events are set up in pages/repository_settings.py.)"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from wharf.core import inbox
from wharf.web import access, inbox_links, render
from wharf.web.pages import _list_query as list_query
from wharf.web.session import read_form, signed_in


async def show(request: Request) -> Response:
    """The inbox 50 at a time with the total; `show=new` keeps what is not dismissed."""
    rt = access.runtime(request)
    v = await signed_in(rt, request)
    assert v.identity.account_id is not None
    new_only = request.query_params.get("show") == "new"
    lq = list_query.parse("/notifications", request.query_params, {"show": "new"} if new_only else {})
    found = await rt.db.read(inbox.page_for, v.identity.account_id, new_only=new_only, page=lq.page)
    links = {item.uuid: inbox_links.of(item, v.name) for item in found.rows}
    return render.page(
        request, "inbox.html", items=found.rows, links=links, found=found, lq=lq, new_only=new_only
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
