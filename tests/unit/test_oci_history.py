"""Layers with the image configuration's history, as Quay's manifest API lists them."""

from __future__ import annotations

import json

from wharf.oci.digest import Digest
from wharf.oci.history import EMPTY_LAYER_DIGEST, command, created_ms, layers
from wharf.oci.manifest import Descriptor

GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"


def _blob(n: int) -> Descriptor:
    return Descriptor(GZIP, Digest.parse("sha256:" + f"{n:x}" * 64), 100 * n)


def _config(**fields: object) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", **fields}).encode()


def test_each_build_step_is_listed_and_empty_ones_stand_for_the_empty_layer() -> None:
    history = [
        {"created": "2015-10-31T22:22:54.690851953Z", "created_by": "/bin/sh -c #(nop) ADD file:a in /"},
        {
            "created": "2015-10-31T22:22:55Z",
            "created_by": '/bin/sh -c #(nop) CMD ["sh"]',
            "empty_layer": True,
        },
        {"created": "2015-10-31T22:22:56+01:00", "created_by": "RUN make", "author": "Ann", "comment": "c"},
    ]
    found = layers(_config(history=history), [_blob(1), _blob(2)])
    assert [str(layer.blob.digest) if layer.blob else None for layer in found] == [
        str(_blob(1).digest),
        None,
        str(_blob(2).digest),
    ]
    steps = [layer.step for layer in found]
    assert all(steps)
    assert steps[0] and steps[0].command == ["/bin/sh -c #(nop) ADD file:a in /"]
    assert steps[0].created_ms == 1446330174690
    assert steps[1] and steps[1].command == ['/bin/sh -c #(nop) CMD ["sh"]']
    assert steps[2] and (steps[2].author, steps[2].comment) == ("Ann", "c")
    assert steps[2].created_ms == 1446326576000
    assert EMPTY_LAYER_DIGEST.startswith("sha256:a3ed95ca")


def test_without_history_the_last_layer_carries_the_configuration() -> None:
    config = _config(created="2020-01-02T03:04:05Z", author="Bob", config={"Cmd": ["/app", "--serve"]})
    found = layers(config, [_blob(1), _blob(2)])
    assert found[0].step is None
    assert found[1].step and found[1].step.command == ["/app", "--serve"] and found[1].step.author == "Bob"


def test_a_history_that_does_not_match_the_layers_is_ignored() -> None:
    history = [{"created_by": "ADD a"}, {"created_by": "ADD b"}, {"created_by": "ADD c"}]
    for config in (_config(history=history), b"not json", b"[1]", _config(history=[1, 2])):
        found = layers(config, [_blob(1), _blob(2)])
        assert [layer.blob for layer in found] == [_blob(1), _blob(2)]
        assert all(layer.step is None for layer in found)
    assert [layer.step for layer in layers(None, [_blob(1)])] == [None]


def test_commands_and_times_are_normalised() -> None:
    assert command('["/bin/sh", "-c", "make"]') == ["/bin/sh", "-c", "make"]
    assert command("RUN make") == ["RUN make"]
    assert command(["a", 1]) == ["a", "1"]
    assert command("") is None and command(None) is None and command({"x": 1}) is None
    assert created_ms("1970-01-01T00:00:01Z") == 1000
    assert created_ms("yesterday") is None and created_ms("2020-01-01T00:00:00") is None
    assert created_ms(12) is None
