"""Requests built to confuse: path tricks, odd methods, bad headers, broken bodies."""

from __future__ import annotations

import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import ADMIN_PASSWORD
from tests.hostile import (
    CONTENT_RANGE_VALUES,
    CONTENT_TYPES,
    DIGITS,
    FUZZ,
    HEADER_TEXT,
    RANGE_VALUES,
    manifest_bodies,
)
from tests.integration.registry_client import RegistryClient, sha256
from tests.integration.world import api_token
from wharf.app import WharfApp, build_app
from wharf.registry import errors as registry_errors


@pytest.mark.parametrize(
    "path",
    [
        "/v2/admin/%2e%2e/etc/tags/list",
        "/v2/ADMIN/Upper/tags/list",
        "/v2/admin//double/tags/list",
        "/v2/admin/a%00b/tags/list",
        "/v2/" + "a/" * 200 + "x/tags/list",
    ],
)
async def test_bad_names_are_name_invalid(reg: RegistryClient, path: str) -> None:
    token = await reg.token("repository:admin/x:pull")
    r = await reg.http.get(path, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400, path
    assert r.json()["errors"][0]["code"] == "NAME_INVALID"


async def test_unknown_paths_and_methods(reg: RegistryClient) -> None:
    h = await reg.headers("admin/x")
    r = await reg.http.get("/v2/admin/x/something/else", headers=h)
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "UNSUPPORTED"
    r = await reg.http.post("/v2/admin/x/manifests/latest", headers=h)
    assert r.status_code == 405
    assert r.json()["errors"][0]["code"] == "UNSUPPORTED"
    assert set(r.headers["Allow"].split(", ")) == {"GET", "HEAD", "PUT", "DELETE"}
    r = await reg.http.request("TRACE", "/v2/", headers=h)
    assert r.status_code == 405


async def test_garbage_authorization_headers(reg: RegistryClient) -> None:
    for value in ("Bearer", "Bearer ", "Bearer a.b.c", "Basic Zm9vOmJhcg==", "Negotiate xyz", "x" * 5000):
        r = await reg.http.get("/v2/admin/x/tags/list", headers={"Authorization": value})
        assert r.status_code == 401, value
        assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


async def test_non_numeric_content_length_on_upload(reg: RegistryClient) -> None:
    h = await reg.headers("admin/x")
    r = await reg.http.post("/v2/admin/x/blobs/uploads/", headers=h)
    location = r.headers["Location"]
    r = await reg.http.put(location, params={"digest": sha256(b"")}, headers={**h, "Content-Range": "0-"})
    assert r.status_code in (201, 416)


async def test_empty_blob(reg: RegistryClient) -> None:
    digest = await reg.push_blob("admin/x", b"")
    h = await reg.headers("admin/x")
    r = await reg.http.get(f"/v2/admin/x/blobs/{digest}", headers=h)
    assert r.status_code == 200 and r.content == b""
    assert r.headers["Content-Length"] == "0"


# ------------------------------------------------------------------ numbers, ranges and deep JSON

HUGE = "9" * 5000  # int() refuses 4,300 digits and more with a ValueError
BIG = "9" * 30  # fits int(), not a 64-bit column


def _oci_error(r: httpx.Response, status: int, code: str) -> None:
    assert r.status_code == status, r.text
    assert r.json()["errors"][0]["code"] == code, r.text


@pytest.mark.parametrize("n", ["٣", "²", "-1", " 1", "1.0", "0x10", BIG, HUGE])
async def test_listing_n_that_is_not_a_small_ascii_number(reg: RegistryClient, n: str) -> None:
    await reg.push_blob("admin/x", b"x")
    for path, scope in (
        ("/v2/admin/x/tags/list", "repository:admin/x:pull"),
        ("/v2/_catalog", "registry:catalog:*"),
    ):
        h = {"Authorization": f"Bearer {await reg.token(scope)}"}
        _oci_error(await reg.http.get(path, params={"n": n}, headers=h), 400, "UNSUPPORTED")


async def test_listing_last_garbage(reg: RegistryClient) -> None:
    await reg.push_blob("admin/x", b"x")
    h = await reg.headers("admin/x")
    cat = {"Authorization": f"Bearer {await reg.token('registry:catalog:*')}"}
    for last in ("é" * 1000, "a" * 6000, "%ff", "'; DROP TABLE tags; --", HUGE):
        for path, headers in (("/v2/admin/x/tags/list", h), ("/v2/_catalog", cat)):
            r = await reg.http.get(path, params={"last": last}, headers=headers)
            assert r.status_code == 200, (path, last[:20], r.text)


@pytest.mark.parametrize(
    "value",
    ["bytes=" + HUGE + "-", "bytes=0-" + HUGE, "bytes=-" + HUGE, f"bytes={BIG}-", "bytes=²-", "bytes=0-³"],
)
async def test_range_with_huge_or_odd_numbers(reg: RegistryClient, value: str) -> None:
    digest = await reg.push_blob("admin/x", b"abcdef")
    h = await reg.headers("admin/x")
    r = await reg.http.get(f"/v2/admin/x/blobs/{digest}", headers={**h, "Range": value.encode("latin-1")})
    _oci_error(r, 416, "BLOB_UPLOAD_INVALID")
    assert r.headers["Content-Range"] == "bytes */6"


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Range": "0-" + HUGE},
        {"Content-Range": HUGE + "-" + HUGE},
        {"Content-Range": f"0-{BIG}"},
        {"Content-Range": "²-³"},
        {"Content-Length": "²"},
        {"Content-Length": HUGE},
        {"Content-Length": BIG},
    ],
)
async def test_chunk_headers_with_huge_or_odd_numbers(reg: RegistryClient, headers: dict[str, str]) -> None:
    h = await reg.headers("admin/x")
    location = (await reg.http.post("/v2/admin/x/blobs/uploads/", headers=h)).headers["Location"]
    sent = {k: v.encode("latin-1") for k, v in headers.items()}
    r = await reg.http.patch(location, content=b"ab", headers={**h, **sent})
    assert r.status_code in (400, 416), r.text
    assert r.json()["errors"][0]["code"] in ("SIZE_INVALID", "BLOB_UPLOAD_INVALID"), r.text
    if "Content-Length" in headers:
        r = await reg.http.put("/v2/admin/x/manifests/t", content=b"{}", headers={**h, **sent})
        assert r.status_code in (400, 413), r.text  # 413 when the number is merely too large
        assert r.json()["errors"][0]["code"] == "SIZE_INVALID", r.text


