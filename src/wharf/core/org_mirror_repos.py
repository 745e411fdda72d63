"""The repositories an organization mirror discovered upstream (Quay's OrgMirrorRepository): the
ones it created in the organization (`adopt`: state ORG_MIRROR, with a repository mirror of every
tag), the ones its filters leave out or the upstream no longer has (`skip`, `set_aside_vanished`:
kept, their mirror disabled), and the ones it could not create, with why."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import bindparam, func, insert, select, update

from wharf.core import audit, mirrors, repositories
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput
from wharf.core.org_mirrors import OrgMirrorRecord, robot_actor
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Db
from wharf.db.models import OrgMirrorRepository, RepoMirrorConfig

CREATED, SKIP, FAILED = "CREATED", "SKIP", "FAILED"
"""A discovered repository: created (and mirrored), left out by the filters, or not created."""
STATUSES = (CREATED, SKIP, FAILED)


_ENTRY = select(OrgMirrorRepository.id, OrgMirrorRepository.repository_id, OrgMirrorRepository.status).where(
    OrgMirrorRepository.org_id == bindparam("org"), OrgMirrorRepository.name == bindparam("name")
)


def _note(
    db: Db, org_id: int, name: str, status: str, repository_id: int | None, message: str | None
) -> None:
    row = db.execute(_ENTRY, {"org": org_id, "name": name}).first()
    values = {"status": status, "status_message": message, "discovered_ms": now_ms()}
    if repository_id is not None:
        values["repository_id"] = repository_id
    if row is None:
        db.execute(
            insert(OrgMirrorRepository), {"org_id": org_id, "name": name, "repository_id": None, **values}
        )
    else:
        db.execute(update(OrgMirrorRepository).where(OrgMirrorRepository.id == row.id).values(**values))


FILTERED = "left out by repository_filters"
VANISHED = "Repository no longer in source registry"
"""Quay's status message for a repository the upstream no longer lists."""


def skip(db: Db, box: SecretBox, config: OrgMirrorRecord, name: str) -> None:
    """The filters leave `name` out: noted, and a repository created for it before stops syncing."""
    _set_aside(db, box, config, name, FILTERED)


def set_aside_vanished(db: Db, box: SecretBox, config: OrgMirrorRecord, upstream: set[str]) -> list[str]:
    """The names the upstream no longer lists, marked SKIP (as Quay's worker does): a repository
    created for one stays with its tags, but its mirror is disabled, so nothing syncs from a
    repository that is gone; it is taken up again if the name comes back (`adopt`). The caller
    does not call this for an empty listing (a failing upstream must not set everything aside)."""
    rows = db.execute(
        select(OrgMirrorRepository.name).where(
            OrgMirrorRepository.org_id == config.org_id, OrgMirrorRepository.status != SKIP
        )
    ).scalars()
    gone = sorted(name for name in rows if name not in upstream)
    for name in gone:
        _set_aside(db, box, config, name, VANISHED)
    return gone


def _set_aside(db: Db, box: SecretBox, config: OrgMirrorRecord, name: str, message: str) -> None:
    row = db.execute(_ENTRY, {"org": config.org_id, "name": name}).first()
    _note(db, config.org_id, name, SKIP, None, message)
    if row is None or row.repository_id is None:
        return
    repo = repositories.get_by_id(db, int(row.repository_id))
    mirror = mirrors.get(db, repo.id) if repo is not None else None
    if repo is not None and mirror is not None and mirror.is_enabled:
        mirrors.change(db, box, repo, mirrors.Settings(is_enabled=False), robot_actor(config))


def adopt(
    db: Db, box: SecretBox, org: AccountRecord, config: OrgMirrorRecord, name: str
) -> RepositoryRecord | None:
    """The repository `name` in the organization, mirroring the upstream one: created (state
    ORG_MIRROR, with a repository mirror of every tag) when new. None when it cannot be (a
    repository of that name that this mirror did not create is left alone, as is a name that is
    not valid here); the reason is noted in the repository list."""
    row = db.execute(_ENTRY, {"org": org.id, "name": name}).first()
    if row is not None and row.repository_id is not None:
        repo = repositories.get_by_id(db, int(row.repository_id))
        if repo is not None and repo.state == repositories.ORG_MIRROR:
            if row.status == SKIP:  # set aside before (vanished or filtered): it syncs again
                _enable(db, box, config, repo)
            _note(db, org.id, name, CREATED, repo.id, None)
            return repo
    existing = repositories.get(db, org.name, name)
    if existing is not None:
        # one this configuration links already but that is NORMAL now was let go by its admin
        unlinked = row is None or row.repository_id is None
        if unlinked and _taken_over(db, box, config, existing):
            return repositories.get_by_id(db, existing.id) or existing
        _note(
            db,
            org.id,
            name,
            FAILED,
            None,
            f"{org.name}/{name} exists and is not mirrored by this organization",
        )
        return None
    try:
        reference = mirrors.check_reference(config.reference(name))
    except InvalidInput as e:
        _note(db, org.id, name, FAILED, None, str(e))
        return None
    robot = robot_actor(config)
    repo = repositories.create(db, org.name, name, visibility=config.visibility, actor=robot)
    repositories.set_state(db, repo, repositories.ORG_MIRROR, robot)
    repo = repositories.get_by_id(db, repo.id) or repo
    mirrors.create(db, box, repo, _mirror_settings(box, config, reference), robot)
    audit.record_for(db, "org_mirror_repo_created", robot, repo, external_reference=reference)
    _note(db, org.id, name, CREATED, repo.id, None)
    return repo


