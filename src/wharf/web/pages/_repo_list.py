"""What every repository list shares (home, search, an organization's or a user's Repositories
tab): the filter and page read from the address, one page of rows from the service, and the pager's
links. The list itself is templates/_repo_list.html."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode

from starlette.requests import Request

from wharf.services import repositories as repository_service
from wharf.services.repositories import Browsed
from wharf.web.access import runtime
from wharf.web.session import Visitor

PAGE_SIZE = 50
FILTER_MAX = 255
SUMMARY_MAX = 160

_LINK = re.compile(r"!?\[([^\]]*)\]\([^)]*\)")
_TAG = re.compile(r"<[^>]*>")
_LEAD = re.compile(r"^\s*(?:#{1,6}\s+|>\s*|[-*+]\s+|\d+[.)]\s+)+")
_EMPHASIS = re.compile(r"(\*\*|__|\*|`|~~)")


def summary(description: str | None) -> str:
    """The description's first line with its Markdown taken out, as a list row shows it."""
    if not description:
        return ""
    line = next(
        (ln for ln in description.splitlines() if ln.strip() and not ln.strip().startswith("```")), ""
    )
    text = _EMPHASIS.sub("", _TAG.sub("", _LINK.sub(r"\1", _LEAD.sub("", line)))).strip()
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1].rstrip() + "…"


@dataclass(frozen=True, slots=True)
class RepoList:
    """A page of a list with what its template needs to filter and page it."""

    found: Browsed
    filter: str
    action: str
    """The address the filter form submits to (the list's own page)."""
    keep: dict[str, str]
    """Parameters the filter form and the pager keep (the tab, the scope)."""
    pull_stats: bool = True
    """Whether rows show their pulls (FEATURE_IMAGE_PULL_STATS)."""

    def link(self, page: int) -> str:
        params = {**self.keep, **({"q": self.filter} if self.filter else {}), "page": str(page)}
        return f"{self.action}?{urlencode(params)}"

    def unfiltered(self) -> str:
        return f"{self.action}?{urlencode(self.keep)}" if self.keep else self.action

    @staticmethod
    def summary(description: str | None) -> str:
        return summary(description)


def _page_number(request: Request) -> int:
    try:
        return max(1, int(request.query_params.get("page", "1")))
    except ValueError:
        return 1


async def read(
    request: Request,
    v: Visitor,
    *,
    action: str,
    scope: str = "readable",
    namespace: str | None = None,
    keep: dict[str, str] | None = None,
) -> RepoList:
    """The page of the list the address asks for (`q` filters by name, `page` picks the page)."""
    text = request.query_params.get("q", "").strip()[:FILTER_MAX]
    rt = runtime(request)
    found = await repository_service.browse(
        rt,
        v.identity,
        scope=scope,
        namespace=namespace,
        contains=text,
        page=_page_number(request),
        page_size=PAGE_SIZE,
    )
    return RepoList(found, text, action, keep or {}, rt.settings.FEATURE_IMAGE_PULL_STATS)