def _image(config: dict[str, object] | None = None, **extra: object) -> dict[str, object]:
    return {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config
        or {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(b"{}"), "size": 2},
        "layers": [],
        **extra,
    }


@pytest.mark.parametrize(
    "body",
    [
        b"[" * 5000 + b"]" * 5000,
        b'{"a":' * 3000 + b"1" + b"}" * 3000,
        b'{"schemaVersion": ' + b"9" * 5000 + b"}",
        json.dumps(_image(annotations={"deep": "x"})).encode().replace(b'"x"', b"[" * 3000 + b"]" * 3000),
        json.dumps(_image({"mediaType": "a/b", "digest": sha256(b"{}"), "size": 10**30})).encode(),
        json.dumps(_image({"mediaType": "a/" + "b" * 300, "digest": sha256(b"{}"), "size": 2})).encode(),
        json.dumps(_image(artifactType="a/" + "b" * 300)).encode(),
        json.dumps(_image({"mediaType": "a/\ud800", "digest": sha256(b"{}"), "size": 2})).encode(),
        json.dumps(_image(annotations={"\udc00": "x"})).encode(),
        b"\xff\xfe{}",
    ],
)
async def test_manifests_that_break_json_parsers(reg: RegistryClient, body: bytes) -> None:
    await reg.push_blob("admin/x", b"{}")
    r = await reg.push_manifest("admin/x", "t", body)
    _oci_error(r, 400, "MANIFEST_INVALID")


async def test_deep_json_and_huge_numbers_on_the_api(reg: RegistryClient) -> None:
    h = await api_token(reg, "admin")
    await reg.push_image("admin/x", "latest")
    for body in (
        b"[" * 5000 + b"]" * 5000,
        b'{"description": ' + b"9" * 5000 + b"}",
        b'{"a":' * 3000 + b"1}",
    ):
        r = await reg.http.put(
            "/api/v1/repository/admin/x", content=body, headers={**h, "Content-Type": "application/json"}
        )
        _quay_error(r, 400)
    for params in ({"page": HUGE}, {"page": BIG, "limit": BIG}, {"limit": "٣"}, {"page": "-" + BIG}):
        r = await reg.http.get("/api/v1/repository/admin/x/tag/", params=params, headers=h)
        assert r.status_code in (200, 400), (params, r.text)
        if r.status_code == 400:
            _quay_error(r, 400)
    r = await reg.http.get("/api/v1/user/notifications", params={"page": BIG}, headers=h)
    _quay_error(r, 400)
    for page in (HUGE, BIG, "٣"):
        r = await reg.http.get("/api/v1/find/repositories", params={"query": "x", "page": page}, headers=h)
        assert r.status_code in (200, 400), r.text


