"""oci/dockerfile.py: the base images a Dockerfile pulls, as the trigger analyzer reads them."""

from __future__ import annotations

import pytest

from wharf.oci import dockerfile


def test_the_last_stages_base_comes_first_through_stage_names_and_args() -> None:
    text = (
        "# a multi-stage build\n"
        "ARG BASE=registry.example.com/acme/base:1\n"
        "ARG TOOLS\n"
        "FROM --platform=$BUILDPLATFORM golang:1.23 AS build\n"
        "RUN make \\\n"
        "    all\n"
        "FROM ${BASE} AS runtime\n"
        "FROM runtime\n"
        "COPY --from=build /out /\n"
        "from $TOOLS as tools\n"
    )
    stages = dockerfile.stages(text)
    assert [s.alias for s in stages] == ["build", "runtime", None, "tools"]
    # tools (an argument with no default) last, then runtime's base, then build's
    assert dockerfile.base_images(text) == ["$TOOLS", "registry.example.com/acme/base:1", "golang:1.23"]
    assert dockerfile.is_unresolved("$TOOLS") and not dockerfile.is_unresolved("golang:1.23")


def test_scratch_is_no_image_and_an_arg_after_from_does_not_apply() -> None:
    assert dockerfile.base_images("FROM scratch\nCOPY a /\n") == []
    text = b"FROM alpine AS a\nARG LATE=x\nFROM $LATE\n"
    assert dockerfile.base_images(text) == ["$LATE", "alpine"]
    assert dockerfile.stages("RUN true\n") == []


@pytest.mark.parametrize(
    ("image", "repository"),
    [
        ("host:5000/ns/name:tag", "host:5000/ns/name"),
        ("host:5000/ns/name", "host:5000/ns/name"),
        ("ns/name@sha256:" + "a" * 64, "ns/name"),
        ("host/ns/name:1@sha256:" + "a" * 64, "host/ns/name"),
    ],
)
def test_without_tag(image: str, repository: str) -> None:
    assert dockerfile.without_tag(image) == repository


def test_bytes_that_are_not_text_are_refused() -> None:
    with pytest.raises(dockerfile.NotADockerfile):
        dockerfile.stages(b"\xff\xfe\x00FROM")
    with pytest.raises(dockerfile.NotADockerfile):
        dockerfile.stages("FROM a\x00")
