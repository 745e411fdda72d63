"""The hourly build clean-up: the logs of builds finished longer than BUILD_LOGS_RETENTION ago go
(the builds stay), and so do build files past USERFILES_EXPIRATION_S, bytes and row."""

from __future__ import annotations

from tests.conftest import Clock
from tests.integration.registry_client import RegistryClient
from wharf.app import WharfApp
from wharf.core import accounts, audit, builds, repositories, user_files
from wharf.core.builds import BuildRequest
from wharf.jobs import runner


async def test_old_logs_and_expired_files_are_removed(
    wharf: WharfApp, reg: RegistryClient, clock: Clock
) -> None:
    rt = wharf.rt
    assert runner.periodic(rt)["build_cleanup"] == 3600
    await reg.push_blob("admin/app", b"layer")
    repo = await rt.db.read(repositories.get, "admin", "app")
    admin = await rt.db.read(accounts.get_by_name, "admin")
    assert repo is not None and admin is not None
    request = BuildRequest("abc", ["latest"], "Dockerfile", "", "", archive_url="https://example.com/a")
    build = await rt.db.write(builds.create, repo, request, audit.Actor(admin.id, "admin"))
    await rt.db.write(builds.start, build.id, None)
    await rt.db.write(builds.finish, build.id, builds.COMPLETE)
    drop = await rt.db.write(
        user_files.reserve, admin.id, "text/plain", rt.settings.USERFILES_EXPIRATION_S * 1000
    )
    await rt.store.put_bytes(user_files.storage_path(drop.id), b"FROM scratch\n")

    await runner.clean_up_builds(rt, {})
    assert (await rt.db.read(builds.read_logs, build.id, 0))[0] == 3
    assert await rt.db.read(user_files.get, drop.id) is not None

    clock.advance(31 * 86400)  # past BUILD_LOGS_RETENTION (30d) and USERFILES_EXPIRATION_S (1d)
    await runner.clean_up_builds(rt, {})
    assert await rt.db.read(builds.read_logs, build.id, 0) == (0, [])
    assert await rt.db.read(builds.get, build.uuid) is not None
    assert await rt.db.read(user_files.get, drop.id) is None
    assert await rt.store.stat(user_files.storage_path(drop.id)) is None
    assert builds.QUEUE not in runner.HANDLERS
