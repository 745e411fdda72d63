"""The security headers of every answer of the web app (a module of its own: the answers that
render no page, such as /health, must not import the templating)."""

from __future__ import annotations

# Scripts and styles come only from /static: a description that slipped past the sanitizer still
# could not run code. Images may come from https (badges in descriptions are common).
_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: https:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "content-security-policy": _CSP,
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}
"""On every page (web/app.py adds them to each answer of the web app). Lower-case names."""
