"""Regular expressions that users save and Wharf runs for them (tag-name patterns of policies,
build triggers' `branchtag_regex`), compiled with RE2 (google-re2): it matches in time linear in
the text whatever the pattern, so a saved pattern cannot pin a thread, where Python's `re`
backtracks (`(a+)+$` on a long name takes exponential time). The price is RE2's syntax: no
backreferences, no lookahead or lookbehind."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import re2

# google-re2 (~2.4 MiB resident with its C++ library) is imported by the first pattern compiled:
# every push reads whether a policy may freeze its tag (core/_freeze.py), but a registry without
# policies never compiles one, and a server that has not met one does not hold the library
# (tests/process/test_lazy_imports.py).

# RE2 builds an automaton for the pattern; this bounds the memory one may take (bytes), so that
# `a{1000}{1000}`-style patterns are refused at creation rather than taking the server's memory.
_MAX_MEMORY = 1 << 20


class RegexRefused(ValueError):
    """RE2 cannot compile the pattern; `reason` is RE2's message."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def _options() -> re2.Options:
    import re2

    options = re2.Options()
    options.max_mem = _MAX_MEMORY
    options.log_errors = False
    return options


@functools.lru_cache(maxsize=256)
def compile_regex(pattern: str) -> re2._Regexp:
    """The compiled pattern, or RegexRefused. Cached: the same few patterns are matched on every
    push, by every prune run, by every webhook delivery of a trigger."""
    import re2

    try:
        return re2.compile(pattern, _options())
    except re2.error as e:
        raise RegexRefused(_reason(e)) from None


def _reason(e: Exception) -> str:
    # google-re2 gives RE2's message as bytes ("missing ): (a"); the client wants it as text.
    reason = e.args[0] if e.args else str(e)
    return reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
