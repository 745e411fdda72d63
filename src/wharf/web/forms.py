"""Forms that refuse what was typed: the same page again, each error next to its field, what was
typed kept (docs/ui.md, "Errors").

A handler that refuses its form raises `FormError(page, field=message)`: `page` is the address of
the page the form is on. web/app.py answers with that page, rendered as a GET would render it but
with status 422 (409 when the thing exists already), and the templates read the errors and the
typed values from `entered` (`templates/_ui.html`: `ui.invalid`, `ui.error`). Nothing is
redirected and nothing is lost but the secrets (passwords, tokens), which are never sent back.

Core errors say which input they are about (`DomainError.field`); `refusing(page, ...)` turns
those a person can correct (invalid input, a name that exists) into a FormError on the form's
field. Only a missing page and a server fault get the error page.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

from wharf.core import errors

SUMMARY = ""
"""The key of an error about the whole form rather than one field."""

_V = TypeVar("_V")

_SECRET = re.compile(r"password|token|secret", re.IGNORECASE)

TAG_SYNTAX = "Tag names: letters, digits, _, . and -, up to 128 characters, not starting with . or -."
REPOSITORY_SYNTAX = (
    "Repository names: lowercase letters and digits, separated by one . _ or - (or __), "
    "with / between components, like team/app-server."
)
ACCOUNT_SYNTAX = (
    "Names: 2 to 255 lowercase letters, digits and . _ - (not at either end), like acme or build-bot."
)
TEAM_SYNTAX = "Team names: 2 to 255 lowercase letters and digits, separated by one . _ or - (like backend)."
ROBOT_SYNTAX = (
    "Robot names: 2 to 255 lowercase letters, digits and _, starting with a letter (like deployer)."
)


@dataclass(frozen=True, slots=True)
class Entered:
    """What one form sent and what was wrong with it: the templates' `entered`, empty when the
    page is not answering a refused form. `of(action)` is the form posted to `action` (each
    form's errors show on that form only, though forms share field names)."""

    action: str = ""
    values: Mapping[str, str] = field(default_factory=dict)
    errors: Mapping[str, str] = field(default_factory=dict)
    lists: Mapping[str, Sequence[str]] = field(default_factory=dict)
    """Every value of each field, for fields sent many times (ticked boxes, rows of a table)."""
    address: str = ""
    """Where the page is served: the refused form's own address (a POST's), not the page's."""

    def of(self, action: str) -> Entered:
        return self if action == self.action else NOTHING

    def value(self, name: str, default: object = "") -> str:
        """What was typed into `name`, else `default` (the page's own value)."""
        typed = self.values.get(name)
        return typed if typed is not None else ("" if default is None else str(default))

    def all(self, name: str) -> Sequence[str]:
        """Every value sent for `name`, in the form's order (empty when none)."""
        return self.lists.get(name, ())

    def rows(self, *names: str) -> list[tuple[str, ...]]:
        """The rows of a table of fields as they were sent: the n-th value of each of `names`."""
        return list(zip(*(self.all(n) for n in names), strict=False))

    def error(self, name: str) -> str:
        return self.errors.get(name, "")

    def error_id(self, name: str) -> str:
        """The id of `name`'s message, for `aria-describedby`: unique on the page."""
        slug = re.sub(r"[^A-Za-z0-9]+", "-", f"{self.action}-{name or 'form'}").strip("-")
        return f"error-{slug}"

    @property
    def summary(self) -> str:
        return self.errors.get(SUMMARY, "")


NOTHING = Entered()


class FormError(Exception):
    """Refuse a form: show `page` again with `errors` (field name to message; SUMMARY for the
    whole form) next to the fields. `action` names the form when it is not the request's path."""

    def __init__(
        self,
        page: str,
        errors: Mapping[str, str] | None = None,
        *,
        status: int = 422,
        action: str | None = None,
        **by_field: str,
    ) -> None:
        self.errors = {**(errors or {}), **by_field}
        super().__init__("; ".join(self.errors.values()))
        self.page = page
        self.status = status
        self.action = action


def kept(form: Mapping[str, _V]) -> dict[str, _V]:
    """The typed values a page may show again: never a password, a token or a secret."""
    return {k: v for k, v in form.items() if not _SECRET.search(k)}


def sentence(text: str) -> str:
    """A core message as a sentence: capitalised, with a full stop."""
    text = text.strip()
    if not text:
        return text
    if text.split(" ", 1)[0].isalpha():  # not a name or an address the message starts with
        text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


@contextmanager
def refusing(
    page: str,
    fields: Mapping[str, str] | None = None,
    advice: Mapping[str, str] | None = None,
    *,
    action: str | None = None,
    missing: str | None = None,
) -> Iterator[None]:
    """Inside, a core error a person can correct becomes a FormError on `page`: invalid input,
    something that exists already, an immutable tag, and a missing thing that core ties to a
    field (a missing page or repository still gets the error page). `fields` maps core's field
    names to the form's (`{"tag": "new_tag"}`; unmapped ones keep their name, and an error
    without a field is the form's summary); `advice` adds what to do, by the form's field.
    With `missing`, any missing thing is the form's summary too, followed by `missing`, when the
    page itself is sure to be there (a tag deleted while its panel was open)."""
    try:
        yield
    except (errors.InvalidInput, errors.AlreadyExists, errors.TagImmutable, errors.NotFound) as e:
        lost = isinstance(e, errors.NotFound) and e.field is None
        if lost and missing is None:
            raise
        name = (fields or {}).get(e.field or "", e.field or SUMMARY)
        message = sentence(str(e))
        extra = missing if lost else (advice or {}).get(name)
        if extra:
            message = f"{message} {extra}"
        status = 409 if isinstance(e, errors.AlreadyExists) else 422
        raise FormError(page, {name: message}, status=status, action=action) from None
