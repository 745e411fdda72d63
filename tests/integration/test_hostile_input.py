"""Requests built to confuse: path tricks, odd methods, bad headers, broken bodies."""

from __future__ import annotations

import pytest

from tests.integration.registry_client import RegistryClient, sha256


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
