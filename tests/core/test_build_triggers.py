"""core.build_triggers on the real database: a trigger is created inactive, activated with its
configuration and sealed secrets, starts builds carrying Quay's trigger_metadata (queued and
announced with the trigger), is toggled and deleted (its builds stay), each logged."""

from __future__ import annotations

import json
from collections.abc import Callable

from sqlalchemy import select

from wharf.core import accounts, audit, build_triggers, builds, notifications, repositories, trigger_payloads
from wharf.core.build_triggers import Activation
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Database, Db
from wharf.db.models import Job

ACTOR = audit.Actor(None, "admin", origin="https://wharf.example.com")
SHA = "89abcdef0123456789abcdef0123456789abcdef"


def _repo(db: Database) -> tuple[RepositoryRecord, int]:
    def make(c: Db) -> tuple[RepositoryRecord, int]:
        repo = repositories.create(c, "admin", "app", visibility="private", actor=None)
        admin = accounts.get_by_name(c, "admin")
        assert admin is not None
        return repo, admin.id

    return db.run_write(make)


def _queued_for(db: Database) -> list[str]:
    """The refs of the builds whose build_queued notification was queued for delivery."""

    def read(c: Db) -> list[str]:
        rows = c.execute(select(Job.body).where(Job.queue == notifications.QUEUE)).scalars()
        return [json.loads(b)["event_data"]["trigger_metadata"]["ref"] for b in rows]

    return db.run_read(read)


def test_build_notifications_filter_on_the_pushed_ref(db: Database) -> None:
    repo, admin_id = _repo(db)

    def set_up(c: Db) -> None:
        namespace = accounts.get_by_name(c, "admin")
        assert namespace is not None
        notifications.set_up(
            c,
            SecretBox("x"),
            namespace,
            repo,
            "build_queued",
            "webhook",
            {"url": "http://x"},
            {"ref-regex": "refs/heads/main"},
            None,
            None,
        )

    db.run_write(set_up)
    trigger = db.run_write(build_triggers.create, repo, "github", admin_id)
    how = Activation({"build_source": "https://git.example.com/app.git"}, None, "t", "k", "ssh-ed25519 A")
    trigger = db.run_write(build_triggers.activate, trigger, repo, how, ACTOR)
    for ref in ("refs/heads/main", "refs/heads/dev"):
        metadata = trigger_payloads.custom_git({"commit": SHA, "ref": ref}, "https://git.example.com/app.git")
        db.run_write(build_triggers.start_build, trigger, repo, metadata, None)
    assert _queued_for(db) == ["refs/heads/main"]


def test_a_trigger_from_creation_to_its_builds(db: Database, audit_kinds: Callable[[], list[str]]) -> None:
    repo, admin_id = _repo(db)
    trigger = db.run_write(build_triggers.create, repo, "custom-git", admin_id)
    assert not trigger.is_active and trigger.enabled and trigger.connected_user == "admin"
    config = {
        "build_source": "https://git.example.com/app.git",
        "dockerfile_path": "Dockerfile",
        "context": "",
    }
    how = Activation(config, None, "sealed-token", "sealed-key", "ssh-ed25519 AAAA wharf")
    trigger = db.run_write(build_triggers.activate, trigger, repo, how, ACTOR)
    assert trigger.is_active and trigger.public_key == "ssh-ed25519 AAAA wharf"
    assert db.run_read(build_triggers.list_for, repo.id) == [trigger]

    body = {"commit": SHA, "ref": "refs/heads/main", "default_branch": "main"}
    metadata = trigger_payloads.custom_git(body, config["build_source"])
    build = db.run_write(build_triggers.start_build, trigger, repo, metadata, None)
    assert build.trigger_uuid == trigger.uuid and build.trigger_metadata == metadata
    assert build.manual_user is None and build.docker_tags == ["main", "latest"]
    # The build pushes as the trigger's connected user.
    assert db.run_read(builds.acting_accounts, build.id) == (admin_id, None)
    data = builds.event_data(build, None)
    assert (data["trigger_id"], data["trigger_kind"], data["is_manual"]) == (
        trigger.uuid,
        "custom-git",
        False,
    )
    assert db.run_read(builds.list_for_trigger, trigger.id, 5) == [build]

    trigger = db.run_write(build_triggers.toggle, trigger, repo, False, ACTOR)
    assert not trigger.enabled and trigger.disabled_reason == "user_toggled"
    db.run_write(build_triggers.delete_trigger, trigger, repo, ACTOR)
    assert db.run_read(build_triggers.get, trigger.uuid) is None
    kept = db.run_read(builds.get, build.uuid)
    assert kept is not None and kept.trigger_uuid is None and kept.trigger_metadata == metadata
    assert [k for k in audit_kinds() if "trigger" in k] == [
        "setup_repo_trigger",
        "start_build_trigger",
        "toggle_repo_trigger",
        "delete_repo_trigger",
    ]