def _quay_error(r: httpx.Response, status: int) -> None:
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status and body["title"] and body["detail"], body


# ------------------------------------------------------------------------------- bounded resources


@contextlib.asynccontextmanager
async def _registry(wharf: WharfApp, **overrides: Any) -> AsyncIterator[RegistryClient]:
    """The same database and storage as `wharf`, served by an application with other settings."""
    app = build_app(wharf.rt.settings.model_copy(update=overrides), run_workers=False)
    try:
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            yield RegistryClient(c, app)
    finally:
        await app.rt.close()


async def test_open_uploads_are_capped_per_repository_and_per_namespace(wharf: WharfApp) -> None:
    async with _registry(wharf, UPLOADS_MAX_PER_REPOSITORY=3, UPLOADS_MAX_PER_ACCOUNT=5) as reg:
        opened: list[str] = []
        for repo, allowed in (("admin/a", 3), ("admin/b", 2)):
            h = await reg.headers(repo)
            for _ in range(allowed):
                r = await reg.http.post(f"/v2/{repo}/blobs/uploads/", headers=h)
                assert r.status_code == 202, r.text
                opened.append(r.headers["Location"])
            r = await reg.http.post(f"/v2/{repo}/blobs/uploads/", headers=h)
            _oci_error(r, 429, "TOOMANYREQUESTS")
            message = r.json()["errors"][0]["message"]
            assert (
                "too many open uploads" in message
                and ("repository" if repo == "admin/a" else "namespace") in message
            )
        # a monolithic push opens an upload too, and is refused the same way
        r = await reg.http.post(
            "/v2/admin/b/blobs/uploads/", params={"digest": sha256(b"x")}, content=b"x", headers=h
        )
        _oci_error(r, 429, "TOOMANYREQUESTS")
        # another namespace is not affected
        await reg.create_user("other")
        await reg.push_blob("other/c", b"theirs", user="other", password="pw-" + "x" * 8)
        # finishing or cancelling one makes room again
        assert (await reg.http.delete(opened[-1], headers=h)).status_code == 204
        await reg.push_blob("admin/b", b"fits again")
        assert (await reg.http.post("/v2/admin/b/blobs/uploads/", headers=h)).status_code == 202
        r = await reg.http.post("/v2/admin/b/blobs/uploads/", headers=h)
        _oci_error(r, 429, "TOOMANYREQUESTS")


async def test_scopes_per_token_request_are_capped(wharf: WharfApp) -> None:
    async with _registry(wharf, REGISTRY_AUTH_MAX_SCOPES=4) as reg:
        scopes = [f"repository:admin/r{i}:pull" for i in range(4)]
        await reg.token(*scopes)
        for params in (
            [("scope", s) for s in [*scopes, "repository:admin/r5:pull"]],
            [("scope", " ".join([*scopes, "registry:catalog:*"]))],
        ):
            for auth in (("admin", ADMIN_PASSWORD), None):
                r = await reg.http.get("/v2/auth", params=[("service", "registry.test"), *params], auth=auth)
                _oci_error(r, 400, "UNSUPPORTED")
                assert "at most 4 scopes" in r.json()["errors"][0]["message"]
    # the default is 50
    r = await wharf_client_token(wharf, 51)
    _oci_error(r, 400, "UNSUPPORTED")
    assert (await wharf_client_token(wharf, 50)).status_code == 200


async def wharf_client_token(wharf: WharfApp, count: int) -> httpx.Response:
    transport = httpx.ASGITransport(app=wharf, client=("10.1.2.3", 5555))
    async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
        params = [("service", "registry.test")] + [
            ("scope", f"repository:admin/r{i}:pull") for i in range(count)
        ]
        return await c.get("/v2/auth", params=params, auth=("admin", ADMIN_PASSWORD))


# ------------------------------------------------------------------ property tests through the app


def _examples(strategy: st.SearchStrategy[Any], count: int = 120) -> list[Any]:
    """`count` inputs drawn by hypothesis, the same ones on every run (derandomized). They are sent
    one by one through the application below: hypothesis does not drive async tests itself."""
    drawn: list[Any] = []

    @settings(FUZZ, max_examples=count)
    @given(strategy)
    def draw(value: Any) -> None:
        drawn.append(value)

    draw()
    return drawn


_CODES = {code for code, _status in registry_errors._CODES}


