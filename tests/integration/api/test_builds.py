"""/api/v1 builds as Quay's clients use them: drop a file, request a build of it, list, read, follow
the log with `start`, cancel; who may do each; the superuser's views. The builds run nowhere here
(no `wharf builder`): they stay `waiting` unless cancelled. Real builds: tests/e2e/test_builds.py."""

from __future__ import annotations

import io
import tarfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import TEST_HOSTNAME, Clock
from tests.integration.world import PW, World
from wharf.auth.identity import Identity
from wharf.config import Settings, load_settings
from wharf.core import accounts, builds, queue, repositories, user_files
from wharf.core.clock import now_ms
from wharf.oci.names import RepositoryName
from wharf.services import builds as build_service

DOCKERFILE = b"FROM scratch\nCOPY hello /hello\n"
MAX_FILE = 64 * 1024


@pytest.fixture
def settings(data_dir: Path, db_uri: str | None, storage_config: dict[str, object]) -> Settings:
    """The test settings with a small USERFILES_MAX_SIZE, to see it enforced."""
    overrides = {
        "DATA_DIR": data_dir,
        "DB_URI": db_uri,
        "SERVER_HOSTNAME": TEST_HOSTNAME,
        "USERFILES_MAX_SIZE": MAX_FILE,
        **storage_config,
    }
    return load_settings(None, overrides, environ={})


async def _drop(http: httpx.AsyncClient, headers: dict[str, str], data: bytes = DOCKERFILE) -> str:
    r = await http.post("/api/v1/filedrop/", json={"mimeType": "text/plain"}, headers=headers)
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["url"] == f"http://registry.test/userfiles/{body['file_id']}"
    r = await http.put(body["url"].removeprefix("http://registry.test"), content=data, headers=headers)
    assert r.status_code == 204, r.text
    return str(body["file_id"])


async def _request(world: World, user: str, repo: str = "acme/app", **body: Any) -> httpx.Response:
    return await world.reg.http.post(f"/api/v1/repository/{repo}/build/", json=body, headers=world.api[user])


async def test_request_list_read_and_follow_a_build(world: World) -> None:
    http, writer = world.reg.http, world.api["writer"]
    file_id = await _drop(http, writer)
    r = await _request(world, "writer", file_id=file_id, docker_tags=["v1", "latest"], subdirectory="sub")
    assert r.status_code == 201, r.text
    build = r.json()
    assert r.headers["location"].endswith(f"/api/v1/repository/acme/app/build/{build['id']}/status")
    assert build["phase"] == "waiting"
    assert build["tags"] == ["v1", "latest"]
    assert build["manual_user"] == "writer"
    assert build["resource_key"] == file_id
    assert build["repository"] == {"namespace": "acme", "name": "app"}
    assert (build["subdirectory"], build["context"], build["dockerfile_path"]) == (
        "sub",
        "sub",
        "sub/Dockerfile",
    )
    assert len(build["display_name"]) == 7
    assert build["is_writer"] is True
    assert build["trigger"] is None and build["error"] is None and build["pull_robot"] is None

    listed = (await http.get("/api/v1/repository/acme/app/build/", headers=writer)).json()["builds"]
    assert [b["id"] for b in listed] == [build["id"]]
    for path in (f"build/{build['id']}", f"build/{build['id']}/status"):
        r = await http.get(f"/api/v1/repository/acme/app/{path}", headers=world.api["reader"])
        assert r.status_code == 200, r.text
        assert r.json()["id"] == build["id"] and r.json()["is_writer"] is False

    # The log, read whole and then from where the reader stopped.
    rt = world.reg.wharf.rt
    record = await rt.db.read(builds.get, build["id"])
    assert record is not None
    await rt.db.write(
        builds.append_logs, record.id, [("command", "buildah bud", None), ("", "STEP 1/2", None)]
    )
    r = await http.get(f"/api/v1/repository/acme/app/build/{build['id']}/logs", headers=writer)
    assert r.status_code == 200, r.text
    logs = r.json()
    assert logs["start"] == 0 and logs["total"] == 3
    assert logs["logs"][0]["type"] == "phase" and logs["logs"][0]["message"] == "waiting"
    r = await http.get(f"/api/v1/repository/acme/app/build/{build['id']}/logs?start=2", headers=writer)
    assert r.json() == {"start": 2, "total": 3, "logs": [{"message": "STEP 1/2", "data": {}}]}

    # The job is on the builders' queue only.
    claimed = await queue.claim(rt.db, [builds.QUEUE])
    assert claimed is not None and claimed.body["build_id"] == record.id


