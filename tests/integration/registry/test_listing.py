"""tags/list and _catalog, with n/last paging, Link headers and visibility."""

from __future__ import annotations

import json

import httpx
from sqlalchemy import select

from tests.integration.registry_client import RegistryClient
from wharf.app import WharfApp, build_app
from wharf.core import repositories, tags
from wharf.db.engine import Db
from wharf.db.models import Manifest

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
    token = await reg.token("registry:catalog:*", **kw)
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


# Names sharing prefixes, with every separator the tag grammar allows and both cases: the listing
# is in byte order on both databases (what `sorted` gives), and `last` need not be a tag.
PREFIXED = ["v1", "v1.0", "v1.0.1", "v10", "v1-rc", "v1_x", "V1", "v1.0-beta", "v2", "_v"]


async def test_tag_pages_with_shared_prefixes_and_edges(reg: RegistryClient) -> None:
    await _tag_many(reg, PREFIXED)
    h = await reg.headers(REPO)
    every = sorted(PREFIXED)

    async def page(**params: str | int) -> tuple[list[str], str | None]:
        r = await reg.http.get(f"/v2/{REPO}/tags/list", params=params, headers=h)
        assert r.status_code == 200, r.text
        # The body is byte for byte what the standard encoder wrote before pydantic-core's did.
        assert r.content == json.dumps(r.json(), separators=(",", ":")).encode()
        assert r.headers["content-type"] == "application/json"
        return r.json()["tags"], r.headers.get("Link")

    assert await page() == (every, None)
    for n in (1, 2, 3, 4, len(every) - 1):  # every page size walks to the same whole
        seen: list[str] = []
        last: str | None = None
        while True:
            names, link = await page(n=n, **({"last": last} if last is not None else {}))
            seen += names
            if link is None:
                break
            last = names[-1]
            assert link == f'</v2/{REPO}/tags/list?n={n}&last={last}>; rel="next"'
        assert seen == every, n
    # `last` that is not a tag: the names after it, as the spec's lexical order places it
    for last in ("v1.0.0", "v1.", "V", "v1z", "", "~"):
        names, _ = await page(last=last)
        assert names == [t for t in every if t > last], last
    # n=0: an empty page and no next link, even though tags exist
    assert await page(n=0) == ([], None)
    # the last page exactly full: no link to an empty page
    assert await page(n=3, last=every[-4]) == (every[-3:], None)
    # a page larger than the inline limit is read on the database's pool, with the same answer
    assert await page(n=5000) == (every, None)


async def test_page_sizes_over_the_limit_are_capped(wharf: WharfApp) -> None:
    app = build_app(
        wharf.rt.settings.model_copy(update={"TAG_LIST_PAGE_LIMIT": 3, "CATALOG_PAGE_LIMIT": 2}),
        run_workers=False,
    )
    try:
        transport = httpx.ASGITransport(app=app, client=("10.1.2.3", 5555))
        async with httpx.AsyncClient(transport=transport, base_url="http://registry.test") as c:
            reg = RegistryClient(c, app)
            await _tag_many(reg, PREFIXED)
            h = await reg.headers(REPO)
            every = sorted(PREFIXED)
            for params in ({"n": "50"}, {"n": "99999999999"}, {}):
                r = await c.get(f"/v2/{REPO}/tags/list", params=params, headers=h)
                assert r.json()["tags"] == every[:3], params
                # the link names the page size actually served, when the client gave one
                expected = f"n=3&last={every[2]}" if params else f"last={every[2]}"
                assert r.headers["Link"] == f'</v2/{REPO}/tags/list?{expected}>; rel="next"'
            for repo in ("admin/c3", "admin/c1", "admin/c2"):
                await reg.push_blob(repo, b"x")
            page, link = await _catalog(reg, "/v2/_catalog?n=1000")
            assert page == ["admin/c1", "admin/c2"]
            assert link == '</v2/_catalog?n=2&last=admin%2Fc2>; rel="next"'
            page, link = await _catalog(reg, "/v2/_catalog?n=2&last=admin/c15")  # not a repository
            assert page == ["admin/c2", "admin/c3"]
            assert link == '</v2/_catalog?n=2&last=admin%2Fc3>; rel="next"'
            page, link = await _catalog(reg, "/v2/_catalog?n=2&last=admin/c3")
            assert (page, link) == ([REPO], None)
    finally:
        await app.rt.close()


async def test_catalog_body_is_unchanged_byte_for_byte(reg: RegistryClient) -> None:
    for repo in ("admin/b", "admin/a"):
        await reg.push_blob(repo, b"x")
    token = await reg.token("registry:catalog:*")
    for url, expected in (
        ("/v2/_catalog", {"repositories": ["admin/a", "admin/b"]}),
        ("/v2/_catalog?n=0", {"repositories": []}),
        ("/v2/_catalog?last=admin/b", {"repositories": []}),
    ):
        r = await reg.http.get(url, headers={"Authorization": f"Bearer {token}"})
        assert r.content == json.dumps(expected, separators=(",", ":")).encode(), url
        assert "Link" not in r.headers


async def test_tag_names_outside_the_grammar_are_listed_whole(reg: RegistryClient, wharf: WharfApp) -> None:
    """The body is written from the joined page only when every name is of the tag grammar; a name
    that JSON escapes or that holds the separator (core writes what a mirror or an import gave it)
    is listed through the encoder, whole."""
    await _tag_many(reg, ["plain"])
    odd = ['q"uote', "x,y", "back\\slash", "plain"]

    def tag_odd(db: Db) -> None:
        repo = repositories.get(db, "admin", "listing")
        assert repo is not None
        manifest_id = db.execute(select(Manifest.id).where(Manifest.repository_id == repo.id)).scalar_one()
        for name in odd[:-1]:
            tags.point(db, repo.id, name, manifest_id)

    await wharf.rt.db.write(tag_odd)
    h = await reg.headers(REPO)
    r = await reg.http.get(f"/v2/{REPO}/tags/list", headers=h)
    assert r.json() == {"name": REPO, "tags": sorted(odd)}
    r = await reg.http.get(f"/v2/{REPO}/tags/list", params={"n": 2}, headers=h)
    assert r.json()["tags"] == sorted(odd)[:2]
    assert r.headers["Link"].startswith(f"</v2/{REPO}/tags/list?n=2&last=")
