"""What a repository mirror's configuration accepts, and which tags its rule selects."""

from __future__ import annotations

import json

import pytest

from wharf.core import mirrors, proxy_passwords
from wharf.core.errors import InvalidInput
from wharf.core.secretbox import SecretBox
from wharf.integrations.upstream import Proxies

BOX = SecretBox("test")


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


@pytest.mark.parametrize(
    ("url", "no_proxy", "proxied"),
    [
        ("https://quay.io/v2/", (), True),
        ("https://quay.io/v2/", ("*",), False),
        ("https://quay.io/v2/", ("quay.io",), False),
        ("https://cdn.quay.io/blob", (".quay.io",), False),
        ("https://cdn.quay.io/blob", ("quay.io",), False),
        ("https://notquay.io/v2/", ("quay.io",), True),
        ("https://quay.io/v2/", ("quay.io:5000",), True),
        ("https://quay.io:5000/v2/", ("quay.io:5000",), False),
        ("http://10.1.2.3:5000/v2/", ("10.0.0.0/8",), False),
        ("http://10.1.2.3:5000/v2/", ("10.1.2.3",), False),
        ("http://11.1.2.3/v2/", ("10.0.0.0/8",), True),
        ("http://[fd00::1]/v2/", ("fd00::/8",), False),
    ],
)
def test_no_proxy_reads_as_curl_and_go_read_it(url: str, no_proxy: tuple[str, ...], proxied: bool) -> None:
    proxies = Proxies(http="http://proxy:3128", https="http://proxy:3128", no_proxy=no_proxy)
    assert (proxies.choose(url) is not None) is proxied


def test_each_scheme_has_its_proxy() -> None:
    assert Proxies(http="http://p:1").choose("https://quay.io/") is None
    assert Proxies(https="http://p:2").choose("https://quay.io/") == "http://p:2"


def test_the_proxy_fields_are_checked_and_read_as_urls() -> None:
    config = {
        "verify_tls": True,
        "proxy": {"http_proxy": "proxy:3128", "https_proxy": None, "no_proxy": "a, b"},
    }
    assert mirrors.check_registry_config(config) is config
    assert mirrors.proxies(config) == ("http://proxy:3128", None, ("a", "b"))
    assert mirrors.proxies({"verify_tls": False}) is None
    assert mirrors.proxies({"proxy": {"http_proxy": "", "no_proxy": "x"}}) is None
    for bad in (
        {"verify_tls": "no"},
        {"proxy": "http://p"},
        {"proxy": {"https_proxy": "ftp://p:1"}},
        {"proxy": {"https_proxy": "socks4://p:1080"}},
    ):
        with pytest.raises(InvalidInput):
            mirrors.check_registry_config(bad)
    # TLS to the proxy and SOCKS5 too, the scheme read as Go reads it (in any case)
    for scheme in ("https", "socks5", "SOCKS5H"):
        config = {"proxy": {"https_proxy": f"{scheme}://u:p@proxy:1080"}}
        assert mirrors.check_registry_config(config) is config
        assert mirrors.proxies(config) == (None, f"{scheme.lower()}://u:p@proxy:1080", ())


def test_a_proxys_password_is_sealed_shown_hidden_and_kept_when_sent_back_so() -> None:
    sent = {"verify_tls": True, "proxy": {"http_proxy": "http://u:s3cret@proxy:3128", "no_proxy": "a"}}
    hidden = {"http_proxy": "http://u:********@proxy:3128", "no_proxy": "a"}
    stored, sealed = proxy_passwords.seal(BOX, sent, None)
    # stored as shown: the password only in the sealed column, which the box opens
    assert stored == {"verify_tls": True, "proxy": hidden} == mirrors.shown_registry_config(stored)
    assert sealed is not None and "s3cret" not in sealed
    assert proxy_passwords.opened(BOX, stored, sealed) == sent
    assert mirrors.shown_registry_config(sent) == stored  # a row from before, shown the same
    # sent back as shown, it keeps the token (no password is opened to write it)
    assert proxy_passwords.seal(BOX, stored, proxy_passwords.Stored(stored, sealed)) == (stored, sealed)
    # a row from before: the clear password it kept is sealed now
    again, resealed = proxy_passwords.seal(BOX, stored, proxy_passwords.Stored(sent, None))
    assert again == stored and proxy_passwords.opened(BOX, again, resealed) == sent
    # another proxy, another user or another field is not given the stored password, nor is a
    # hidden one with none stored
    for field, other in (
        ("http_proxy", "http://u:********@other:3128"),
        ("http_proxy", "http://v:********@proxy:3128"),
        ("https_proxy", "http://u:********@proxy:3128"),
    ):
        for before in (proxy_passwords.Stored(stored, sealed), None):
            with pytest.raises(InvalidInput, match="write the proxy's password"):
                proxy_passwords.seal(BOX, {"proxy": {field: other}}, before)
    # a token sent by a client is a password like any other: sealed again, never opened as one
    forged = {"proxy": {"http_proxy": f"http://u:{json.loads(sealed)['http_proxy']}@evil:3128"}}
    kept, column = proxy_passwords.seal(BOX, forged, proxy_passwords.Stored(stored, sealed))
    assert proxy_passwords.opened(BOX, kept, column) == forged
    assert proxy_passwords.shown_proxy("socks5://proxy:1080") == "socks5://proxy:1080"
    assert proxy_passwords.shown_proxy("proxy:3128") == "proxy:3128"
    assert proxy_passwords.seal(BOX, {"proxy": {"http_proxy": "proxy:3128"}}, None)[1] is None


def test_a_password_sealed_with_another_key_fails_clearly() -> None:
    stored, sealed = proxy_passwords.seal(BOX, {"proxy": {"https_proxy": "socks5h://u:pw@p:1080"}}, None)
    with pytest.raises(proxy_passwords.Unopened, match="https_proxy") as e:
        proxy_passwords.opened(SecretBox("another key"), stored, sealed)
    assert "pw@" not in str(e.value)