async def test_archive_url_and_dockerfile_path(world: World) -> None:
    r = await _request(
        world, "owner", archive_url="https://example.com/app.tar.gz", dockerfile_path="/x/Containerfile"
    )
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["dockerfile_path"], body["context"]) == ("x/Containerfile", "x")
    assert body["archive_url"] == "https://example.com/app.tar.gz"
    assert body["tags"] == ["latest"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "file_id or archive_url required"),
        ({"archive_url": "ftp://example.com/a.tar"}, "Invalid Archive URL"),
        ({"archive_url": "http://127.0.0.1/a.tar"}, "Invalid Archive URL"),
        (
            {"archive_url": "https://example.com/a", "subdirectory": "../.."},
            "may not leave the build context",
        ),
        ({"archive_url": "https://example.com/a", "docker_tags": ["bad tag"]}, "is not a valid tag"),
        ({"file_id": "00000000-0000-0000-0000-000000000000"}, "could not be found"),
    ],
)
async def test_bad_requests_are_refused_in_quays_format(
    world: World, body: dict[str, Any], message: str
) -> None:
    r = await _request(world, "owner", **body)
    assert r.status_code == 400, r.text
    assert message in r.json()["detail"]


async def test_who_may_request_read_and_cancel(world: World) -> None:
    http = world.reg.http
    # reader: reads, may not build; anonymous: 401; another organization's user: the private
    # repository does not exist for them, the public one refuses
    for user, repo, status in (
        ("reader", "acme/app", 403),
        ("outsider", "acme/app", 404),
        ("outsider", "acme/pub", 403),
    ):
        r = await _request(world, user, repo, archive_url="https://example.com/a.tar")
        assert r.status_code == status, (user, repo, r.text)
    r = await http.post("/api/v1/repository/acme/app/build/", json={"archive_url": "https://example.com/a"})
    assert r.status_code == 401
    assert (await http.get("/api/v1/repository/acme/app/build/")).status_code == 401
    assert (await http.get("/api/v1/repository/acme/pub/build/")).status_code == 200

    build = (await _request(world, "writer", archive_url="https://example.com/a.tar")).json()
    # the log needs write access (FEATURE_READER_BUILD_LOGS is off); the build itself only read
    logs = f"/api/v1/repository/acme/app/build/{build['id']}/logs"
    assert (await http.get(logs, headers=world.api["reader"])).status_code == 403
    assert (await http.get(logs, headers=world.api["writer"])).status_code == 200
    assert (await http.get(logs, headers=world.api["admin"])).status_code == 200
    assert (
        await http.get(f"/api/v1/repository/acme/app/build/{build['id']}", headers=world.api["reader"])
    ).status_code == 200
    assert (
        "archive_url"
        not in (
            await http.get(f"/api/v1/repository/acme/app/build/{build['id']}", headers=world.api["reader"])
        ).json()
    )
    # a build of another repository is not found under this one
    other = f"/api/v1/repository/acme/pub/build/{build['id']}"
    assert (await http.get(other, headers=world.api["owner"])).status_code == 404

    # cancelling needs admin
    url = f"/api/v1/repository/acme/app/build/{build['id']}"
    assert (await http.delete(url, headers=world.api["writer"])).status_code == 403
    r = await http.delete(url, headers=world.api["direct"])
    assert r.status_code == 201 and r.json() == "Okay"
    assert (await http.get(url, headers=world.api["owner"])).json()["phase"] == "cancelled"
    r = await http.delete(url, headers=world.api["owner"])
    assert r.status_code == 400 and "has finished" in r.json()["detail"]
    r = await http.get("/api/v1/repository/acme/app/logs", headers=world.api["owner"])
    kinds = [e["kind"] for e in r.json()["logs"]]
    assert "build_dockerfile" in kinds and "cancel_build" in kinds


