"""The upstream registry client's pure parts: names under a prefix and Docker Hub's `library/`,
challenges, and how long a retry waits."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest

from wharf.integrations.upstream import MAX_RETRY_AFTER_S, ClientPool, Upstream, _challenge, _retry_after


@pytest.mark.parametrize(
    ("registry", "name", "url", "repository"),
    [
        ("docker.io", "alpine", "https://registry-1.docker.io", "library/alpine"),
        ("docker.io", "bitnami/redis", "https://registry-1.docker.io", "bitnami/redis"),
        ("docker.io/library", "alpine", "https://registry-1.docker.io", "library/alpine"),
        ("quay.io", "alpine", "https://quay.io", "alpine"),
        ("quay.io/projectquay", "quay", "https://quay.io", "projectquay/quay"),
        ("registry.local:5000/a/b", "c/d", "https://registry.local:5000", "a/b/c/d"),
    ],
)
def test_names_map_to_the_upstream(registry: str, name: str, url: str, repository: str) -> None:
    upstream = Upstream(registry)
    assert upstream.base_url == url
    assert upstream.repository(name) == repository


def test_insecure_is_plain_http() -> None:
    assert Upstream("127.0.0.1:5000", insecure=True).base_url == "http://127.0.0.1:5000"


def test_a_bearer_challenge_is_read() -> None:
    scheme, params = _challenge(
        'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a:pull"'
    )
    assert scheme == "bearer"
    assert params == {
        "realm": "https://auth.docker.io/token",
        "service": "registry.docker.io",
        "scope": "repository:a:pull",
    }
    assert _challenge('Basic realm="upstream"') == ("basic", {"realm": "upstream"})


def test_retries_back_off_and_honour_a_short_retry_after() -> None:
    assert [_retry_after(None, n) for n in range(3)] == [0.5, 1.0, 2.0]
    assert _retry_after("3", 0) == 3.0
    assert _retry_after("3600", 0) == MAX_RETRY_AFTER_S
    assert _retry_after("-5", 0) == 0.0
    soon = format_datetime(datetime.now(UTC) + timedelta(seconds=4), usegmt=True)
    assert 0.0 < _retry_after(soon, 0) <= 4.0
    assert _retry_after("not a date", 1) == 1.0


async def test_the_pool_keeps_one_client_per_configuration_and_host() -> None:
    pool = ClientPool(max_clients=3)
    mirror = Upstream("registry.local:5000", "user", "secret")
    client = pool.client(mirror, 30.0, "registry.local")
    assert pool.client(mirror, 30.0, "registry.local") is client
    # another host (a redirect to storage) and a changed configuration get clients of their own
    assert pool.client(mirror, 30.0, "storage.local") is not client
    assert (
        pool.client(Upstream("registry.local:5000", "user", "changed"), 30.0, "registry.local") is not client
    )
    # a fourth client retires the least recently used one: closed later, not under its requests
    pool.client(Upstream("other.local"), 30.0, "other.local")
    assert pool.client(mirror, 30.0, "registry.local") is not client
    assert not client.is_closed
    await pool.aclose()
    assert client.is_closed
