"""Dockerfile builds (Quay's RepositoryBuild): their records, phases and logs.

A build is requested (`create`: the row, the `build_dockerfile` usage-log entry, the job on the
builders' queue and `build_queued`, in one transaction), claimed by a `wharf builder` (`start`),
moved through its phases, and finished in a terminal phase that fires its notification. Its log
lives in the database, one row per line, so that any node answers getRepoBuildLogs and a builder
that dies loses nothing it wrote.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, func, insert, select, update

from wharf.core import audit, events, notifications, queue, repositories
from wharf.core.clock import now_ms
from wharf.core.errors import Conflict
from wharf.core.repositories import RepositoryRecord
from wharf.db.engine import Db
from wharf.db.models import Account, Build, BuildLogEntry, BuildTrigger, Job, Repository

QUEUE = "dockerfile_build"
"""The builders' queue: `wharf builder` claims it, the server's workers and `wharf worker` do not."""

WAITING = "waiting"
SCHEDULED = "build-scheduled"
UNPACKING = "unpacking"
PULLING = "pulling"
BUILDING = "building"
PUSHING = "pushing"
COMPLETE = "complete"
ERROR = "error"
INTERNAL_ERROR = "internalerror"
CANCELLED = "cancelled"
EXPIRED = "expired"

PHASES = (
    WAITING,
    SCHEDULED,
    UNPACKING,
    PULLING,
    BUILDING,
    PUSHING,
    COMPLETE,
    ERROR,
    INTERNAL_ERROR,
    CANCELLED,
    EXPIRED,
)
TERMINAL = frozenset({COMPLETE, ERROR, INTERNAL_ERROR, CANCELLED, EXPIRED})
RUNNING = frozenset({SCHEDULED, UNPACKING, PULLING, BUILDING, PUSHING})

MAX_ATTEMPTS = 3
"""Runs of a build whose builders keep dying, by default (BUILD_MAX_ATTEMPTS): Quay queues each
build with three tries."""

# Log entry types, as Quay's build logs name them; a plain output line has none.
PHASE_LOG = "phase"
COMMAND_LOG = "command"
ERROR_LOG = "error"
OUTPUT_LOG = ""

_EVENT_OF = {
    COMPLETE: "build_success",
    ERROR: "build_failure",
    INTERNAL_ERROR: "build_failure",
    EXPIRED: "build_failure",
    CANCELLED: "build_cancelled",
}


@dataclass(frozen=True, slots=True)
class BuildRecord:
    id: int
    uuid: str
    repository_id: int
    namespace_id: int
    namespace: str
    repository: str
    phase: str
    display_name: str
    docker_tags: list[str]
    dockerfile_path: str
    context: str
    subdirectory: str
    archive_url: str | None
    resource_key: str | None
    pull_robot: str | None
    manual_user: str | None
    error: str | None
    cancel_requested: bool
    attempts: int
    created_ms: int
    started_ms: int | None
    completed_ms: int | None
    manifest_digest: str | None
    trigger_uuid: str | None = None
    trigger_service: str | None = None
    trigger_metadata: dict[str, Any] | None = None

    @property
    def terminal(self) -> bool:
        """Finished for good. An `internalerror` build whose builder died and that waits for its
        next attempt is not: only `finish` sets `completed_ms`."""
        return self.completed_ms is not None

    @property
    def shown_phase(self) -> str:
        """The phase as the API and the pages show it. A build abandoned by dying builders with
        no run left is stored `expired` (Quay's word for an internal error with no retry left);
        one whose builder itself failed stays `internalerror`, with its message in `error`.
        Builds finished before that distinction was kept show `internalerror` too."""
        return self.phase

    @property
    def full_name(self) -> str:
        return f"{self.namespace}/{self.repository}"


@dataclass(frozen=True, slots=True)
class BuildRequest:
    """What to build: the input (an uploaded file or an archive URL) and where its Dockerfile is."""

    display_name: str
    docker_tags: list[str]
    dockerfile_path: str
    context: str
    subdirectory: str
    archive_url: str | None = None
    resource_key: str | None = None
    pull_robot_id: int | None = None
    # A build a trigger started: its id and Quay's trigger_metadata (commit, ref, git_url...).
    trigger_id: int | None = None
    trigger_metadata: dict[str, Any] | None = None
    acting_user_id: int | None = None


_ROBOT = Account.__table__.alias("pull_robot")
_COLUMNS = (
    Build.id,
    Build.uuid,
    Build.repository_id,
    Repository.namespace_id,
    Account.name.label("namespace"),
    Repository.name.label("repository"),
    Build.phase,
    Build.display_name,
    Build.docker_tags_json,
    Build.dockerfile_path,
    Build.context,
    Build.subdirectory,
    Build.archive_url,
    Build.resource_key,
    _ROBOT.c.name.label("pull_robot"),
    Build.manual_user,
    Build.error,
    Build.cancel_requested,
    Build.attempts,
    Build.created_ms,
    Build.started_ms,
    Build.completed_ms,
    Build.manifest_digest,
    BuildTrigger.uuid.label("trigger_uuid"),
    BuildTrigger.service.label("trigger_service"),
    Build.trigger_metadata_json,
)
_SELECT = (
    select(*_COLUMNS)
    .join(Repository, Repository.id == Build.repository_id)
    .join(Account, Account.id == Repository.namespace_id)
    .outerjoin(_ROBOT, _ROBOT.c.id == Build.pull_robot_id)
    .outerjoin(BuildTrigger, BuildTrigger.id == Build.trigger_id)
)


def _record(row: Any) -> BuildRecord:
    values = dict(row._mapping)
    values["docker_tags"] = json.loads(values.pop("docker_tags_json") or "[]")
    values["cancel_requested"] = bool(values["cancel_requested"])
    metadata = values.pop("trigger_metadata_json")
    values["trigger_metadata"] = json.loads(metadata) if metadata else None
    return BuildRecord(**values)


def get(db: Db, build_uuid: str) -> BuildRecord | None:
    row = db.execute(_SELECT.where(Build.uuid == build_uuid)).first()
    return _record(row) if row else None


def get_by_id(db: Db, build_id: int) -> BuildRecord | None:
    row = db.execute(_SELECT.where(Build.id == build_id)).first()
    return _record(row) if row else None


def get_in(db: Db, repository_id: int, build_uuid: str) -> BuildRecord | None:
    """The build, if it is one of this repository's."""
    found = get(db, build_uuid)
    return found if found is not None and found.repository_id == repository_id else None


def list_for(db: Db, repository_id: int, limit: int, since_ms: int | None = None) -> list[BuildRecord]:
    """The repository's builds, newest first."""
    query = _SELECT.where(Build.repository_id == repository_id)
    if since_ms is not None:
        query = query.where(Build.created_ms >= since_ms)
    rows = db.execute(query.order_by(Build.created_ms.desc(), Build.id.desc()).limit(limit))
    return [_record(r) for r in rows]


def list_for_trigger(db: Db, trigger_id: int, limit: int) -> list[BuildRecord]:
    """The builds a trigger started, newest first."""
    query = _SELECT.where(Build.trigger_id == trigger_id)
    rows = db.execute(query.order_by(Build.created_ms.desc(), Build.id.desc()).limit(limit))
    return [_record(r) for r in rows]


def acting_accounts(db: Db, build_id: int) -> tuple[int | None, int | None]:
    """(the requester's account id, the pull robot's) of a build."""
    row = db.execute(select(Build.manual_user_id, Build.pull_robot_id).where(Build.id == build_id)).first()
    return (row.manual_user_id, row.pull_robot_id) if row else (None, None)


def repository_of_resource(db: Db, resource_key: str) -> int | None:
    """The repository an uploaded file was already built for, if any."""
    found = db.execute(
        select(Build.repository_id).where(Build.resource_key == resource_key).limit(1)
    ).scalar()
    return int(found) if found is not None else None


def event_data(build: BuildRecord, origin: str | None, **extra: Any) -> dict[str, Any]:
    """The data of a build event, as Quay's build notifications carry it."""
    return events.repository_data(
        origin,
        build.namespace,
        build.repository,
        build_id=build.uuid,
        build_name=build.display_name,
        docker_tags=build.docker_tags,
        trigger_kind=build.trigger_service,
        trigger_id=build.trigger_uuid,
        trigger_metadata=build.trigger_metadata,
        is_manual=build.trigger_uuid is None,
        manual_user=build.manual_user,
        **extra,
    )


def _requester(request: BuildRequest, actor: audit.Actor | None) -> str | None:
    """Who asked for the build: no one for a trigger's push (a person for its manual start)."""
    if actor is None or (request.trigger_id is not None and actor.account_id is None):
        return None
    return actor.name


def create(db: Db, repo: RepositoryRecord, request: BuildRequest, actor: audit.Actor | None) -> BuildRecord:
    """Record a build, queue it for the builders, log `build_dockerfile` and fire `build_queued`."""
    repositories.require_normal(db, repo)
    now = now_ms()
    build_uuid = str(uuidlib.uuid4())
    build_id = db.execute(
        insert(Build)
        .values(
            uuid=build_uuid,
            repository_id=repo.id,
            phase=WAITING,
            display_name=request.display_name,
            docker_tags_json=json.dumps(request.docker_tags),
            dockerfile_path=request.dockerfile_path,
            context=request.context,
            subdirectory=request.subdirectory,
            archive_url=request.archive_url,
            resource_key=request.resource_key,
            pull_robot_id=request.pull_robot_id,
            # A trigger's build pushes as the user who set the trigger up, whoever started it.
            manual_user_id=request.acting_user_id
            if request.trigger_id
            else (actor.account_id if actor else None),
            manual_user=_requester(request, actor),
            cancel_requested=False,
            attempts=0,
            created_ms=now,
            trigger_id=request.trigger_id,
            trigger_metadata_json=json.dumps(request.trigger_metadata) if request.trigger_metadata else None,
        )
        .returning(Build.id)
    ).scalar_one()
    append_logs(db, build_id, [(PHASE_LOG, WAITING, {"datetime": now})])
    queue.enqueue(db, QUEUE, {"build_id": build_id, "origin": actor.origin if actor else None})
    build = get_by_id(db, build_id)
    assert build is not None
    audit.record_for(
        db,
        "build_dockerfile",
        actor,
        repo,
        build_uuid=build_uuid,
        docker_tags=request.docker_tags,
        archive_url=request.archive_url,
        resource_key=request.resource_key,
        is_manual=build.trigger_uuid is None,
        trigger_id=build.trigger_uuid,
        service=build.trigger_service,
    )
    origin = actor.origin if actor else None
    notifications.fire(db, "build_queued", event_data(build, origin), actor, repository_id=repo.id)
    return build


def cancel(db: Db, build: BuildRecord, repo: RepositoryRecord, actor: audit.Actor | None) -> BuildRecord:
    """Cancel a build: one still waiting is cancelled at once; one running is asked to stop (its
    builder kills it and finishes it `cancelled`). Conflict when it has already finished."""
    repositories.require_normal(db, repo)
    row = db.execute(select(Build.phase, Build.completed_ms).where(Build.id == build.id)).first()
    if row is None or row.completed_ms is not None:
        raise Conflict("Build is currently running or has finished")
    db.execute(update(Build).where(Build.id == build.id).values(cancel_requested=True))
    audit.record_for(db, "cancel_build", actor, repo, build_uuid=build.uuid)
    if row.phase in (WAITING, INTERNAL_ERROR):  # no builder runs it: a waiting one, or one to retry
        finish(db, build.id, CANCELLED, origin=actor.origin if actor else None)
    found = get_by_id(db, build.id)
    assert found is not None
    return found


def cancel_requested(db: Db, build_id: int) -> bool:
    return bool(db.execute(select(Build.cancel_requested).where(Build.id == build_id)).scalar())


def start(db: Db, build_id: int, origin: str | None, max_attempts: int = MAX_ATTEMPTS) -> BuildRecord | None:
    """A builder claims the build. None when there is nothing to run: it was cancelled while it
    waited, or it already finished. A build another builder claimed and died running (its job's
    lease ran out) is marked `internalerror` first (`interrupted`), then run again from the start
    while it has attempts left, finished `internalerror` after its last."""
    build = get_by_id(db, build_id)
    if build is None or build.terminal:
        return None
    if build.phase in RUNNING:
        interrupted(db, build, max_attempts, origin)
        build = get_by_id(db, build_id)
        if build is None or build.terminal:
            return None
    now = now_ms()
    db.execute(
        update(Build)
        .where(Build.id == build_id)
        .values(attempts=Build.attempts + 1, started_ms=now, error=None)
    )
    set_phase(db, build_id, SCHEDULED)
    started = get_by_id(db, build_id)
    assert started is not None
    notifications.fire(
        db, "build_start", event_data(started, origin), None, repository_id=started.repository_id
    )
    return started


def interrupted(db: Db, build: BuildRecord, max_attempts: int, origin: str | None) -> None:
    """The builder running `build` stopped before finishing it (killed, or cut off from the
    database past its lease): `internalerror`, to be run again by the next builder that claims
    its job while attempts remain; `expired` after the last (as Quay shows a dead executor's
    build with no retry left)."""
    note = (
        "The builder running this build stopped before it finished "
        f"(attempt {build.attempts} of {max_attempts})"
    )
    now = now_ms()
    if build.cancel_requested:  # its builder died before it could honour the cancellation
        append_logs(db, build.id, [(ERROR_LOG, note, {})])
        finish(db, build.id, CANCELLED, error="The build was cancelled", origin=origin)
        return
    if build.attempts < max_attempts and _has_job(db, build.id):
        moved = db.execute(
            update(Build)
            .where(Build.id == build.id, Build.completed_ms.is_(None), Build.phase.in_(RUNNING))
            .values(phase=INTERNAL_ERROR, error="The builder running this build stopped; it will run again")
        ).rowcount
        if moved:
            lines: list[LogLine] = [
                (ERROR_LOG, f"{note}: it will run again", {}),
                (PHASE_LOG, INTERNAL_ERROR, {"datetime": now}),
            ]
            append_logs(db, build.id, lines)
        return
    append_logs(db, build.id, [(ERROR_LOG, note, {})])
    # No run left: `expired`, as Quay shows an internal error whose queue item has no retry left.
    # A builder that fails a build itself finishes it `internalerror` (jobs/builder.py).
    finish(db, build.id, EXPIRED, error="The builder running this build stopped", origin=origin)


def _jobs(db: Db) -> list[tuple[int, int | None]]:
    """(build id, lease end) of every job of the builders' queue."""
    rows = db.execute(select(Job.body, Job.lease_until_ms).where(Job.queue == QUEUE)).all()
    return [(int(json.loads(r.body).get("build_id", 0)), r.lease_until_ms) for r in rows]


def _has_job(db: Db, build_id: int) -> bool:
    return any(found == build_id for found, _ in _jobs(db))


def sweep_interrupted(db: Db, now: int, max_attempts: int) -> list[str]:
    """Mark the builds whose builder died (`interrupted`): running, and their job's lease ran
    out (or their job is gone). Builders renew a running build's lease while it runs, so a lapsed
    one means nobody is running it. Returns their uuids."""
    running = (
        db.execute(select(Build.id).where(Build.phase.in_(RUNNING), Build.completed_ms.is_(None)))
        .scalars()
        .all()
    )
    if not running:
        return []
    held = {build_id for build_id, until in _jobs(db) if until is not None and until >= now}
    swept = []
    for build_id in running:
        if build_id in held:
            continue
        build = get_by_id(db, build_id)
        if build is not None:
            interrupted(db, build, max_attempts, None)
            swept.append(build.uuid)
    return swept


def _current(build_id: int, attempt: int | None) -> ColumnElement[bool]:
    """The build while it is not finished, and (given `attempt`) while that run is its latest: a
    builder that lost its lease and came back must not move the run that replaced it."""
    where = and_(Build.id == build_id, Build.completed_ms.is_(None))
    return where if attempt is None else and_(where, Build.attempts == attempt)


def set_phase(db: Db, build_id: int, phase: str, attempt: int | None = None) -> bool:
    """Move a running build to `phase` and log it; False (and nothing changes) once it finished,
    or once `attempt` is no longer its latest run."""
    moved = db.execute(update(Build).where(_current(build_id, attempt)).values(phase=phase)).rowcount
    if moved:
        append_logs(db, build_id, [(PHASE_LOG, phase, {"datetime": now_ms()})])
    return bool(moved)


def finish(
    db: Db,
    build_id: int,
    phase: str,
    *,
    error: str | None = None,
    manifest_digest: str | None = None,
    origin: str | None = None,
    attempt: int | None = None,
) -> bool:
    """Finish a build in a terminal phase and fire its notification; False if it had finished
    (or `attempt` is no longer its latest run)."""
    if phase not in TERMINAL:
        raise ValueError(f"{phase} is not a terminal phase")
    now = now_ms()
    done = db.execute(
        update(Build)
        .where(_current(build_id, attempt))
        .values(phase=phase, error=error, manifest_digest=manifest_digest, completed_ms=now)
    ).rowcount
    if not done:
        return False
    append_logs(db, build_id, [(PHASE_LOG, phase, {"datetime": now})])
    build = get_by_id(db, build_id)
    assert build is not None
    extra: dict[str, Any] = {}
    if phase == COMPLETE:
        extra = {
            "image_id": manifest_digest,
            "manifest_digests": [manifest_digest] if manifest_digest else [],
        }
    elif _EVENT_OF[phase] == "build_failure":
        extra = {"error_message": error or phase}
    data = event_data(build, origin, **extra)
    notifications.fire(db, _EVENT_OF[phase], data, None, repository_id=build.repository_id)
    return True


LogLine = tuple[str, str, dict[str, Any] | None]
"""(type, message, data) of one log entry."""

_NEXT = select(func.coalesce(func.max(BuildLogEntry.sequence) + 1, 0)).where(
    BuildLogEntry.build_id == bindparam("build")
)


def append_logs(db: Db, build_id: int, lines: list[LogLine]) -> int:
    """Append entries to the build's log, in order; returns the log's length after them."""
    if not lines:
        return int(db.execute(_NEXT, {"build": build_id}).scalar_one())
    start = int(db.execute(_NEXT, {"build": build_id}).scalar_one())
    now = now_ms()
    db.execute(
        insert(BuildLogEntry),
        [
            {
                "build_id": build_id,
                "sequence": start + i,
                "kind": kind,
                "message": message,
                "data_json": json.dumps(data) if data else None,
                "created_ms": now,
            }
            for i, (kind, message, data) in enumerate(lines)
        ],
    )
    return start + len(lines)


def read_logs(db: Db, build_id: int, start: int = 0) -> tuple[int, list[dict[str, Any]]]:
    """The log's total length and its entries from `start` on, in Quay's shape
    ({message, type, data}; an output line has no type)."""
    total = int(db.execute(_NEXT, {"build": build_id}).scalar_one())
    rows = db.execute(
        select(BuildLogEntry.kind, BuildLogEntry.message, BuildLogEntry.data_json)
        .where(BuildLogEntry.build_id == build_id, BuildLogEntry.sequence >= max(start, 0))
        .order_by(BuildLogEntry.sequence)
    )
    entries = []
    for kind, message, data_json in rows:
        entry: dict[str, Any] = {"message": message, "data": json.loads(data_json) if data_json else {}}
        if kind:
            entry["type"] = kind
        entries.append(entry)
    return total, entries


def prune_logs(db: Db, completed_before_ms: int) -> int:
    """Delete the logs of builds that finished before the cutoff (BUILD_LOGS_RETENTION)."""
    old = select(Build.id).where(
        and_(Build.completed_ms.is_not(None), Build.completed_ms < completed_before_ms)
    )
    return int(db.execute(delete(BuildLogEntry).where(BuildLogEntry.build_id.in_(old))).rowcount)
