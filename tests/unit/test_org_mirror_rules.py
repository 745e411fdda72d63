"""What an organization mirror's configuration accepts, and which repositories its filters keep."""

from __future__ import annotations

import pytest

from wharf.core import org_mirrors
from wharf.core.errors import InvalidInput


def test_filters_include_and_exclude_by_glob() -> None:
    names = ["web", "api", "test-web", "tools/lint", "Web"]
    assert [n for n in names if org_mirrors.selects([], n)] == names
    assert [n for n in names if org_mirrors.selects(["!test-*"], n)] == ["web", "api", "tools/lint", "Web"]
    assert [n for n in names if org_mirrors.selects(["*web", "!test-*"], n)] == ["web"]
    assert [n for n in names if org_mirrors.selects(["tools/*"], n)] == ["tools/lint"]


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("https://Harbor.Example.com/", "https://harbor.example.com"),
        ("http://10.0.0.5:8080", "http://10.0.0.5:8080"),
    ],
)
def test_a_url_is_scheme_and_host(given: str, expected: str) -> None:
    assert org_mirrors.check_url(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "harbor.example.com",
        "ftp://h",
        "https://h/path",
        "https://user:pw@h",
        "https://h?x=1",
        "https://h:99999",
    ],
)
def test_a_bad_url_is_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        org_mirrors.check_url(bad)


def test_filters_are_checked() -> None:
    assert org_mirrors.check_filters([" a* ", "", "!b"]) == ["a*", "!b"]
    with pytest.raises(InvalidInput):
        org_mirrors.check_filters(["!"])