def _mirror_settings(box: SecretBox, config: OrgMirrorRecord, reference: str) -> mirrors.Settings:
    """A repository mirror of every tag, as the organization mirror configures it."""
    username, password = config.credentials(box)
    return mirrors.Settings(
        external_reference=reference,
        username=username or "",
        password=password or "",
        robot_username=config.robot_username,
        is_enabled=True,
        sync_interval=config.sync_interval,
        root_rule={"rule_kind": "tag_glob_csv", "rule_value": ["*"]},
        external_registry_config={**config.external_registry_config, "verify_tls": config.verify_tls},
        proxies_from=config.stored_proxies,  # the proxies' passwords are the organization mirror's
        skopeo_timeout_interval=config.skopeo_timeout,
        architecture_filter=config.architecture_filter,
        org_mirror=True,
    )


TAKEN_OVER = "taken over from an earlier organization mirror"


def _taken_over(db: Db, box: SecretBox, config: OrgMirrorRecord, repo: RepositoryRecord) -> bool:
    """Take over a repository an earlier organization mirror of this organization made (its
    configuration was deleted, or the repository was set aside): back in state ORG_MIRROR, its
    repository mirror set to this configuration's upstream and settings. Only one still NORMAL
    whose mirror no user reconfigured since: a repository a user made, or made their own, is
    never written by the organization mirror (Quay links any repository of the name)."""
    mirror = mirrors.get(db, repo.id)
    if (
        mirror is None
        or not mirror.org_mirror
        or repo.state not in (repositories.NORMAL, repositories.ORG_MIRROR)
    ):
        return False
    try:
        reference = mirrors.check_reference(config.reference(repo.name))
    except InvalidInput:
        return False
    robot = robot_actor(config)
    if repo.state != repositories.ORG_MIRROR:
        repositories.set_state(db, repo, repositories.ORG_MIRROR, robot)
    mirrors.change(db, box, repo, _mirror_settings(box, config, reference), robot)
    _note(db, config.org_id, repo.name, CREATED, repo.id, TAKEN_OVER)
    return True


def _enable(db: Db, box: SecretBox, config: OrgMirrorRecord, repo: RepositoryRecord) -> None:
    mirror = mirrors.get(db, repo.id)
    if mirror is not None and not mirror.is_enabled:
        mirrors.change(db, box, repo, mirrors.Settings(is_enabled=True), robot_actor(config))


@dataclass(frozen=True, slots=True)
class Discovered:
    name: str
    status: str
    status_message: str | None
    repository_id: int | None
    sync_status: str | None
    """The repository mirror's (None when no repository was created)."""
    discovered_ms: int | None
    last_sync_ms: int | None
    """When the repository mirror last synced successfully (its `last_sync_date`)."""


def list_repositories(
    db: Db, org_id: int, *, status: str | None, offset: int, limit: int
) -> tuple[list[Discovered], int]:
    """A page of the discovered repositories by name, and how many there are in all."""
    where = [OrgMirrorRepository.org_id == org_id]
    if status is not None:
        where.append(OrgMirrorRepository.status == status)
    total = int(db.execute(select(func.count()).select_from(OrgMirrorRepository).where(*where)).scalar() or 0)
    rows = db.execute(
        select(
            OrgMirrorRepository.name,
            OrgMirrorRepository.status,
            OrgMirrorRepository.status_message,
            OrgMirrorRepository.repository_id,
            RepoMirrorConfig.sync_status,
            OrgMirrorRepository.discovered_ms,
            RepoMirrorConfig.last_success_ms,
        )
        .outerjoin(RepoMirrorConfig, RepoMirrorConfig.repository_id == OrgMirrorRepository.repository_id)
        .where(*where)
        .order_by(OrgMirrorRepository.name)
        .offset(offset)
        .limit(limit)
    ).all()
    return [Discovered(*row) for row in rows], total


def status_counts(db: Db, org_id: int) -> dict[str, int]:
    rows = db.execute(
        select(OrgMirrorRepository.status, func.count())
        .where(OrgMirrorRepository.org_id == org_id)
        .group_by(OrgMirrorRepository.status)
    ).all()
    return {str(status): int(n) for status, n in rows}
