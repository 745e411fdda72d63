"""What a page shows when something goes wrong: a status, a title, and what to do about it."""

from __future__ import annotations

from urllib.parse import quote

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
    (errors.Conflict, 409, "That conflicts with something else"),
]
