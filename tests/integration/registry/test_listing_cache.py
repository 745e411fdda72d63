"""tags/list pages kept by a server process (core/tag_list_cache.py): served again only while the
repository's tags are as they were read, whoever changed them (this process, another one on the
same database) and however (a push, a deletion, a move, an expiry), and never without the
caller's access being checked again."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.conftest import DB_BACKEND, Clock
from tests.integration.registry_client import RegistryClient
from wharf.app import WharfApp, build_app
from wharf.core import accounts, repositories, revocation, tags
from wharf.core.clock import now_ms
from wharf.db.engine import Db

REPO = "admin/kept"


async def _listed(reg: RegistryClient, params: dict[str, Any] | None = None) -> list[str]:
    r = await reg.http.get(f"/v2/{REPO}/tags/list", params=params, headers=await reg.headers(REPO))
    assert r.status_code == 200, r.text
    names: list[str] = r.json()["tags"]
    return names


async def _tag(reg: RegistryClient, manifest: dict[str, Any], *names: str) -> None:
    for name in names:
        assert (await reg.push_manifest(REPO, name, json.dumps(manifest).encode())).status_code == 201


async def test_a_kept_page_is_served_until_a_tag_is_pushed_deleted_or_moved(
    reg: RegistryClient, wharf: WharfApp
) -> None:
    _, first = await reg.push_image(REPO, "a")
    await _tag(reg, first, "b", "c")
    kept = wharf.rt.tag_lists
    assert await _listed(reg, {"n": 2}) == ["a", "b"]
    hits = kept.hits
    assert await _listed(reg, {"n": 2}) == ["a", "b"]
    assert kept.hits == hits + 1

    await _tag(reg, first, "aa")  # pushed
    assert await _listed(reg, {"n": 2}) == ["a", "aa"]
    r = await reg.http.delete(f"/v2/{REPO}/manifests/aa", headers=await reg.headers(REPO))
    assert r.status_code == 202, r.text  # deleted
    assert await _listed(reg, {"n": 2}) == ["a", "b"]

    hits = kept.hits
    _, second = await reg.push_image(REPO, "b")  # moved: the names stay, the page is read again
    assert second != first
    assert await _listed(reg, {"n": 2}) == ["a", "b"]
    assert kept.hits == hits
    assert await _listed(reg) == ["a", "b", "c"]


async def test_a_kept_page_loses_a_tag_when_its_expiry_passes(
    reg: RegistryClient, wharf: WharfApp, clock: Clock
) -> None:
    _, manifest = await reg.push_image(REPO, "a")
    await _tag(reg, manifest, "b", "c")

    def expire_b_in_a_minute(db: Db) -> None:
        repo = repositories.get(db, "admin", "kept")
        assert repo is not None
        tags.set_expiration(db, repo.id, "b", now_ms() + 60_000)

    await wharf.rt.db.write(expire_b_in_a_minute)
    assert await _listed(reg) == ["a", "b", "c"]
    hits = wharf.rt.tag_lists.hits
    assert await _listed(reg) == ["a", "b", "c"]
    assert wharf.rt.tag_lists.hits == hits + 1
    clock.advance(61)  # nothing is written: the tag is gone by the clock alone
    assert await _listed(reg) == ["a", "c"]
    assert await _listed(reg) == ["a", "c"]


async def test_a_change_made_by_another_process_is_seen(reg: RegistryClient, wharf: WharfApp) -> None:
    _, manifest = await reg.push_image(REPO, "a")
    assert await _listed(reg) == ["a"]
    assert await _listed(reg) == ["a"]  # kept in this process
    other = build_app(wharf.rt.settings, run_workers=False)  # a second server on the same database
    try:
        transport = httpx.ASGITransport(app=other, client=("10.1.2.4", 5555))
        async with httpx.AsyncClient(transport=transport, base_url=str(reg.http.base_url)) as c:
            elsewhere = RegistryClient(c, other)
            r = await elsewhere.push_manifest(REPO, "b", json.dumps(manifest).encode())
            assert r.status_code == 201
            r = await c.delete(f"/v2/{REPO}/manifests/a", headers=await elsewhere.headers(REPO))
            assert r.status_code == 202
    finally:
        await other.rt.close()
    assert await _listed(reg) == ["b"]


async def test_a_kept_page_is_not_served_to_a_token_revoked_since(
    reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.push_image(REPO, "a")
    h = await reg.headers(REPO)
    for _ in range(2):
        r = await reg.http.get(f"/v2/{REPO}/tags/list", headers=h)
        assert r.status_code == 200

    def revoke_admins_tokens(db: Db) -> None:  # as a password change does
        admin = accounts.get_by_name(db, "admin")
        assert admin is not None
        revocation.revoke(db, [admin.id])

    await wharf.rt.db.write(revoke_admins_tokens)
    r = await reg.http.get(f"/v2/{REPO}/tags/list", headers=h)
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == "UNAUTHORIZED"


async def test_a_kept_page_is_written_byte_for_byte_as_read(reg: RegistryClient, wharf: WharfApp) -> None:
    _, manifest = await reg.push_image(REPO, "v1.0")
    await _tag(reg, manifest, "v1.1", "latest", "v2_rc-1")
    h = await reg.headers(REPO)
    every = sorted(["v1.0", "v1.1", "latest", "v2_rc-1"])
    for params, names, link in (
        ({"n": "3"}, every[:3], f'</v2/{REPO}/tags/list?n=3&last={every[2]}>; rel="next"'),
        ({"n": "3", "last": every[2]}, every[3:], None),
        ({}, every, None),
    ):
        hits = wharf.rt.tag_lists.hits
        first = await reg.http.get(f"/v2/{REPO}/tags/list", params=params, headers=h)
        again = await reg.http.get(f"/v2/{REPO}/tags/list", params=params, headers=h)
        assert wharf.rt.tag_lists.hits == hits + 1
        expected = json.dumps({"name": REPO, "tags": names}, separators=(",", ":")).encode()
        assert first.content == again.content == expected, params
        assert first.headers.get("Link") == again.headers.get("Link") == link


async def test_a_repository_that_gets_the_id_of_a_deleted_one_does_not_get_its_pages(
    reg: RegistryClient, wharf: WharfApp
) -> None:
    await reg.push_image(REPO, "old")
    assert await _listed(reg) == ["old"]
    gone = await wharf.rt.db.read(repositories.get, "admin", "kept")
    assert gone is not None
    await wharf.rt.db.write(repositories.delete_repo, gone, None)
    await reg.push_image(REPO, "new")
    again = await wharf.rt.db.read(repositories.get, "admin", "kept")
    assert again is not None
    if DB_BACKEND == "sqlite":
        assert again.id == gone.id  # SQLite hands the highest rowid out again
    assert await _listed(reg) == ["new"]
