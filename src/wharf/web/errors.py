"""What a page shows when something goes wrong: a status, a title, and what to do about it."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from starlette.requests import Request

from wharf.core import errors


class WebError(Exception):
    def __init__(self, status: int, title: str, advice: str, redirect: str | None = None) -> None:
        super().__init__(title)
        self.status = status
        self.title = title
        self.advice = advice
        self.redirect = redirect

    @classmethod
    def sign_in(cls, request: Request) -> WebError:
        """Send an anonymous visitor to the sign-in page, and back here afterwards."""
        back = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return cls(401, "Sign in first", "", redirect=f"/signin?redirect_url={quote(back, safe='')}")

    @classmethod
    def not_found(cls, what: str) -> WebError:
        return cls(
            404,
            f"{what} was not found",
            "It may have been deleted, or you may not have access to it. Check the address, or sign in "
            "with an account that can see it.",
        )

    @classmethod
    def forbidden(cls, advice: str) -> WebError:
        return cls(403, "You may not do this", advice)

    @classmethod
    def server_fault(cls) -> WebError:
        return cls(
            500,
            "Something went wrong on the registry's side",
            "The error was logged for the registry's administrators. Try again in a moment; if it keeps "
            "happening, tell them what you were doing.",
        )


@dataclass(frozen=True, slots=True)
class WayBack:
    """Where the error page's "back" link goes, and what it says."""

    href: str
    label: str
    history: bool = False
    """Going back in the browser's history is better than the link (wharf.js): after a form, the
    browser shows it again with what was typed."""


def way_back(request: Request) -> WayBack | None:
    """The page the visitor came from, when it was one of ours and not this very address (the
    browser sends it: the pages' referrer policy is same-origin); else the nearest page above
    this address (a repository above its manifest, say); None at the top."""
    referer = urlsplit(request.headers.get("referer", ""))
    here = request.url
    if referer.netloc == here.netloc and referer.scheme == here.scheme and referer.path.startswith("/"):
        target = referer.path + (f"?{referer.query}" if referer.query else "")
        if request.method != "GET":
            return WayBack(target, "Back to the form", history=True)
        if referer.path != here.path:
            return WayBack(target, "Back to the previous page")
    parent = _parent(here.path)
    return WayBack(parent, f"Up to {parent}") if parent else None


def _parent(path: str) -> str | None:
    """The address above `path` that is a page: /repository/ns/name above its manifests, an
    organization above its teams and robots."""
    parts = [p for p in path.split("/") if p]
    if len(parts) > 3 and parts[0] == "repository" and "manifest" in parts:
        return "/" + "/".join(parts[: parts.index("manifest")])
    if len(parts) > 2 and parts[0] in ("organization", "user"):
        return "/" + "/".join(parts[:2])
    return None


def from_domain(e: errors.DomainError) -> WebError:
    """A core error as a page: its message is safe to show (core/errors.py)."""
    for kind, status, title in _DOMAIN:
        if isinstance(e, kind):
            return WebError(status, title, str(e))
    return WebError(400, "That did not work", str(e))


_DOMAIN: list[tuple[type[errors.DomainError], int, str]] = [
    (errors.NotFound, 404, "Not found"),
    (errors.AlreadyExists, 409, "It already exists"),
    (errors.TagImmutable, 409, "The tag is immutable"),
    (errors.ReadOnly, 503, "Read-only"),
    (errors.Busy, 429, "Busy: try again in a moment"),
    (errors.Unavailable, 503, "Unavailable: try again in a moment"),
    (errors.NotAllowed, 403, "Not allowed"),
    (errors.Conflict, 409, "That conflicts with something else"),
]
