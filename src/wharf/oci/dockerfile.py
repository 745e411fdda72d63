"""What a Dockerfile builds on: its `FROM` lines, read as buildah reads them, enough to say which
images a build pulls (the trigger analyzer, services/trigger_analysis.py). Pure code, no I/O.

Comments and line continuations are handled, `--platform=...` flags skipped, and the build
arguments declared before the first `FROM` (`ARG BASE=acme/base`) substituted in `FROM` lines as
`$BASE` or `${BASE}` with their default; an argument without a default is left as written (the
image is then unknown until build time). A `FROM` naming an earlier stage (`FROM build`) is that
stage's image; `scratch` is no image at all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_CONTINUATION = re.compile(r"\\[ \t]*\r?\n")
_INSTRUCTION = re.compile(r"^\s*([A-Za-z]+)\s+(.*?)\s*$")
_VARIABLE = re.compile(r"\$(?:\{([A-Za-z_][A-Za-z0-9_]*)\}|([A-Za-z_][A-Za-z0-9_]*))")
SCRATCH = "scratch"


class NotADockerfile(ValueError):
    """The bytes are not text a Dockerfile could be."""


@dataclass(frozen=True, slots=True)
class Stage:
    image: str
    """The image its FROM names, build arguments substituted (an earlier stage's name too)."""
    alias: str | None


def _lines(text: str) -> list[str]:
    # A comment is a line starting with `#` (buildah's rule: not a `#` inside a line).
    kept = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    return _CONTINUATION.sub(" ", "\n".join(kept) + "\n").splitlines()


def _arg_default(rest: str) -> tuple[str, str | None]:
    name, sep, value = rest.partition("=")
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]
    return name.strip(), value if sep else None


def _substitute(word: str, args: dict[str, str | None]) -> str:
    def one(m: re.Match[str]) -> str:
        value = args.get(m.group(1) or m.group(2))
        return value if value is not None else m.group(0)

    return _VARIABLE.sub(one, word)


def _stage(rest: str, args: dict[str, str | None]) -> Stage | None:
    words = [w for w in rest.split() if not w.startswith("--")]
    if not words:
        return None
    alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
    return Stage(_substitute(words[0], args), alias)


def stages(data: bytes | str) -> list[Stage]:
    """The stages of a Dockerfile, in order. Raises NotADockerfile for bytes that are not text."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise NotADockerfile("the Dockerfile is not UTF-8 text") from None
    if "\x00" in data:
        raise NotADockerfile("the Dockerfile is not text")
    args: dict[str, str | None] = {}
    found: list[Stage] = []
    for line in _lines(data):
        m = _INSTRUCTION.match(line)
        if m is None:
            continue
        instruction, rest = m.group(1).upper(), m.group(2)
        if instruction == "ARG" and not found:  # only the global ones apply to FROM lines
            name, default = _arg_default(rest)
            args[name] = default
        elif instruction == "FROM":
            stage = _stage(rest, args)
            if stage is not None:
                found.append(stage)
    return found


def _resolve(image: str, earlier: list[Stage]) -> str:
    """An image through the names of earlier stages (`FROM build` is build's own image)."""
    for stage in reversed(earlier):
        if stage.alias is not None and stage.alias.lower() == image.lower():
            return _resolve(stage.image, earlier[: earlier.index(stage)])
    return image


def base_images(data: bytes | str) -> list[str]:
    """The images the Dockerfile pulls, the last stage's base first, then the earlier stages'
    from the last to the first; no stage names, no `scratch`, no repeats."""
    found = stages(data)
    images: list[str] = []
    for n in range(len(found) - 1, -1, -1):
        image = _resolve(found[n].image, found[:n])
        if image.lower() != SCRATCH and image not in images:
            images.append(image)
    return images


def is_unresolved(image: str) -> bool:
    """Whether the image still names a build argument (one with no default before the FROM)."""
    return "$" in image


def without_tag(image: str) -> str:
    """The image's repository: `host:5000/ns/name:tag@sha256:...` gives `host:5000/ns/name`."""
    image = image.split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    return image.rsplit(":", 1)[0] if ":" in last else image
