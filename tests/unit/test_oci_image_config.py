"""An image configuration read for the manifest page: commands cleaned, history matched to layers."""

from __future__ import annotations

import json

import pytest

from wharf.oci.digest import Digest
from wharf.oci.image_config import clean_command, parse
from wharf.oci.manifest import Descriptor

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _blob(n: int) -> Descriptor:
    return Descriptor(GZIP, Digest.parse("sha256:" + f"{n:x}" * 64), 100 * n)


@pytest.mark.parametrize(
    ("created_by", "shown"),
    [
        ('/bin/sh -c #(nop)  CMD ["sh"]', 'CMD ["sh"]'),
        ("/bin/sh -c #(nop) ADD file:abc in / ", "ADD file:abc in /"),
        ("/bin/sh -c apk add nginx", "RUN apk add nginx"),
        ("|2 VERSION=1 ARCH=arm /bin/sh -c make", "RUN make"),
        ("RUN /bin/sh -c make install # buildkit", "RUN make install"),
        ("COPY app /app # buildkit", "COPY app /app"),
        ('CMD ["nginx"]', 'CMD ["nginx"]'),
        ("  ENV A=1  ", "ENV A=1"),
    ],
)
def test_commands_lose_the_shell_noise(created_by: str, shown: str) -> None:
    assert clean_command(created_by) == shown


def test_history_takes_a_layer_per_step_with_files_and_marks_empty_ones() -> None:
    config = {
        "os": "linux",
        "architecture": "arm",
        "variant": "v7",
        "config": {"Cmd": "sh", "ExposedPorts": {"8080/tcp": {}}, "Env": ["A=1"]},
        "history": [
            {"created_by": "/bin/sh -c #(nop) ADD x in /"},
            {"created_by": "/bin/sh -c #(nop) ENV A=1", "empty_layer": True},
            {"created_by": "/bin/sh -c true", "created": "2026-01-02T03:04:05.123456789Z"},
            {"created_by": "/bin/sh -c more"},
        ],
    }
    found = parse(json.dumps(config).encode(), [_blob(1), _blob(2)])
    assert found is not None
    assert found.platform == "linux/arm/v7" and found.cmd_text == '["sh"]' and found.entrypoint_text is None
    assert found.exposed_ports == ["8080/tcp"] and found.env == ["A=1"]
    steps = [(s.command, s.empty, s.layer) for s in found.history]
    # the last step with files finds no layer left: listed without one, not dropped
    assert steps == [
        ("ADD x in /", False, _blob(1)),
        ("ENV A=1", True, None),
        ("RUN true", False, _blob(2)),
        ("RUN more", False, None),
    ]
    assert found.history[2].created_ms == 1767323045123


def test_layers_beyond_the_history_and_odd_configs() -> None:
    found = parse(b'{"history": [{"created_by": "ADD a /"}]}', [_blob(1), _blob(2)])
    assert found is not None
    assert [(s.command, s.layer) for s in found.history] == [("ADD a /", _blob(1)), (None, _blob(2))]
    no_history = parse(b'{"config": {"Entrypoint": ["/init"]}}', [_blob(3)])
    assert no_history is not None and [s.layer for s in no_history.history] == [_blob(3)]
    assert no_history.entrypoint_text == '["/init"]' and no_history.platform == "?/?"
    assert parse(b"[1]", []) is None and parse(b"not json", []) is None
