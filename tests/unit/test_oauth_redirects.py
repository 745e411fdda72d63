"""OAuth redirect URIs are compared as URLs, not as string prefixes: the same scheme, host and port,
and the registered path or one below it at a `/` boundary. Every spelling a browser or a server
could read as another place is refused."""

from __future__ import annotations

import pytest

from wharf.core.applications import redirect_matches

REGISTERED = "https://app.example.com/callback"

ACCEPTED = [
    "https://app.example.com/callback",
    "https://app.example.com/callback/",
    "https://app.example.com/callback/sub",
    "https://app.example.com/callback/sub/deeper",
    "https://app.example.com/callback?state=xyz",
    "https://app.example.com/callback/sub?a=1&b=2",
    "https://app.example.com/callback/%7Euser",
]

REFUSED = [
    # a prefix that is not a path boundary
    "https://app.example.com/callbackevil",
    "https://app.example.com/callback.evil",
    "https://app.example.com/call",
    "https://app.example.com/",
    # another scheme, host or port
    "http://app.example.com/callback",
    "https://app.example.com.evil.net/callback",
    "https://app.example.community/callback",
    "https://evil.net/callback",
    "https://sub.app.example.com/callback",
    "https://app.example.com:443/callback",
    "https://app.example.com:8443/callback",
    "https://app.example.com:/callback",
    # user information: the host is what follows the @
    "https://app.example.com@evil.net/callback",
    "https://app.example.com:pw@evil.net/callback",
    "https://app.example.com%40evil.net/callback",
    # the same host spelled differently: case, a trailing dot, IDNA, encoding
    "https://APP.example.com/callback",
    "HTTPS://app.example.com/callback",
    "https://app.example.com./callback",
    "https://app.ex\u0430mple.com/callback",  # a Cyrillic a
    "https://xn--app-exmple-2gg.com/callback",
    "https://app%2eexample.com/callback",
    # path tricks: dot segments, plain and encoded; encoded slashes; backslashes; double encoding
    "https://app.example.com/callback/../evil",
    "https://app.example.com/callback/./x",
    "https://app.example.com/callback/%2e%2e/evil",
    "https://app.example.com/callback/%2E%2E/evil",
    "https://app.example.com/callback/.%2e/evil",
    "https://app.example.com/callback%2f..%2fevil",
    "https://app.example.com/callback/%252e%252e/evil",
    "https://app.example.com/callback\\..\\evil",
    "https://app.example.com\\@evil.net/callback",
    "https://app.example.com/callback/%5c..%5cevil",
    "https://app.example.com/callback/%00",
    # whitespace, control characters, fragments, other schemes, nothing at all
    "https://app.example.com/callback /x",
    "https://app.example.com/callback\t",
    " https://app.example.com/callback",
    "https://app.example.com/callback#fragment",
    "//app.example.com/callback",
    "javascript:alert(1)//https://app.example.com/callback",
    "https:app.example.com/callback",
    "https:///app.example.com/callback",
    "",
]


@pytest.mark.parametrize("uri", ACCEPTED)
def test_accepted(uri: str) -> None:
    assert redirect_matches(REGISTERED, uri)


@pytest.mark.parametrize("uri", REFUSED)
def test_refused(uri: str) -> None:
    assert not redirect_matches(REGISTERED, uri)


@pytest.mark.parametrize(
    ("registered", "presented", "allowed"),
    [
        ("https://app.example.com", "https://app.example.com/", True),
        ("https://app.example.com/", "https://app.example.com/anything", True),
        ("https://app.example.com/cb/", "https://app.example.com/cb/x", True),
        ("https://app.example.com/cb/", "https://app.example.com/cb", False),
        ("http://localhost:8080/cb", "http://localhost:8080/cb/x", True),
        ("http://localhost:8080/cb", "http://localhost/cb", False),
        ("http://127.0.0.1:8080/cb", "http://127.0.0.1:8080/cb", True),
        ("http://[::1]:8080/cb", "http://[::1]:8080/cb", True),
        ("http://[::1]:8080/cb", "http://[::1]:80/cb", False),
        ("", "https://app.example.com/", False),
        ("https://good@app.example.com/cb", "https://good@app.example.com/cb", False),
    ],
)
def test_registered_forms(registered: str, presented: str, allowed: bool) -> None:
    assert redirect_matches(registered, presented) is allowed
