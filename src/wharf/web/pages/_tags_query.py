"""The Tags tab's address: filter, sort, order, page, page size and the tag whose panel is open,
read from the query string and written back into every link and form of the tab (pager, sort
links, the panel's forms, which return to the page they came from)."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from wharf.core.tag_pages import SORTS, Sort

PER_PAGE = (50, 100)
DEFAULT_DESCENDING: dict[str, bool] = {"name": False, "modified": True, "size": True}
FILTER_CHARS = re.compile(r"[A-Za-z0-9_.*?-]{0,128}")
"""What a filter may hold: the tag grammar's characters and the wildcards `*` and `?`."""
FILTER_HELP = (
    "Tag names hold letters, digits, `_`, `.` and `-` (up to 128); "
    "`*` matches any run of characters and `?` one character."
)


@dataclass(frozen=True, slots=True)
class TagsQuery:
    q: str = ""
    sort: Sort = "name"
    descending: bool = False
    page: int = 1
    per_page: int = PER_PAGE[0]
    change: str = ""

    @property
    def valid_filter(self) -> bool:
        return FILTER_CHARS.fullmatch(self.q) is not None

    def params(self, **changes: Any) -> dict[str, str]:
        """The query string's fields, without those at their default."""
        q = replace(self, **changes)
        out = {"tab": "tags"}
        if q.q:
            out["q"] = q.q
        if q.sort != "name":
            out["sort"] = q.sort
        if q.descending != DEFAULT_DESCENDING[q.sort]:
            out["order"] = "desc" if q.descending else "asc"
        if q.page > 1:
            out["page"] = str(q.page)
        if q.per_page != PER_PAGE[0]:
            out["n"] = str(q.per_page)
        if q.change:
            out["change"] = q.change
        return out

    def url(self, **changes: Any) -> str:
        return "?" + urlencode(self.params(**changes))

    def link(self, page: int) -> str:
        """The pager's link to `page` (closing any open panel)."""
        return self.url(page=page, change="")

    def sorted_by(self, sort: str) -> str:
        """The link of a column's heading: that sort (its usual order), or the other order of it."""
        if sort == self.sort:
            return self.url(descending=not self.descending, page=1, change="")
        return self.url(sort=sort, descending=DEFAULT_DESCENDING[sort], page=1, change="")

    @property
    def back(self) -> str:
        """Where a panel's form returns: this page, its panel closed."""
        return urlencode(self.params(change=""))


def parse(params: dict[str, str]) -> TagsQuery:
    sort = params.get("sort", "name")
    if sort not in SORTS:
        sort = "name"
    order = params.get("order")
    descending = DEFAULT_DESCENDING[sort] if order not in ("asc", "desc") else order == "desc"
    return TagsQuery(
        q=params.get("q", "").strip()[:200],
        sort=cast(Sort, sort),
        descending=descending,
        page=max(1, _int(params.get("page"), 1)),
        per_page=_int(params.get("n"), PER_PAGE[0]) if params.get("n") in ("50", "100") else PER_PAGE[0],
        change=params.get("change", "").strip()[:128],
    )


def back_url(base: str, back: str) -> str:
    """The Tags tab page a form came from, rebuilt from the fields we know (never a foreign URL)."""
    return base + parse(dict(parse_qsl(back))).url(change="")


def panel_url(base: str, back: str, tag: str) -> str:
    """That page with `tag`'s panel open: where a refused panel form shows its errors."""
    return base + parse(dict(parse_qsl(back))).url(change=tag[:128])


def _int(text: str | None, default: int) -> int:
    try:
        return min(int(text), 10**9) if text else default
    except ValueError:
        return default
