"""The pages of tags/list a server process read lately, kept while they still hold.

A client walking a big repository in pages (`n`, then the `Link`s) asks for the same pages again
and again (every `docker` or `skopeo list-tags`, every mirror's poll), and reading a 1,000-name
page is most of what answering it costs (~140 µs of SQLite's CPU out of ~270 in the process,
docs/performance.md). A kept page is served instead when both still hold:

- no live tag of the repository changed since: the repository's `tags_version`, which the
  database itself bumps in the transaction of every such change (triggers of migration 0045), is
  the one the page was read under. The version comes with the repository lookup that every request
  makes anyway (it checks the token and the repository's visibility, so permissions are still
  checked on every request), and it is read before the page: a change committed in between makes
  the page newer than its version, never older, so a page is never served for a state older than
  the one it was read in. Any process or node that changes a tag bumps the same row, so the check
  holds across processes and nodes sharing the database;
- no name of the page has reached its scheduled expiry: a page is kept until the earliest
  `expires_ms` among its names (and a tag that expired before the page was read cannot come back
  without a write). The clock is the process's, as for a page read from the database.

The pages are bounded by count and by characters, the least recently served going first.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass

from wharf.core.clock import now_ms
from wharf.core.tags import NamePage

MAX_PAGES = 512
MAX_CHARS = 4 * 1024 * 1024
"""What the kept pages may hold in all (names and `last`s), about as many bytes: a walk of 10,000
tags in pages of 1,000 is about 90 KB."""

_NEVER = 2**63


@dataclass(frozen=True, slots=True)
class _Kept:
    version: int
    read_ms: int
    until_ms: int
    page: NamePage
    chars: int


def _chars(after: str, page: NamePage) -> int:
    names = len(page.joined) if page.joined is not None else sum(len(n) + 1 for n in page.rows)
    return len(after) + names + 64


class TagListCache:
    """Pages by (repository id, `last`, limit). Used from the event loops of the process (and
    their threads), hence the lock."""

    def __init__(self, max_pages: int = MAX_PAGES, max_chars: int = MAX_CHARS) -> None:
        self.max_pages = max_pages
        self.max_chars = max_chars
        self._pages: OrderedDict[tuple[int, str, int], _Kept] = OrderedDict()
        self._chars = 0
        self._lock = threading.Lock()
        self.hits = 0
        """Pages served from memory (for tests)."""

    def kept(self, repository_id: int, version: int, *, after: str | None, limit: int) -> NamePage | None:
        """The page kept for these arguments while it still holds under `version` (the repository's
        `tags_version`, read before), or None: then read it and `keep` it."""
        now = now_ms()
        key = (repository_id, after or "", limit)
        with self._lock:
            kept = self._pages.get(key)
            if kept is not None and kept.version == version and kept.read_ms <= now < kept.until_ms:
                self._pages.move_to_end(key)
                self.hits += 1
                return kept.page
        return None

    def keep(
        self, repository_id: int, version: int, *, after: str | None, limit: int, page: NamePage, read_ms: int
    ) -> None:
        """Keep `page`, read at `read_ms` for these arguments, under `version` (read before it)."""
        until = _NEVER if page.expires_ms is None else page.expires_ms
        after = after or ""
        self._keep((repository_id, after, limit), _Kept(version, read_ms, until, page, _chars(after, page)))

    def _keep(self, key: tuple[int, str, int], kept: _Kept) -> None:
        if kept.chars > self.max_chars // 4:
            return  # a page that would push out most of the others is read again each time
        with self._lock:
            old = self._pages.pop(key, None)
            if old is not None:
                self._chars -= old.chars
            self._pages[key] = kept
            self._chars += kept.chars
            while len(self._pages) > self.max_pages or self._chars > self.max_chars:
                _, dropped = self._pages.popitem(last=False)
                self._chars -= dropped.chars

    def clear(self) -> None:
        with self._lock:
            self._pages.clear()
            self._chars = 0
