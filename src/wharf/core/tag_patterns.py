"""Tag-name patterns of auto-prune and immutability policies: regular expressions with RE2's
semantics (google-re2), which match in time linear in the name whatever the pattern, so a pattern
someone saves cannot stall a push or the prune job (Python's `re` backtracks: `(a+)+$` on a long
name takes exponential time). A pattern matches a tag when it matches anywhere in the name, as a
PostgreSQL `~` does; anchor it (`^v[0-9]+$`) to match the whole name."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TYPE_CHECKING

from wharf.core.errors import InvalidInput

if TYPE_CHECKING:
    import re2

# google-re2 (~2.4 MiB resident with its C++ library) is imported by the first pattern compiled:
# every push reads whether a policy may freeze its tag (core/_freeze.py), but a registry without
# policies never compiles one, and a server that has not met one does not hold the library
# (tests/process/test_lazy_imports.py).

MAX_LENGTH = 256
"""Longest pattern accepted (the column's width): long enough for any alternation of release names."""

# RE2 builds an automaton for the pattern; this bounds the memory one may take (bytes), so that
# `a{1000}{1000}`-style patterns are refused at creation rather than taking the server's memory.
_MAX_MEMORY = 1 << 20

Matcher = Callable[[str], bool]


def _options() -> re2.Options:
    import re2

    options = re2.Options()
    options.max_mem = _MAX_MEMORY
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The compiled pattern; InvalidInput, saying why, when it is empty, too long or not valid.
    Cached: the same few patterns are matched on every push and by every prune run."""
    if not pattern:
        raise InvalidInput("tagPattern must not be empty", field="tagPattern")
    if len(pattern) > MAX_LENGTH:
        raise InvalidInput(f"tagPattern is longer than {MAX_LENGTH} characters", field="tagPattern")
    import re2

    try:
        return re2.compile(pattern, _options())
    except re2.error as e:
        raise InvalidInput(
            f"tagPattern {pattern!r} is not a valid regular expression: {_reason(e)}", field="tagPattern"
        ) from None


def _reason(e: Exception) -> str:
    # google-re2 gives RE2's message as bytes ("missing ): (a"); the client wants it as text.
    reason = e.args[0] if e.args else str(e)
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)


def matcher(pattern: str | None, matches: bool) -> Matcher:
    """Whether a policy applies to a tag name: every name when there is no pattern; else the names
    the pattern matches (`matches`) or those it does not (not `matches`)."""
    if pattern is None:
        return lambda _name: True
    compiled = compile_pattern(pattern)
    if matches:
        return lambda name: compiled.search(name) is not None
    return lambda name: compiled.search(name) is None
