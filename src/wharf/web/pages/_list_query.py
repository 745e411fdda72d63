"""The address of a paged list with a filter (tag history, members, robots, teams): the filter
`q`, the page, and the row whose actions are open (`open`), read from the query string and
written back into the pager's links, the filter form and the row forms' way back. The list's own
parameters (its tab) are kept as they are. The Tags tab has its own (web/pages/_tags_query.py:
sort and page size too); the repository lists theirs (web/pages/_repo_list.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import parse_qsl, urlencode

FILTER_MAX = 200


def _int(text: str | None, default: int) -> int:
    try:
        return max(1, min(int(text), 10**9)) if text else default
    except ValueError:
        return default


@dataclass(frozen=True, slots=True)
class ListQuery:
    action: str
    """The list's page (a path, never a foreign address)."""
    keep: dict[str, str] = field(default_factory=dict)
    q: str = ""
    page: int = 1
    open: str = ""

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string's fields, without those at their default."""
        c = replace(self, **changes)
        out = dict(self.keep)
        if c.q:
            out["q"] = c.q
        if c.page > 1:
            out["page"] = str(c.page)
        if c.open:
            out["open"] = c.open
        return out

    def url(self, **changes: Any) -> str:
        params = self.params(**changes)
        return f"{self.action}?{urlencode(params)}" if params else self.action

    def link(self, page: int) -> str:
        """The pager's link to `page` (closing any open row)."""
        return self.url(page=page, open="")

    def unfiltered(self) -> str:
        return self.url(q="", page=1, open="")

    def back(self) -> str:
        """The query string a row's form carries, to come back to the same page and filter."""
        return urlencode(self.params(open=""))


def parse(action: str, params: Mapping[str, str], keep: dict[str, str] | None = None) -> ListQuery:
    return ListQuery(
        action,
        keep or {},
        params.get("q", "").strip()[:FILTER_MAX],
        _int(params.get("page"), 1),
        params.get("open", "")[:FILTER_MAX],
    )


def back_url(action: str, back: str, keep: dict[str, str] | None = None) -> str:
    """The page a row's form came from, rebuilt from the fields we know (never a foreign URL)."""
    return parse(action, dict(parse_qsl(back)), keep).url(open="")
