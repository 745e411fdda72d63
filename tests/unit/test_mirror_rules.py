"""What a repository mirror's configuration accepts, and which tags its rule selects."""

from __future__ import annotations

import pytest

from wharf.core import mirrors
from wharf.core.errors import InvalidInput


def _record(globs: list[str]) -> mirrors.MirrorRecord:
    return mirrors.MirrorRecord(
        1, "quay.io/a/b", None, None, None, None, True, 60, 0, None, mirrors.NEVER_RUN, 3,
        {"rule_kind": "tag_glob_csv", "rule_value": globs}, {}, 300, [], 0, 0, None,
    )  # fmt: skip


def test_the_globs_select_tags_case_sensitively() -> None:
    tags = ["latest", "v1", "v1.2", "V2", "dev", "v1-rc"]
    assert _record(["v1*"]).wanted(tags) == ["v1", "v1-rc", "v1.2"]
    assert _record(["latest", "v?"]).wanted(tags) == ["latest", "v1"]
    assert _record(["*"]).wanted(tags) == sorted(tags)


@pytest.mark.parametrize(
    ("given", "expected"),
    [("Quay.io/projectquay/quay", "quay.io/projectquay/quay"), ("127.0.0.1:5000/a/b/", "127.0.0.1:5000/a/b")],
)
def test_a_reference_is_host_and_path(given: str, expected: str) -> None:
    assert mirrors.check_reference(given) == expected


@pytest.mark.parametrize("bad", ["quay.io", "https://quay.io/a", "quay.io/a:latest", "quay.io/A", ""])
def test_a_bad_reference_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        mirrors.check_reference(bad)


def test_a_rule_is_a_list_of_globs_or_a_csv() -> None:
    assert mirrors.check_rule({"rule_kind": "tag_glob_csv", "rule_value": "a, b*"})["rule_value"] == [
        "a",
        "b*",
    ]
    with pytest.raises(InvalidInput):
        mirrors.check_rule({"rule_kind": "tag_glob_csv", "rule_value": [""]})


def test_dates_are_quays_format() -> None:
    ms = mirrors.parse_date("2026-12-07T13:00:00Z")
    assert mirrors.format_date(ms) == "2026-12-07T13:00:00Z"