async def test_superuser_views(world: World) -> None:
    http = world.reg.http
    build = (await _request(world, "writer", archive_url="https://example.com/a.tar")).json()
    for path in ("build", "status"):
        r = await http.get(f"/api/v1/superuser/{build['id']}/{path}", headers=world.api["admin"])
        assert r.status_code == 200, r.text
        assert r.json()["id"] == build["id"]
        assert (
            await http.get(f"/api/v1/superuser/{build['id']}/{path}", headers=world.api["owner"])
        ).status_code == 403
    r = await http.get(f"/api/v1/superuser/{build['id']}/logs", headers=world.api["admin"])
    assert r.status_code == 200 and r.json()["total"] == 1
    archive = f"/api/v1/superuser/{build['id']}/logs/archive"
    r = await http.get(archive, headers=world.api["admin"])
    assert r.status_code == 200 and r.json()["start"] == 0 and len(r.json()["logs"]) == r.json()["total"] == 1
    assert (await http.get(archive, headers=world.api["owner"])).status_code == 403
    missing = "/api/v1/superuser/00000000-0000-0000-0000-000000000000/build"
    assert (await http.get(missing, headers=world.api["admin"])).status_code == 404


async def test_file_drops_belong_to_their_requester(world: World) -> None:
    http = world.reg.http
    r = await http.post("/api/v1/filedrop/", json={"mimeType": "application/x-tar"})
    assert r.status_code == 401
    r = await http.post(
        "/api/v1/filedrop/", json={"mimeType": "application/x-tar"}, headers=world.api["writer"]
    )
    path = r.json()["url"].removeprefix("http://registry.test")
    # another user may not fill it, nor may anonymous
    assert (await http.put(path, content=b"x", headers=world.api["owner"])).status_code == 404
    assert (await http.put(path, content=b"x")).status_code == 401
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w:gz") as t:
        info = tarfile.TarInfo("Dockerfile")
        info.size = len(DOCKERFILE)
        t.addfile(info, io.BytesIO(DOCKERFILE))
    assert (await http.put(path, content=tar.getvalue(), headers=world.api["writer"])).status_code == 204
    # written once
    r = await http.put(path, content=b"again", headers=world.api["writer"])
    assert r.status_code == 400 and "uploaded already" in r.json()["detail"]
    file_id = path.rsplit("/", 1)[1]
    stored = await world.reg.wharf.rt.store.get_bytes(user_files.storage_path(file_id))
    assert stored == tar.getvalue()
    # someone else's file may not be built
    r = await _request(world, "owner", file_id=file_id)
    assert r.status_code == 403, r.text


async def test_uploads_are_capped_and_expire(world: World, clock: Clock) -> None:
    rt = world.reg.wharf.rt
    http = world.reg.http
    limited = rt.settings.USERFILES_MAX_SIZE
    r = await http.post("/api/v1/filedrop/", json={"mimeType": "x"}, headers=world.api["writer"])
    path = r.json()["url"].removeprefix("http://registry.test")
    r = await http.put(path, content=b"x" * (limited + 1), headers=world.api["writer"])
    assert r.status_code == 400 and "at most" in r.json()["detail"]
    assert await rt.store.stat(user_files.storage_path(path.rsplit("/", 1)[1])) is None
    # an unused drop expires
    r = await http.post("/api/v1/filedrop/", json={"mimeType": "x"}, headers=world.api["writer"])
    later = r.json()["url"].removeprefix("http://registry.test")
    found = await rt.db.read(user_files.get, later.rsplit("/", 1)[1])
    assert found is not None and found.expires_ms > now_ms()
    clock.advance(rt.settings.USERFILES_EXPIRATION_S + 1)
    assert (await http.put(later, content=b"x", headers=world.api["writer"])).status_code == 404


