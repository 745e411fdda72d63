"""/authrepoemail?code=...: the link of the e-mail that asks an address to accept a repository's
notifications (the path Quay uses)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from wharf.runtime import Runtime
from wharf.services import address_confirmation
from wharf.web import render
from wharf.web.errors import WebError


async def confirm_email(rt: Runtime, request: Request) -> Response:
    code = request.query_params.get("code", "")
    found = await address_confirmation.confirm(rt, code)
    if found is None:
        raise WebError(
            404,
            "This link does not work",
            "The confirmation code is unknown: it may have been replaced by a newer e-mail. Ask the "
            "repository's admin to send the confirmation again.",
        )
    return render.page(request, "email_confirmed.html", confirmed=found)
