"""One page of a list the web UI pages on the server (tag history, members, robots, teams): its
rows, how many match in all, and which page it is, so that every list shows "x to y of z" and the
same pager (templates/_ui.html `pager`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class Paged(Generic[T]):
    rows: list[T]
    total: int
    """Rows matching the filter, all pages together."""
    page: int
    """The page read: the one asked for, brought within 1..pages."""
    per_page: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def first(self) -> int:
        """The position of the page's first row among all that match (1-based; 0 when none)."""
        return (self.page - 1) * self.per_page + 1 if self.rows else 0

    @property
    def last(self) -> int:
        return (self.page - 1) * self.per_page + len(self.rows)


def window(total: int, page: int, per_page: int) -> tuple[int, int]:
    """The page to read for `page` asked (a number past the end reads the last page) and its offset."""
    pages = max(1, -(-total // per_page))
    page = min(max(page, 1), pages)
    return page, (page - 1) * per_page
