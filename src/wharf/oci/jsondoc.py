"""Reading JSON that clients send or push (manifests, image configurations), without I/O.

`json.loads` fails in more ways than `JSONDecodeError`: arrays nested a few thousand deep raise
RecursionError, integers of 4,300 digits and more raise a plain ValueError, and invalid UTF-8 raises
UnicodeDecodeError. Lone surrogates (`"\\ud800"`) decode fine but cannot be encoded again, so
they would fail later, when stored. `loads` turns all of these into one `JsonError`.
"""

from __future__ import annotations

import json
import re
from typing import Any

_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")


class JsonError(ValueError):
    """The bytes are not a JSON document Wharf can keep; the message says why."""


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def loads(data: bytes | str) -> Any:
    try:
        doc = json.loads(data)
    except RecursionError:
        raise JsonError("not valid JSON: nested too deeply") from None
    except json.JSONDecodeError as e:
        raise JsonError(f"not valid JSON: {e}") from None
    except UnicodeDecodeError:
        raise JsonError("not valid JSON: not UTF-8") from None
    except ValueError as e:  # an integer with too many digits
        raise JsonError(f"not valid JSON: {e}") from None
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    # Escaped surrogates are rare (pairs for emoji); only then is the document walked.
    if _SURROGATE_ESCAPE.search(raw) and _has_lone_surrogate(doc):
        raise JsonError("not valid JSON: a string holds a lone UTF-16 surrogate")
    return doc
