"""Where a sign-in goes: the safe local targets and Quay's confirm-username page, shared by the
sign-in pages and the gate in web/app.py (which must not import the pages: they load lazily)."""

from __future__ import annotations

from urllib.parse import quote


def local_path(target: str | None) -> str:
    """Where to go after signing in: only a path on this site (no open redirect)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


CONFIRM_USERNAME = "/updateuser"
"""Quay's confirm-username page (web/pages/confirm_username.py)."""


def confirm_username_address(target: str | None) -> str:
    """The confirm-username page, going on to `target` once the name is confirmed."""
    return f"{CONFIRM_USERNAME}?redirect_url={quote(local_path(target), safe='')}"
