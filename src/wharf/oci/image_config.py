"""An image configuration read for people: what the image runs (entrypoint, command, environment,
working directory, user, ports, labels, platform) and its build history, each step with the layer
it made, without I/O.

The history is matched to the manifest's layers in order, as `docker history` does: a step marked
`empty_layer` (ENV, CMD, LABEL...) made no layer; every other step takes the next layer. When the
history names fewer steps with files than there are layers, the layers left over are listed without
a step; steps with files left over once the layers run out are listed without a layer.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

from wharf.oci import jsondoc
from wharf.oci.history import created_ms
from wharf.oci.manifest import Descriptor

MAX_CONFIG_BYTES = 4 * 1024 * 1024
"""Larger configurations are not read for the manifest page (real ones are a few KiB)."""
MAX_HISTORY = 1000
"""More steps than any real image has; a configuration with more shows the first ones."""

_NOP = re.compile(r"^/bin/sh -c #\(nop\)\s*")
_SHELL = re.compile(r"^/bin/sh -c\s+")
_ARGS = re.compile(r"^\|\d+(?: \S+=\S*)* /bin/sh -c\s+")
"""The classic builder's RUN with build arguments: `|2 A=1 B=2 /bin/sh -c make`."""
_BUILDKIT = re.compile(r"\s*# buildkit$")


@dataclass(frozen=True, slots=True)
class Step:
    """One entry of the history, with the layer it made."""

    created_ms: int | None
    command: str | None
    """The Dockerfile instruction, cleaned of the shell and `#(nop)` noise."""
    empty: bool
    """The step changed no files (ENV, CMD, LABEL...): it has no layer."""
    layer: Descriptor | None
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class ImageConfig:
    os: str | None = None
    architecture: str | None = None
    variant: str | None = None
    created_ms: int | None = None
    author: str | None = None
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=list)
    working_dir: str | None = None
    user: str | None = None
    exposed_ports: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    stop_signal: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    history: list[Step] = field(default_factory=list)

    @property
    def entrypoint_text(self) -> str | None:
        return exec_form(self.entrypoint)

    @property
    def cmd_text(self) -> str | None:
        return exec_form(self.cmd)

    @property
    def platform(self) -> str:
        parts = [self.os or "?", self.architecture or "?"]
        return "/".join([*parts, self.variant] if self.variant else parts)


def exec_form(args: list[str] | None) -> str | None:
    """A command as a Dockerfile writes its exec form: `["nginx", "-g", "daemon off;"]`."""
    return None if args is None else json.dumps(args, ensure_ascii=False)


def clean_command(created_by: str) -> str:
    """`/bin/sh -c #(nop)  CMD ["sh"]` as `CMD ["sh"]`, `/bin/sh -c apk add x` as `RUN apk add x`,
    BuildKit's `RUN /bin/sh -c make # buildkit` as `RUN make`; anything else as it is."""
    text = _BUILDKIT.sub("", created_by.strip())
    if _NOP.match(text):
        return _NOP.sub("", text).strip()
    if text.startswith("RUN /bin/sh -c "):
        return "RUN " + text.removeprefix("RUN /bin/sh -c ").strip()
    for shell in (_ARGS, _SHELL):
        if shell.match(text):
            return "RUN " + shell.sub("", text).strip()
    return text


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: Any) -> list[str] | None:
    if isinstance(value, str) and value:
        return [value]
    if isinstance(value, list):
        return [str(v) for v in value]
    return None


def _keys(value: Any) -> list[str]:
    return sorted(str(k) for k in value) if isinstance(value, dict) else []


def history(doc: dict[str, Any], layers: list[Descriptor]) -> list[Step]:
    """The configuration's history matched to `layers` (base first); the layers alone when the
    configuration has no history."""
    entries = doc.get("history")
    if not isinstance(entries, list) or not entries:
        return [Step(None, None, False, layer) for layer in layers]
    remaining = iter(layers)
    steps = []
    for entry in entries[:MAX_HISTORY]:
        if not isinstance(entry, dict):
            continue
        empty = bool(entry.get("empty_layer"))
        created_by = _text(entry.get("created_by"))
        steps.append(
            Step(
                created_ms(entry.get("created")),
                clean_command(created_by) if created_by else None,
                empty,
                None if empty else next(remaining, None),
                _text(entry.get("comment")),
            )
        )
    steps.extend(Step(None, None, False, layer) for layer in remaining)
    return steps


def parse(body: bytes, layers: list[Descriptor]) -> ImageConfig | None:
    """The configuration `body` (OCI or Docker) with its history matched to `layers`; None when it
    is not a JSON object."""
    try:
        doc = jsondoc.loads(body)
    except ValueError:
        return None
    if not isinstance(doc, dict):
        return None
    found = doc.get("config")
    run: dict[str, Any] = found if isinstance(found, dict) else {}
    labels = run.get("Labels")
    env = run.get("Env")
    return ImageConfig(
        os=_text(doc.get("os")),
        architecture=_text(doc.get("architecture")),
        variant=_text(doc.get("variant")),
        created_ms=created_ms(doc.get("created")),
        author=_text(doc.get("author")),
        entrypoint=_strings(run.get("Entrypoint")),
        cmd=_strings(run.get("Cmd")),
        env=[str(e) for e in env] if isinstance(env, list) else [],
        working_dir=_text(run.get("WorkingDir")),
        user=_text(run.get("User")),
        exposed_ports=_keys(run.get("ExposedPorts")),
        volumes=_keys(run.get("Volumes")),
        stop_signal=_text(run.get("StopSignal")),
        labels={str(k): str(v) for k, v in labels.items()} if isinstance(labels, dict) else {},
        history=history(doc, layers),
    )