def _spec_error(r: httpx.Response, what: object) -> None:
    """Never a 5xx; a 4xx carries the distribution spec's error JSON with a known code."""
    assert r.status_code < 500, (what, r.status_code, r.text[:300])
    if r.status_code >= 400 and r.request.method != "HEAD":
        errors = r.json()["errors"]
        assert errors and errors[0]["code"] in _CODES and errors[0]["message"], (what, r.text[:300])


def _latin1(value: str) -> bytes:
    """A header value as a client can send it: latin-1 bytes, without line breaks or NUL."""
    return value.encode("latin-1", "replace").translate(None, b"\r\n\x00").strip() or b"x"


async def test_fuzzed_manifests_get_4xx_never_5xx(reg: RegistryClient) -> None:
    await reg.push_blob("admin/x", b"{}")
    h = await reg.headers("admin/x")
    for body, content_type in _examples(st.tuples(manifest_bodies(), CONTENT_TYPES)):
        headers = {**h, "Content-Type": _latin1(content_type)} if content_type else h
        r = await reg.http.put("/v2/admin/x/manifests/fuzz", content=body, headers=headers)
        _spec_error(r, body[:200])


async def test_fuzzed_ranges_get_4xx_never_5xx(reg: RegistryClient) -> None:
    digest = await reg.push_blob("admin/x", b"0123456789")
    h = await reg.headers("admin/x")
    for value in _examples(RANGE_VALUES):
        r = await reg.http.get(f"/v2/admin/x/blobs/{digest}", headers={**h, "Range": _latin1(value)})
        _spec_error(r, value[:200])
    location = (await reg.http.post("/v2/admin/x/blobs/uploads/", headers=h)).headers["Location"]
    for value in _examples(CONTENT_RANGE_VALUES):
        r = await reg.http.patch(location, content=b"ab", headers={**h, "Content-Range": _latin1(value)})
        _spec_error(r, value[:200])
        if r.status_code == 202:  # a well-formed 0-1: start over for the next one
            await reg.http.delete(r.headers["Location"], headers=h)
            location = (await reg.http.post("/v2/admin/x/blobs/uploads/", headers=h)).headers["Location"]


async def test_fuzzed_listing_parameters_get_4xx_never_5xx(reg: RegistryClient) -> None:
    await reg.push_image("admin/x", "latest")
    h = await reg.headers("admin/x")
    cat = {"Authorization": f"Bearer {await reg.token('registry:catalog:*')}"}
    values = st.one_of(HEADER_TEXT, DIGITS, st.integers().map(str), st.just("9" * 5000))
    for n, last in _examples(st.tuples(st.one_of(st.none(), values), st.one_of(st.none(), values))):
        params = {k: v for k, v in (("n", n), ("last", last)) if v is not None}
        for path, headers in (("/v2/admin/x/tags/list", h), ("/v2/_catalog", cat)):
            _spec_error(await reg.http.get(path, params=params, headers=headers), params)


async def test_nul_characters_are_bad_input_on_every_surface(reg: RegistryClient) -> None:
    """PostgreSQL refuses NUL in text: every surface answers 4xx in its own shape, never 500."""
    await reg.push_image("admin/x", "latest")
    api = await api_token(reg, "admin")
    for path in (
        "/api/v1/find/repositories?query=%00",
        "/api/v1/repository?namespace=%00",
        "/api/v1/user/robots/%00",
        "/api/v1/users/%00",
        "/api/v1/organization/%00",
        "/api/v1/superuser/users/%00",
        "/api/v1/user/apptoken/%00",
        "/api/v1/repository/admin/x/tag/?specificTag=%00",
    ):
        r = await reg.http.get(path, headers=api)
        assert r.status_code in (200, 400, 404), (path, r.text)  # SQLite stores NUL; PostgreSQL not
        if r.status_code != 200:
            _quay_error(r, r.status_code)
    r = await reg.http.put("/api/v1/repository/admin/x", json={"description": "a\x00b"}, headers=api)
    assert r.status_code in (200, 400), r.text
    if r.status_code == 400:
        _quay_error(r, 400)
    for path in ("/user/%00", "/organization/%00"):
        assert (await reg.http.get(path)).status_code in (400, 404), path
    h = await reg.headers("admin/x")
    cat = {"Authorization": f"Bearer {await reg.token('registry:catalog:*')}"}
    for path, headers in (("/v2/admin/x/tags/list", h), ("/v2/_catalog", cat)):
        _oci_error(await reg.http.get(path, params={"last": "a\x00"}, headers=headers), 400, "UNSUPPORTED")
    r = await reg.http.get("/v2/admin/x/manifests/a%00", headers=h)
    assert r.status_code in (400, 404) and r.json()["errors"], r.text
