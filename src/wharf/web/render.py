"""Jinja2 pages: one environment, autoescaped, with the filters and globals every page uses."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import jinja2
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse

from wharf.core.clock import now_ms
from wharf.web.forms import NOTHING
from wharf.web.headers import SECURITY_HEADERS as SECURITY_HEADERS
from wharf.web.markdown import render_markdown

_HERE = Path(__file__).parent

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(_HERE / "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def human_size(n: int | None) -> str:
    if n is None:
        return "—"
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if size < 1024 or unit == "TiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def when(ms: int | None) -> str:
    """A UTC timestamp a person reads (the exact time is in the element's title)."""
    if ms is None:
        return "never"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def ago(ms: int | None) -> str:
    if ms is None:
        return "never"
    seconds = (now_ms() - ms) // 1000
    future = seconds < 0
    seconds = abs(seconds)
    for unit, length in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= length:
            count = seconds // length
            text = f"{count} {unit}{'s' if count != 1 else ''}"
            return f"in {text}" if future else f"{text} ago"
    return "in a moment" if future else "just now"


def short_digest(digest: object) -> str:
    """`sha256:` and the first 12 hex digits, as people compare digests (str or oci Digest)."""
    digest = str(digest)
    algorithm, _, hex_ = digest.partition(":")
    return f"{algorithm}:{hex_[:12]}" if hex_ else digest


_env.filters.update(human_size=human_size, when=when, ago=ago, short_digest=short_digest)
_env.filters["markdown"] = render_markdown


FLASH_COOKIE = "wharf_flash"


def redirect(url: str, flash: str | None = None) -> RedirectResponse:
    """303 to `url` (after a form), with a one-time message for the next page."""
    response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE, quote(flash[:300]), max_age=60, path="/", httponly=True, samesite="lax"
        )
    return response


def plain_http(request: Request) -> bool:
    """Whether clients reach this registry over plain HTTP (PREFERRED_URL_SCHEME is not https)."""
    # The error pages render outside the pages' application too, where there is no runtime.
    runtime = getattr(getattr(request.scope.get("app"), "state", None), "runtime", None)
    return runtime is None or runtime.settings.PREFERRED_URL_SCHEME != "https"


def tls_off(request: Request) -> str:
    """What podman and buildah commands the pages offer need over plain HTTP: they try TLS first
    and refuse the registry otherwise (docker decides by its daemon's insecure-registries)."""
    return " --tls-verify=false" if plain_http(request) else ""


def page(
    request: Request,
    template: str,
    *,
    status: int = 200,
    headers: dict[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    """Render `template` with the request's visitor (set by web/session.py) in the context."""
    visitor = request.scope.get("wharf.visitor")
    flash = unquote(request.cookies.get(FLASH_COOKIE, ""))
    chrome = request.scope.get("wharf.chrome")
    entered = request.scope.get("wharf.entered", NOTHING)  # a refused form's (web/forms.py)
    html = _env.get_template(template).render(
        request=request,
        visitor=visitor,
        flash=flash,
        chrome=chrome,
        entered=entered,
        tls_off=tls_off(request),
        **context,
    )
    response = HTMLResponse(html, status_code=status, headers=headers)
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/", httponly=True, samesite="lax")
    return response
