"""The /v2 surface's reads (services/pulls.py) and the repository a /v2 write goes to
(services/pushes.py), called without HTTP: what each decides with the database, in the transaction
it runs anyway. The surface's wording of the same errors (OCI error JSON, the 401 challenge of a
revoked token) is tested in tests/integration/registry/."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from tests.conftest import TEST_HOSTNAME
from wharf.app import WharfApp
from wharf.auth.identity import Identity
from wharf.auth.tokens import Grant
from wharf.core import accounts, audit, repositories, revocation, uploads
from wharf.core.errors import (
    Busy,
    InvalidRange,
    ManifestNotFound,
    ReadOnly,
    RepositoryNotFound,
    TokenRevoked,
    UploadNotFound,
)
from wharf.oci.names import RepositoryName
from wharf.runtime import Runtime
from wharf.services import pulls, pushes

BY = audit.Actor(None, "admin", "127.0.0.1", origin=f"http://{TEST_HOSTNAME}")
RAW = "admin/reads"
NAME = RepositoryName("admin", "reads")


async def _admin_grant(
    rt: Runtime, *, stale: bool = False, public_only: frozenset[str] = frozenset()
) -> Grant:
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert admin is not None
    generation = await rt.db.read(revocation.generation, admin.id)
    assert generation is not None
    identity = Identity("user", admin.id, "admin", is_superuser=True)
    return Grant(identity, {}, generation + 1 if stale else generation, public_only)


def _reads(
    rt: Runtime, grant: Grant | None, raw: str, name: RepositoryName
) -> list[Callable[[], Awaitable[Any]]]:
    """Every read of a repository, as the surface calls it."""
    return [
        lambda: pulls.manifest(rt, grant, raw, name, "latest"),
        lambda: pulls.blob(rt, grant, raw, name, "sha256:" + "0" * 64),
        lambda: pulls.referrers(rt, grant, raw, name, "sha256:" + "0" * 64, None),
        lambda: pulls.tag_names(rt, grant, raw, name, after=None, limit=11),
        lambda: pulls.tag_names(rt, grant, raw, name, after=None, limit=pulls.INLINE_PAGE_MAX + 2),
    ]


async def test_a_first_write_creates_the_repository_and_the_reads_find_it(wharf: WharfApp) -> None:
    rt = wharf.rt
    grant = await _admin_grant(rt)
    for read in _reads(rt, grant, RAW, NAME):
        with pytest.raises(RepositoryNotFound, match=f"repository {RAW} not found"):
            await read()
    with pytest.raises(UploadNotFound):  # an upload never creates its repository
        await pushes.open_upload(rt, grant, RAW, NAME, "a0a0a0a0-0000-4000-8000-000000000000")
    created = await pushes.writable_repository(rt, grant, RAW, NAME, BY)
    assert (created.namespace, created.name, created.is_public) == ("admin", "reads", False)
    assert (await pushes.writable_repository(rt, grant, RAW, NAME, BY)).id == created.id
    with pytest.raises(ManifestNotFound):
        await pulls.manifest(rt, grant, RAW, NAME, "latest")
    assert await pulls.blob(rt, grant, RAW, NAME, "sha256:" + "0" * 64) is None
    assert await pulls.referrers(rt, grant, RAW, NAME, "sha256:" + "0" * 64, None) == []
    assert await pulls.tag_names(rt, grant, RAW, NAME, after=None, limit=11) == []
    assert await pulls.catalog_names(rt, grant, after=None, limit=11) == [RAW]
    with pytest.raises(UploadNotFound):
        await pushes.open_upload(rt, grant, RAW, NAME, "not-an-upload")


async def test_a_revoked_token_reads_and_writes_nothing(wharf: WharfApp) -> None:
    """A token whose account's credential generation moved on since its issue is refused in the
    statement that finds the repository, whether or not the repository exists."""
    rt = wharf.rt
    await pushes.writable_repository(rt, await _admin_grant(rt), RAW, NAME, BY)
    stale = await _admin_grant(rt, stale=True)
    for raw, name in ((RAW, NAME), ("admin/missing", RepositoryName("admin", "missing"))):
        for read in _reads(rt, stale, raw, name):
            with pytest.raises(TokenRevoked):
                await read()
        with pytest.raises(TokenRevoked):
            await pushes.writable_repository(rt, stale, raw, name, BY)
        with pytest.raises(TokenRevoked):
            await pushes.open_upload(rt, stale, raw, name, "a0a0a0a0-0000-4000-8000-000000000000")
        with pytest.raises(TokenRevoked):
            await pushes.claim_upload(rt, stale, raw, name, "a0a0a0a0-0000-4000-8000-000000000000", None)
        with pytest.raises(TokenRevoked):
            await rt.db.write(pushes.target(rt, stale, raw, name, BY))
    with pytest.raises(TokenRevoked):
        await pulls.catalog_names(rt, stale, after=None, limit=11)
    assert await rt.db.read(repositories.get, "admin", "missing") is None


async def test_a_pull_granted_because_the_repository_was_public_ends_when_it_is_not(wharf: WharfApp) -> None:
    rt = wharf.rt
    repo = await pushes.writable_repository(rt, await _admin_grant(rt), RAW, NAME, BY)
    await rt.db.write(repositories.set_visibility, repo, "public", BY)
    grant = await _admin_grant(rt, public_only=frozenset({RAW}))
    assert await pulls.tag_names(rt, grant, RAW, NAME, after=None, limit=11) == []
    await rt.db.write(repositories.set_visibility, repo, "private", BY)
    for read in _reads(rt, grant, RAW, NAME):
        with pytest.raises(TokenRevoked):
            await read()


async def test_a_read_only_repository_takes_no_write(wharf: WharfApp) -> None:
    rt = wharf.rt
    grant = await _admin_grant(rt)
    repo = await pushes.writable_repository(rt, grant, RAW, NAME, BY)
    await rt.db.write(repositories.set_state, repo, repositories.READ_ONLY, BY)
    message = f"repository {RAW} is read-only"
    with pytest.raises(ReadOnly, match=message):
        await pushes.writable_repository(rt, grant, RAW, NAME, BY)
    with pytest.raises(ReadOnly, match=message):
        await pushes.open_upload(rt, grant, RAW, NAME, "a0a0a0a0-0000-4000-8000-000000000000")
    with pytest.raises(ReadOnly, match=message):
        await pushes.claim_upload(rt, grant, RAW, NAME, "a0a0a0a0-0000-4000-8000-000000000000", None)
    with pytest.raises(ReadOnly, match=message):
        await rt.db.write(pushes.target(rt, grant, RAW, NAME, BY))
    assert await pulls.tag_names(rt, grant, RAW, NAME, after=None, limit=11) == []  # reads go on


async def test_claiming_an_upload_finds_it_and_holds_it_in_one_write(wharf: WharfApp) -> None:
    """`claim_upload` tells an unknown upload, a chunk that starts elsewhere (nothing claimed)
    and an upload another request holds apart, all in the write that claims it."""
    rt = wharf.rt
    grant = await _admin_grant(rt)
    target = pushes.target(rt, grant, RAW, NAME, BY)
    upload = await uploads.start(rt.db, rt.store, target)
    with pytest.raises(UploadNotFound):
        await pushes.claim_upload(rt, grant, RAW, NAME, "a0a0a0a0-0000-4000-8000-000000000000", None)
    with pytest.raises(InvalidRange):
        await pushes.claim_upload(rt, grant, RAW, NAME, upload.id, 5)
    claim = await pushes.claim_upload(rt, grant, RAW, NAME, upload.id, 0)
    assert claim.upload == upload
    with pytest.raises(Busy):
        await pushes.claim_upload(rt, grant, RAW, NAME, upload.id, None)
    assert await uploads.append(rt.db, rt.store, claim, _chunks(b"abc")) == dataclasses.replace(
        upload, offset=3
    )
    await pushes.claim_upload(rt, grant, RAW, NAME, upload.id, 3)  # `append` gave it back


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data
