"""Tag-name patterns of auto-prune and immutability policies: regular expressions with RE2's
semantics (google-re2), which match in time linear in the name whatever the pattern, so a pattern
someone saves cannot stall a push or the prune job (Python's `re` backtracks: `(a+)+$` on a long
name takes exponential time). A pattern matches a tag when it matches anywhere in the name, as a
PostgreSQL `~` does; anchor it (`^v[0-9]+$`) to match the whole name."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from wharf.core.errors import InvalidInput
from wharf.core.saved_regex import RegexRefused, compile_regex

if TYPE_CHECKING:
    import re2

MAX_LENGTH = 256
"""Longest pattern accepted (the column's width): long enough for any alternation of release names."""

Matcher = Callable[[str], bool]


def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled pattern (RE2, core/saved_regex.py); InvalidInput, saying why, when it is
    empty, too long or not valid."""
    if not pattern:
        raise InvalidInput("tagPattern must not be empty", field="tagPattern")
    if len(pattern) > MAX_LENGTH:
        raise InvalidInput(f"tagPattern is longer than {MAX_LENGTH} characters", field="tagPattern")
    try:
        return compile_regex(pattern)
    except RegexRefused as e:
        raise InvalidInput(
            f"tagPattern {pattern!r} is not a valid regular expression: {e.reason}", field="tagPattern"
        ) from None


def matcher(pattern: str | None, matches: bool) -> Matcher:
    """Whether a policy applies to a tag name: every name when there is no pattern; else the names
    the pattern matches (`matches`) or those it does not (not `matches`)."""
    if pattern is None:
        return lambda _name: True
    compiled = compile_pattern(pattern)
    if matches:
        return lambda name: compiled.search(name) is not None
    return lambda name: compiled.search(name) is None
