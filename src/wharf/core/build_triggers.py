"""Build triggers (Quay's RepositoryBuildTrigger): their records, activation, and the builds
they start.

A trigger is created inactive for a service (custom-git, github, gitlab, bitbucket) by a
repository admin, its `connected_user`; activating it stores its configuration (the git URL as
`build_source`, the Dockerfile's place, tagging, the ref filter), its webhook token and its
deploy key (both sealed by the caller: core does not hold the secret box's key). A push to its
webhook, or a manual start, queues a build carrying Quay's trigger_metadata.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update

from wharf.core import audit, builds, repositories, trigger_payloads
from wharf.core.builds import BuildRecord, BuildRequest
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import Account, BuildTrigger, Repository

_USER = Account.__table__.alias("connected_user")
_ROBOT = Account.__table__.alias("pull_robot")


@dataclass(frozen=True, slots=True)
class TriggerRecord:
    id: int
    uuid: str
    repository_id: int
    service: str
    connected_user_id: int | None
    connected_user: str | None
    enabled: bool
    disabled_reason: str | None
    config: dict[str, Any]
    public_key: str | None
    pull_robot_id: int | None
    pull_robot: str | None
    token_sealed: str | None
    private_key_sealed: str | None
    auth_token_sealed: str | None
    created_ms: int

    @property
    def is_active(self) -> bool:
        """Activated: it has a source to clone and a webhook token (Quay's handler.is_active)."""
        return bool(self.config.get("build_source")) and self.token_sealed is not None


_SELECT = (
    select(
        BuildTrigger.id,
        BuildTrigger.uuid,
        BuildTrigger.repository_id,
        BuildTrigger.service,
        BuildTrigger.connected_user_id,
        _USER.c.name.label("connected_user"),
        BuildTrigger.enabled,
        BuildTrigger.disabled_reason,
        BuildTrigger.config_json,
        BuildTrigger.public_key,
        BuildTrigger.pull_robot_id,
        _ROBOT.c.name.label("pull_robot"),
        BuildTrigger.token_sealed,
        BuildTrigger.private_key_sealed,
        BuildTrigger.auth_token_sealed,
        BuildTrigger.created_ms,
    )
    .outerjoin(_USER, _USER.c.id == BuildTrigger.connected_user_id)
    .outerjoin(_ROBOT, _ROBOT.c.id == BuildTrigger.pull_robot_id)
)


def _record(row: Any) -> TriggerRecord:
    values = dict(row._mapping)
    values["config"] = json.loads(values.pop("config_json") or "{}")
    values["enabled"] = bool(values["enabled"])
    return TriggerRecord(**values)


def get(db: Db, trigger_uuid: str) -> TriggerRecord | None:
    row = db.execute(_SELECT.where(BuildTrigger.uuid == trigger_uuid)).first()
    return _record(row) if row else None


def get_in(db: Db, repository_id: int, trigger_uuid: str) -> TriggerRecord | None:
    """The trigger, if it is one of this repository's."""
    found = get(db, trigger_uuid)
    return found if found is not None and found.repository_id == repository_id else None


def list_for(db: Db, repository_id: int) -> list[TriggerRecord]:
    rows = db.execute(_SELECT.where(BuildTrigger.repository_id == repository_id).order_by(BuildTrigger.id))
    return [_record(r) for r in rows]


def list_in_namespace(db: Db, namespace_id: int) -> list[TriggerRecord]:
    """The triggers of every repository of the namespace."""
    mine = select(Repository.id).where(Repository.namespace_id == namespace_id)
    rows = db.execute(_SELECT.where(BuildTrigger.repository_id.in_(mine)).order_by(BuildTrigger.id))
    return [_record(r) for r in rows]


def create(
    db: Db, repo: RepositoryRecord, service: str, user_id: int | None, auth_token_sealed: str | None = None
) -> TriggerRecord:
    """A new, inactive trigger of `repo` for `service`, connected to the user setting it up (a
    GitHub or GitLab one with the OAuth token the user gave Wharf, sealed by the caller)."""
    if service not in trigger_payloads.SERVICES:
        raise InvalidInput(f"unknown trigger service {service[:40]!r}", field="service")
    repositories.require_normal(db, repo)
    trigger_uuid = str(uuidlib.uuid4())
    db.execute(
        insert(BuildTrigger).values(
            uuid=trigger_uuid,
            repository_id=repo.id,
            service=service,
            connected_user_id=user_id,
            enabled=True,
            config_json="{}",
            auth_token_sealed=auth_token_sealed,
            created_ms=now_ms(),
        )
    )
    found = get(db, trigger_uuid)
    assert found is not None
    return found


@dataclass(frozen=True, slots=True)
class Activation:
    """What activating a trigger stores: its configuration and its secrets, already sealed."""

    config: dict[str, Any]
    pull_robot_id: int | None
    token_sealed: str
    private_key_sealed: str
    public_key: str


def activate(
    db: Db, trigger: TriggerRecord, repo: RepositoryRecord, how: Activation, actor: audit.Actor | None
) -> TriggerRecord:
    """Store the trigger's configuration and secrets; log `setup_repo_trigger`."""
    repositories.require_normal(db, repo)
    db.execute(
        update(BuildTrigger)
        .where(BuildTrigger.id == trigger.id)
        .values(
            config_json=json.dumps(how.config),
            pull_robot_id=how.pull_robot_id,
            token_sealed=how.token_sealed,
            private_key_sealed=how.private_key_sealed,
            public_key=how.public_key,
        )
    )
    found = get(db, trigger.uuid)
    assert found is not None
    audit.record_for(
        db,
        "setup_repo_trigger",
        actor,
        repo,
        trigger_id=trigger.uuid,
        service=trigger.service,
        pull_robot=found.pull_robot,
        config=how.config,
    )
    return found


def renew_auth_token(db: Db, trigger: TriggerRecord, auth_token_sealed: str) -> None:
    """Keep the service's renewed OAuth token (sealed by the caller). Not audited: nobody changed
    the trigger, the service only gave a fresh token for the same grant."""
    db.execute(
        update(BuildTrigger).where(BuildTrigger.id == trigger.id).values(auth_token_sealed=auth_token_sealed)
    )


def toggle(
    db: Db, trigger: TriggerRecord, repo: RepositoryRecord, enabled: bool, actor: audit.Actor | None
) -> TriggerRecord:
    """Enable or disable the trigger (a disabled one builds nothing); log `toggle_repo_trigger`."""
    repositories.require_normal(db, repo)
    db.execute(
        update(BuildTrigger)
        .where(BuildTrigger.id == trigger.id)
        .values(enabled=enabled, disabled_reason=None if enabled else "user_toggled")
    )
    audit.record_for(
        db,
        "toggle_repo_trigger",
        actor,
        repo,
        trigger_id=trigger.uuid,
        service=trigger.service,
        enabled=enabled,
    )
    found = get(db, trigger.uuid)
    assert found is not None
    return found


def delete_trigger(db: Db, trigger: TriggerRecord, repo: RepositoryRecord, actor: audit.Actor | None) -> None:
    """Delete the trigger (its builds stay, without it); log `delete_repo_trigger` when it was
    active, as Quay does."""
    repositories.require_normal(db, repo)
    db.execute(delete(BuildTrigger).where(BuildTrigger.id == trigger.id))
    if trigger.is_active:
        audit.record_for(
            db, "delete_repo_trigger", actor, repo, trigger_id=trigger.uuid, service=trigger.service
        )


def start_build(
    db: Db,
    trigger: TriggerRecord,
    repo: RepositoryRecord,
    metadata: dict[str, Any],
    actor: audit.Actor | None,
) -> BuildRecord:
    """Queue a build of the commit `metadata` names, configured as the trigger says; log
    `start_build_trigger` (then core.builds logs `build_dockerfile` and fires `build_queued`)."""
    config = trigger.config
    request = BuildRequest(
        display_name=str(metadata["commit"])[:7],
        docker_tags=trigger_payloads.tags_for(metadata, config),
        dockerfile_path=str(config.get("dockerfile_path") or "Dockerfile"),
        context=str(config.get("context") or ""),
        subdirectory=str(config.get("subdir") or ""),
        pull_robot_id=trigger.pull_robot_id,
        trigger_id=trigger.id,
        trigger_metadata=metadata,
        acting_user_id=trigger.connected_user_id,
    )
    build = builds.create(db, repo, request, actor)
    audit.record_for(
        db,
        "start_build_trigger",
        actor,
        repo,
        trigger_id=trigger.uuid,
        service=trigger.service,
        build_uuid=build.uuid,
        commit=metadata.get("commit"),
        ref=metadata.get("ref"),
    )
    return build
