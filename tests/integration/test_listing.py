"""tags/list and _catalog, with n/last paging, Link headers and visibility."""

from __future__ import annotations

import json

from tests.integration.registry_client import RegistryClient

REPO = "admin/listing"


async def _tag_many(reg: RegistryClient, tags: list[str]) -> None:
    _, manifest = await reg.push_image(REPO, tags[0])
    for t in tags[1:]:
        r = await reg.push_manifest(REPO, t, json.dumps(manifest).encode())
        assert r.status_code == 201


async def test_tag_list_sorted(reg: RegistryClient) -> None:
    await _tag_many(reg, ["b", "a", "c", "A1", "1.0"])
    r = await reg.http.get(f"/v2/{REPO}/tags/list", headers=await reg.headers(REPO))
    assert r.status_code == 200
    assert r.json() == {"name": REPO, "tags": ["1.0", "A1", "a", "b", "c"]}
    assert "Link" not in r.headers


async def test_tag_list_paging(reg: RegistryClient) -> None:
    await _tag_many(reg, [f"t{i:02d}" for i in range(7)])
    h = await reg.headers(REPO)
    seen: list[str] = []
    url: str | None = f"/v2/{REPO}/tags/list?n=3"
    while url:
        r = await reg.http.get(url, headers=h)
        page = r.json()["tags"]
        assert len(page) <= 3
        seen += page
        link = r.headers.get("Link")
        url = link.split(";")[0].strip("<>") if link else None
    assert seen == [f"t{i:02d}" for i in range(7)]
    r = await reg.http.get(f"/v2/{REPO}/tags/list", params={"n": 2, "last": "t03"}, headers=h)
    assert r.json()["tags"] == ["t04", "t05"]
    r = await reg.http.get(f"/v2/{REPO}/tags/list", params={"n": 0}, headers=h)
    assert r.json()["tags"] == []
    r = await reg.http.get(f"/v2/{REPO}/tags/list", params={"n": "x"}, headers=h)
    assert r.status_code == 400


async def test_deleted_tags_are_not_listed(reg: RegistryClient) -> None:
    await _tag_many(reg, ["keep", "drop"])
    h = await reg.headers(REPO)
    await reg.http.delete(f"/v2/{REPO}/manifests/drop", headers=h)
    r = await reg.http.get(f"/v2/{REPO}/tags/list", headers=h)
    assert r.json()["tags"] == ["keep"]


async def test_tag_list_of_unknown_repository(reg: RegistryClient) -> None:
    r = await reg.http.get("/v2/admin/nothing/tags/list", headers=await reg.headers("admin/nothing"))
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "NAME_UNKNOWN"


async def _catalog(reg: RegistryClient, url: str, **kw: str) -> tuple[list[str], str | None]:
    token = await reg.token("registry:catalog:*", **kw)  # type: ignore[arg-type]
    r = await reg.http.get(url, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200, r.text
    return r.json()["repositories"], r.headers.get("Link")


async def test_catalog_paging(reg: RegistryClient) -> None:
    names = [f"admin/repo{i}" for i in range(5)]
    for n in names:
        await reg.push_blob(n, b"x")
    seen: list[str] = []
    url: str | None = "/v2/_catalog?n=2"
    while url:
        page, link = await _catalog(reg, url)
        seen += page
        url = link.split(";")[0].strip("<>") if link else None
    assert seen == sorted(names)


async def test_catalog_needs_catalog_scope(reg: RegistryClient) -> None:
    r = await reg.http.get("/v2/_catalog")
    assert r.status_code == 401
    assert 'scope="registry:catalog:*"' in r.headers["WWW-Authenticate"]


async def test_catalog_shows_only_what_the_caller_may_see(reg: RegistryClient) -> None:
    await reg.create_user("dave", "dave-password")
    await reg.push_blob("admin/private", b"x")
    await reg.push_blob("dave/mine", b"x", user="dave", password="dave-password")
    page, _ = await _catalog(reg, "/v2/_catalog", user="dave", password="dave-password")
    assert page == ["dave/mine"]
    page, _ = await _catalog(reg, "/v2/_catalog")
    assert page == ["admin/private", "dave/mine"]  # superuser sees everything


async def test_catalog_answers_any_valid_token(reg: RegistryClient) -> None:
    """As on Quay, the catalog lists what the caller can see for any token: the registry:catalog:*
    scope is not required (a token for one repository lists all the caller's repositories)."""
    await reg.create_user("erin", "erin-password")
    await reg.push_blob("admin/hidden", b"x")
    await reg.push_blob("erin/one", b"x", user="erin", password="erin-password")
    await reg.push_blob("erin/two", b"x", user="erin", password="erin-password")
    for scopes in (("repository:erin/one:pull",), ()):
        token = await reg.token(*scopes, user="erin", password="erin-password")
        r = await reg.http.get("/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        assert r.json()["repositories"] == ["erin/one", "erin/two"]
    # an anonymous token sees no private repository
    token = await reg.token("repository:admin/hidden:pull", user=None)
    r = await reg.http.get("/v2/_catalog", headers={"Authorization": f"Bearer {token}"})
    assert (r.status_code, r.json()["repositories"]) == (200, [])


async def test_unknown_subpaths_of_a_repository_are_not_found(reg: RegistryClient) -> None:
    h = await reg.headers("admin/app")
    await reg.push_blob("admin/app", b"x")
    for method, path in (
        ("GET", "/v2/admin/app/nothing"),
        ("POST", "/v2/admin/app/nothing"),
        ("DELETE", "/v2/admin/app/manifests/v1/extra"),
        ("PUT", "/v2/admin/app/tags/list/extra"),
        ("GET", "/v2/admin/app/"),
    ):
        r = await reg.http.request(method, path, headers=h)
        assert r.status_code == 404, (method, path, r.text)
        assert r.json()["errors"][0]["message"] == "no such endpoint"
    # a path of the API with a method it does not have: 405 with Allow
    r = await reg.http.put("/v2/admin/app/tags/list", headers=h)
    assert (r.status_code, r.headers["Allow"]) == (405, "GET")
