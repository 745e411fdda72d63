"""The "Key: value" paragraphs that dpkg's status file and apk's installed database share."""

from __future__ import annotations

from collections.abc import Iterator


def paragraphs(text: str) -> Iterator[list[str]]:
    """Blank-line separated paragraphs, as lists of their lines."""
    lines: list[str] = []
    for line in text.splitlines():
        if line.strip():
            lines.append(line)
        elif lines:
            yield lines
            lines = []
    if lines:
        yield lines