async def test_builds_can_be_turned_off(world: World) -> None:
    rt = world.reg.wharf.rt
    off = replace(rt, settings=rt.settings.model_copy(update={"FEATURE_BUILD_SUPPORT": False}))
    owner = Identity("user", 2, "owner")
    repo = await rt.db.read(repositories.get, "acme", "app")
    assert repo is not None
    wanted = build_service.BuildInput(archive_url="https://example.com/a.tar")
    with pytest.raises(build_service.BuildsDisabled):
        await build_service.request_build(off, owner, repo, wanted)
    with pytest.raises(build_service.BuildsDisabled):
        await build_service.filedrop(off, owner, "text/plain")


async def _account_id(world: World, name: str) -> int:
    account = await world.reg.wharf.rt.db.read(accounts.get_by_name, name)
    assert account is not None
    return account.id


async def test_pull_robots_need_admin_over_their_namespace(world: World) -> None:
    http = world.reg.http
    r = await http.put("/api/v1/organization/acme/robots/puller", json={}, headers=world.api["owner"])
    assert r.status_code == 201, r.text
    url = "https://example.com/a.tar"
    r = await _request(world, "owner", archive_url=url, pull_robot="acme+puller")
    assert r.status_code == 201, r.text
    assert r.json()["pull_robot"] == {"name": "acme+puller", "kind": "user", "is_robot": True}
    r = await _request(world, "writer", archive_url=url, pull_robot="acme+puller")
    assert r.status_code == 403, r.text
    r = await _request(world, "owner", archive_url=url, pull_robot="acme+nobody")
    assert r.status_code == 404, r.text


async def test_a_builds_registry_token_is_scoped_to_what_it_builds(world: World) -> None:
    """Push and pull on the target as the requester may; pull on base images as the pull robot
    (or the requester) may; nothing on what neither may read."""
    rt = world.reg.wharf.rt
    http = world.reg.http
    await world.reg.push_blob("owner/private-base", b"base", user="owner", password=PW)
    writer = await build_service.identity_of(rt, await _account_id(world, "writer"))
    assert writer is not None
    target = RepositoryName("acme", "app")
    sources = [RepositoryName("acme", "pub"), RepositoryName("owner", "private-base")]
    grant = rt.tokens.verify(await build_service.registry_token(rt, writer, target, writer, sources))
    assert grant.access == {
        ("repository", "acme/app"): frozenset({"pull", "push"}),
        ("repository", "acme/pub"): frozenset({"pull"}),
    }
    assert grant.identity.name == "writer"
    # a pull robot reads for the base images: given read on the private base, it may pull it
    r = await http.put("/api/v1/user/robots/basepull", json={}, headers=world.api["owner"])
    assert r.status_code == 201, r.text
    r = await http.put(
        "/api/v1/repository/owner/private-base/permissions/user/owner+basepull",
        json={"role": "read"},
        headers=world.api["owner"],
    )
    assert r.status_code == 200, r.text
    robot = await build_service.identity_of(rt, await _account_id(world, "owner+basepull"))
    assert robot is not None and robot.kind == "robot"
    grant = rt.tokens.verify(await build_service.registry_token(rt, writer, target, robot, sources))
    assert grant.access[("repository", "owner/private-base")] == frozenset({"pull"})
    assert ("repository", "acme/pub") in grant.access
    # a disabled requester gets no token at all
    assert await build_service.identity_of(rt, await _account_id(world, "disabled")) is None


async def test_a_build_its_builder_failed_shows_internalerror_with_its_message(world: World) -> None:
    http, writer = world.reg.http, world.api["writer"]
    build = (await _request(world, "writer", file_id=await _drop(http, writer))).json()
    rt = world.reg.wharf.rt
    record = await rt.db.read(builds.get, build["id"])
    assert record is not None
    await rt.db.write(builds.start, record.id, None)
    # what jobs/builder.py does when its own code fails mid-build
    failed = "The builder failed: KeyError"
    await rt.db.write(builds.finish, record.id, builds.INTERNAL_ERROR, error=failed, attempt=1)
    r = await http.get(f"/api/v1/repository/acme/app/build/{build['id']}/status", headers=writer)
    assert (r.json()["phase"], r.json()["error"]) == ("internalerror", failed)  # not `expired`
