"""Hostile input for property tests (hypothesis): manifest-shaped and arbitrary JSON with numbers
of thousands of digits and nesting deeper than Python's parser goes, header values with non-ASCII
digits, huge numbers and control characters. Shared by tests/unit and tests/integration."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from wharf.oci import mediatypes as mt

FUZZ = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
"""Every run tries the same inputs (derandomized), so CI is repeatable; no example database."""

HUGE = "<a number of 5000 digits>"  # int() refuses to make one: encode writes it into the JSON

# Numbers as hostile clients write them: huge, negative, non-ASCII digits, fractions.
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.just(HUGE),
    st.floats(allow_nan=True, allow_infinity=True),
)
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, st.text(max_size=40))
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
)
DIGEST = st.sampled_from(["sha256:" + "a" * 64, "sha512:" + "b" * 128, "sha256:xyz", "", "md5:00"])
DESCRIPTOR = st.fixed_dictionaries(
    {},
    optional={
        "mediaType": st.one_of(st.sampled_from(sorted(mt.IMAGE_MANIFESTS)), st.text(max_size=300), JSON),
        "digest": st.one_of(DIGEST, JSON),
        "size": st.one_of(NUMBERS, JSON),
        "annotations": st.one_of(st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=3), JSON),
        "urls": JSON,
        "platform": JSON,
        "artifactType": st.one_of(st.text(max_size=300), JSON),
    },
)
MANIFEST = st.fixed_dictionaries(
    {},
    optional={
        "schemaVersion": st.one_of(st.sampled_from([1, 2]), NUMBERS, JSON),
        "mediaType": st.one_of(st.sampled_from(sorted(mt.INDEXES | mt.IMAGE_MANIFESTS | mt.SCHEMA1)), JSON),
        "config": st.one_of(DESCRIPTOR, JSON),
        "layers": st.one_of(st.lists(DESCRIPTOR, max_size=3), JSON),
        "manifests": st.one_of(st.lists(DESCRIPTOR, max_size=3), JSON),
        "subject": st.one_of(DESCRIPTOR, JSON),
        "annotations": JSON,
        "artifactType": JSON,
        "fsLayers": st.one_of(
            st.lists(st.fixed_dictionaries({"blobSum": st.one_of(DIGEST, JSON)}), max_size=3), JSON
        ),
        "history": JSON,
        "name": JSON,
        "tag": JSON,
        "signatures": JSON,
    },
)


def encode(doc: Any) -> bytes:
    return json.dumps(doc).encode().replace(json.dumps(HUGE).encode(), b"9" * 5000)


def manifest_bodies() -> st.SearchStrategy[bytes]:
    """Manifest-shaped JSON, arbitrary JSON, JSON nested deeper than Python's parser goes, and bytes."""
    deep = st.integers(min_value=900, max_value=5000).map(lambda n: b"[" * n + b"]" * n)
    return st.one_of(MANIFEST.map(encode), JSON.map(encode), deep, st.binary(max_size=200))


CONTENT_TYPES = st.one_of(
    st.none(), st.sampled_from(sorted(mt.INDEXES | mt.IMAGE_MANIFESTS | mt.SCHEMA1)), st.text(max_size=30)
)


HEADER_TEXT = st.text(st.characters(min_codepoint=0, max_codepoint=0x10FFFF), max_size=60)
DIGITS = st.text(st.sampled_from("0123456789٣²³¹"), min_size=0, max_size=30)
RANGE_VALUES = st.one_of(
    HEADER_TEXT,
    st.builds(lambda a, b: f"bytes={a}-{b}", DIGITS, DIGITS),
    st.builds(lambda a, b: f"bytes={a}-{b}", st.integers(0, 2**80).map(str), st.integers(0, 2**80).map(str)),
    st.just("bytes=" + "9" * 5000 + "-"),
)
CONTENT_RANGE_VALUES = st.one_of(
    HEADER_TEXT,
    st.builds(lambda a, b: f"{a}-{b}", DIGITS, DIGITS),
    st.builds(lambda a, b, t: f"bytes {a}-{b}/{t}", DIGITS, DIGITS, st.one_of(DIGITS, st.just("*"))),
    st.just("0-" + "9" * 5000),
)
