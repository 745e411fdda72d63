"""Repository lists as the service pages them (services/repositories.browse) for real callers: the
permission resolver decides what each sees, so a private repository of someone else is neither
listed nor counted; and what a row says (tags, size, last change, stars)."""

from __future__ import annotations

from tests.integration.registry_client import RegistryClient
from tests.integration.world import World
from wharf.auth.identity import ANONYMOUS, Identity
from wharf.core import accounts, audit, pull_stats, repositories, stars
from wharf.runtime import Runtime
from wharf.services import repositories as repository_service

BY = audit.Actor(None, "owner")


async def _identity(rt: Runtime, name: str) -> Identity:
    account = await rt.db.read(accounts.get_by_name, name)
    assert account is not None
    return Identity("user", account.id, name)


async def _names(rt: Runtime, who: Identity, **kw: object) -> tuple[list[str], int]:
    found = await repository_service.browse(rt, who, **kw)  # type: ignore[arg-type]
    return [r.repo.full_name for r in found.rows], found.total


async def test_each_caller_sees_and_counts_only_what_it_may_read(world: World) -> None:
    rt = world.reg.wharf.rt
    for i in range(3):
        await rt.db.write(repositories.create, "owner", f"secret-{i}", visibility="private", actor=BY)
    await rt.db.write(repositories.create, "outsider", "own", visibility="private", actor=BY)
    outsider, reader, owner = [await _identity(rt, n) for n in ("outsider", "reader", "owner")]

    assert await _names(rt, outsider) == (["acme/pub", "outsider/own"], 2)
    assert await _names(rt, outsider, scope="mine") == (["outsider/own"], 1)
    assert await _names(rt, outsider, contains="secret") == ([], 0)
    assert await _names(rt, outsider, namespace="owner") == ([], 0)
    assert await _names(rt, outsider, namespace="acme") == (["acme/pub"], 1)
    assert await _names(rt, reader, namespace="acme") == (["acme/app", "acme/pub"], 2)
    assert await _names(rt, reader, scope="public") == (["acme/pub"], 1)
    owned = ["owner/secret-0", "owner/secret-1", "owner/secret-2"]
    assert await _names(rt, owner, scope="mine", contains="owner/") == (owned, 3)
    assert await _names(rt, ANONYMOUS) == (["acme/pub"], 1)
    assert await _names(rt, ANONYMOUS, scope="starred") == ([], 0)
    assert await _names(rt, ANONYMOUS, scope="mine") == ([], 0)


async def test_a_starred_repository_one_may_no_longer_read_is_not_listed(world: World) -> None:
    rt = world.reg.wharf.rt
    outsider = await _identity(rt, "outsider")
    app = await rt.db.read(repositories.get, "acme", "app")
    pub = await rt.db.read(repositories.get, "acme", "pub")
    assert app is not None and pub is not None and outsider.account_id is not None
    await rt.db.write(stars.star, outsider.account_id, app.id)  # starred while it could, say
    await rt.db.write(stars.star, outsider.account_id, pub.id)
    assert await _names(rt, outsider, scope="starred") == (["acme/pub"], 1)


async def test_rows_carry_tags_size_last_change_and_stars(world: World, reg: RegistryClient) -> None:
    rt = world.reg.wharf.rt
    _, manifest = await reg.push_image("acme/app", "v1")
    assert (await reg.push_manifest("acme/app", "latest", manifest)).status_code == 201
    reader = await _identity(rt, "reader")
    app = await rt.db.read(repositories.get, "acme", "app")
    assert app is not None and reader.account_id is not None
    await rt.db.write(stars.star, reader.account_id, app.id)
    found = await repository_service.browse(rt, reader, namespace="acme")
    row, pub = found.rows
    assert (row.repo.full_name, row.tags, row.starred, row.stars) == ("acme/app", 2, True, 1)
    assert row.size is not None and row.size > 2048 and row.modified_ms is not None
    assert (pub.tags, pub.starred, pub.stars, pub.modified_ms) == (0, False, 0, None)


async def test_pages_number_from_one_and_a_page_past_the_end_reads_the_last(world: World) -> None:
    rt = world.reg.wharf.rt
    for i in range(7):
        await rt.db.write(repositories.create, "acme", f"many-{i}", visibility="private", actor=BY)
    owner = await _identity(rt, "owner")
    first = await repository_service.browse(rt, owner, namespace="acme", page_size=3)
    assert (first.total, first.page, first.pages, first.first, first.last) == (9, 1, 3, 1, 3)
    last = await repository_service.browse(rt, owner, namespace="acme", page=99, page_size=3)
    assert (last.page, last.first, last.last) == (3, 7, 9)
    assert [r.repo.name for r in last.rows] == ["many-5", "many-6", "pub"]
    none = await repository_service.browse(rt, owner, namespace="acme", contains="zzz", page_size=3)
    assert (none.total, none.page, none.pages, none.first, none.last) == (0, 1, 1, 0, 0)


async def test_rows_carry_their_pulls(world: World) -> None:
    """A row's pulls are its repository's pull-statistics counter (zero when never pulled)."""
    rt = world.reg.wharf.rt
    app = await rt.db.read(repositories.get, "acme", "app")
    assert app is not None
    counter = pull_stats.Counter()
    for at in (1, 2, 3):
        counter.add((app.id, "v1", "sha256:a"), at)
    await rt.db.write(pull_stats.write, counter)
    found = await repository_service.browse(rt, await _identity(rt, "reader"), namespace="acme")
    assert [(r.repo.full_name, r.pulls) for r in found.rows] == [("acme/app", 3), ("acme/pub", 0)]
