"""An image's layers with the history its configuration records (who made each, when, with
which command), the way Quay's manifest API lists them.

The configuration's `history` has one entry per build step; steps that changed no files
(`empty_layer`: ENV, CMD, LABEL...) have no layer blob. As Quay does, each step is listed: a
step with files takes the next layer of the manifest, an empty one stands for Docker's empty
layer. Without history, the layers are listed as they are and the last one carries what the
configuration itself says (its creation time, author and Cmd). A history that does not match
the layers is ignored rather than guessed at.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from wharf.oci.manifest import Descriptor

EMPTY_LAYER_DIGEST = "sha256:a3ed95caeb02ffe68cdd9fd84406680ae93d633cb16422d00e8a7c22955b46d4"
"""Docker's empty gzipped tar, which stands for a build step that changed no files (as in Quay)."""
EMPTY_LAYER_SIZE = 32
MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""Larger image configurations are not read for history."""

_FRACTION = re.compile(r"(\.\d{6})\d+")


@dataclass(frozen=True, slots=True)
class Step:
    command: list[str] | None
    created_ms: int | None
    author: str | None
    comment: str | None


@dataclass(frozen=True, slots=True)
class Layer:
    blob: Descriptor | None
    """None for an empty step (Docker's empty layer)."""
    step: Step | None


def created_ms(value: Any) -> int | None:
    """An RFC 3339 time (nanoseconds allowed) in milliseconds since the epoch, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(_FRACTION.sub(r"\1", value.strip()).replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return None
    return int(parsed.timestamp() * 1000)


def command(value: Any) -> list[str] | None:
    """Quay's normalised command: a list of strings (a JSON array in a string is unpacked)."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if not isinstance(value, str) or not value:
        return None
    try:
        decoded = json.loads(value)
    except ValueError:
        return [value]
    return [str(v) for v in decoded] if isinstance(decoded, list) else [value]


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _step(entry: dict[str, Any]) -> Step:
    return Step(
        command(entry.get("created_by")),
        created_ms(entry.get("created")),
        _text(entry.get("author")),
        _text(entry.get("comment")),
    )


def layers(config: bytes | None, blobs: list[Descriptor]) -> list[Layer]:
    """The manifest's layers (`blobs`, base first) with the configuration's history."""
    plain = [Layer(b, None) for b in blobs]
    parsed: Any = None
    if config is not None:
        try:
            parsed = json.loads(config)
        except ValueError:
            parsed = None
    if not isinstance(parsed, dict):
        return plain
    history = parsed.get("history")
    if not isinstance(history, list) or not history:
        if not blobs:
            return plain
        found = parsed.get("config")
        container: dict[str, Any] = found if isinstance(found, dict) else {}
        last = Step(
            command(container.get("Cmd")),
            created_ms(parsed.get("created")),
            _text(parsed.get("author")),
            None,
        )
        return [*plain[:-1], Layer(blobs[-1], last)]
    if not all(isinstance(e, dict) for e in history):
        return plain
    with_files = [e for e in history if not e.get("empty_layer")]
    if len(with_files) != len(blobs):
        return plain
    remaining = iter(blobs)
    return [Layer(None if e.get("empty_layer") else next(remaining), _step(e)) for e in history]
