"""Notifications: what admins set up (event + method), firing them, and the outcome of deliveries.

`fire` runs in the transaction of the change that caused the event and only enqueues one durable
job per matching notification; the job (jobs/notify.py) delivers it. A notification that failed
NOTIFICATION_DISABLE_AFTER times in a row stops firing until an admin resets it, as in Quay.
"""

from __future__ import annotations

import json
import secrets
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, delete, exists, func, insert, select, update

from wharf.core import audit, authorized_emails, events, inbox, queue
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotFound
from wharf.core.paging import PER_PAGE, Paged, window
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.core.tags import like_literal
from wharf.db.engine import Db
from wharf.db.models import Account, Notification, NotificationAttempt, Repository

DISABLE_AFTER = 3
KEEP_ATTEMPTS = 20
QUEUE = "notification"
METHODS = ("quay_notification", "email", "webhook", "slack", "flowdock", "hipchat")


class NotificationNotFound(NotFound):
    """The notification does not exist."""


class EmailNotConfirmed(InvalidInput):
    """The address has not confirmed that it wants the repository's notifications."""


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    id: int
    uuid: str
    namespace_id: int
    namespace: str
    repository_id: int | None
    repository: str | None  # the repository's name, without the namespace
    event: str
    method: str
    title: str | None
    config: dict[str, Any]
    event_config: dict[str, Any]
    signing_secret: str  # encrypted; SecretBox.open gives the key
    number_of_failures: int

    @property
    def disabled(self) -> bool:
        return self.number_of_failures >= DISABLE_AFTER


@dataclass(frozen=True, slots=True)
class Attempt:
    event: str
    created_ms: int
    ok: bool
    detail: str


_COLUMNS = (
    Notification.id,
    Notification.uuid,
    Notification.namespace_id,
    Account.name.label("namespace"),
    Notification.repository_id,
    Repository.name.label("repository"),
    Notification.event,
    Notification.method,
    Notification.title,
    Notification.config_json,
    Notification.event_config_json,
    Notification.signing_secret,
    Notification.number_of_failures,
)
_SELECT = (
    select(*_COLUMNS)
    .join(Account, Account.id == Notification.namespace_id)
    .outerjoin(Repository, Repository.id == Notification.repository_id)
)


def _record(row: Any) -> NotificationRecord:
    return NotificationRecord(
        row.id,
        row.uuid,
        row.namespace_id,
        row.namespace,
        row.repository_id,
        row.repository,
        row.event,
        row.method,
        row.title,
        json.loads(row.config_json or "{}"),
        json.loads(row.event_config_json or "{}"),
        row.signing_secret,
        row.number_of_failures,
    )


def _check(event: str, method: str, config: Any, event_config: Any, *, namespace_level: bool) -> None:
    kind = events.EVENTS.get(event)
    if kind is None:
        raise InvalidInput(f"unknown event {event!r}; one of {', '.join(events.EVENTS)}")
    if kind.namespace_event != namespace_level:
        where = "a namespace" if kind.namespace_event else "a repository"
        raise InvalidInput(f"{event} is {where} event")
    if method not in METHODS:
        raise InvalidInput(f"unknown method {method!r}; one of {', '.join(METHODS)}")
    if not isinstance(config, dict) or not isinstance(event_config, dict):
        raise InvalidInput("config and eventConfig must be JSON objects")
    kind.check_config(event_config)


def create(
    db: Db,
    box: SecretBox,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    event: str,
    method: str,
    config: dict[str, Any],
    event_config: dict[str, Any],
    title: str | None,
    actor: audit.Actor | None,
) -> NotificationRecord:
    """Store a notification. The method's own config checks (reachable URL, confirmed e-mail,
    existing target) are the caller's, through integrations/notification_methods.py."""
    _check(event, method, config, event_config, namespace_level=repo is None)
    if title is not None and len(title) > 255:
        raise InvalidInput("title may be at most 255 characters")
    new_uuid = str(uuid.uuid4())
    db.execute(
        insert(Notification).values(
            uuid=new_uuid,
            namespace_id=namespace.id,
            repository_id=repo.id if repo else None,
            event=event,
            method=method,
            title=title,
            config_json=json.dumps(config),
            event_config_json=json.dumps(event_config),
            signing_secret=box.seal(secrets.token_urlsafe(32)),
            number_of_failures=0,
            created_ms=now_ms(),
        )
    )
    _log(
        db,
        "add_repo_notification" if repo else "create_namespace_notification",
        actor,
        namespace,
        repo,
        notification_id=new_uuid,
        event=event,
        method=method,
    )
    found = get(db, new_uuid)
    assert found is not None
    return found


def set_up(
    db: Db,
    box: SecretBox,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    event: str,
    method: str,
    config: dict[str, Any],
    event_config: dict[str, Any],
    title: str | None,
    actor: audit.Actor | None,
) -> NotificationRecord:
    """`create`, after the checks that need the database: an in-app target must exist within the
    namespace, and an e-mail address must have confirmed it wants the repository's notifications
    (every surface makes a notification this way; the checks without the database are
    integrations/notification_methods.validate)."""
    if method == "quay_notification":
        inbox.resolve_target(db, namespace, config.get("target"))
    if method == "email" and repo is not None:
        email = str(config.get("email"))
        if not authorized_emails.is_confirmed(db, repo.id, email):
            raise EmailNotConfirmed(f"{email} has not confirmed it wants this repository's notifications")
    return create(db, box, namespace, repo, event, method, config, event_config, title, actor)


def send_test(
    db: Db,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    notification_uuid: str,
    actor: audit.Actor | None,
) -> NotificationRecord:
    """Queue the event's sample data, with this repository's (or namespace's) own names."""
    found = get_in(db, namespace, repo, notification_uuid)
    sample = events.EVENTS[found.event].sample()
    origin = actor.origin if actor else None
    base = (
        events.repository_data(origin, repo.namespace, repo.name)
        if repo is not None
        else events.namespace_data(origin, namespace.name)
    )
    enqueue_delivery(db, found.uuid, found.event, {**sample, **base}, actor)
    return found


def _log(
    db: Db,
    kind: str,
    actor: audit.Actor | None,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    **metadata: Any,
) -> None:
    if repo is not None:
        metadata.update(namespace=repo.namespace, repo=repo.name)
    else:
        metadata.update(namespace=namespace.name)
    audit.record(
        db, kind, actor, namespace_id=namespace.id, repository_id=repo.id if repo else None, **metadata
    )


def get(db: Db, notification_uuid: str) -> NotificationRecord | None:
    row = db.execute(_SELECT.where(Notification.uuid == notification_uuid)).first()
    return _record(row) if row else None


def get_in(
    db: Db, namespace: AccountRecord, repo: RepositoryRecord | None, notification_uuid: str
) -> NotificationRecord:
    """The notification, if it belongs to this repository (or this namespace's own list)."""
    found = get(db, notification_uuid)
    if (
        found is None
        or found.namespace_id != namespace.id
        or found.repository_id != (repo.id if repo else None)
    ):
        raise NotificationNotFound()
    return found


def _of(namespace: AccountRecord, repo: RepositoryRecord | None) -> ColumnElement[bool]:
    """The notifications of `repo`, or the namespace's own when `repo` is None."""
    if repo is not None:
        return Notification.repository_id == repo.id
    return and_(Notification.namespace_id == namespace.id, Notification.repository_id.is_(None))


def list_for(db: Db, namespace: AccountRecord, repo: RepositoryRecord | None) -> list[NotificationRecord]:
    return [_record(r) for r in db.execute(_SELECT.where(_of(namespace, repo)).order_by(Notification.id))]


def page_for(
    db: Db,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    *,
    contains: str = "",
    page: int = 1,
    per_page: int = PER_PAGE,
) -> Paged[NotificationRecord]:
    """One page of `list_for`, oldest first, keeping those whose title holds `contains` (any
    case; `%` and `_` are plain characters): the Settings tab's list of a repository with many."""
    where = [_of(namespace, repo)]
    if contains:
        where.append(func.lower(Notification.title).like(f"%{like_literal(contains.lower())}%", escape="\\"))
    total = int(db.execute(select(func.count()).select_from(Notification).where(*where)).scalar_one())
    page, offset = window(total, page, per_page)
    rows = db.execute(_SELECT.where(*where).order_by(Notification.id).offset(offset).limit(per_page))
    return Paged([_record(r) for r in rows], total, page, per_page)


def delete_notification(
    db: Db,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    notification_uuid: str,
    actor: audit.Actor | None,
) -> None:
    found = get_in(db, namespace, repo, notification_uuid)
    db.execute(delete(Notification).where(Notification.id == found.id))
    kind = "delete_repo_notification" if repo else "delete_namespace_notification"
    _log(db, kind, actor, namespace, repo, notification_id=found.uuid, event=found.event, method=found.method)


def reset_failures(
    db: Db,
    namespace: AccountRecord,
    repo: RepositoryRecord | None,
    notification_uuid: str,
    actor: audit.Actor | None,
) -> NotificationRecord:
    found = get_in(db, namespace, repo, notification_uuid)
    db.execute(update(Notification).where(Notification.id == found.id).values(number_of_failures=0))
    kind = "reset_repo_notification" if repo else "reset_namespace_notification"
    _log(db, kind, actor, namespace, repo, notification_id=found.uuid, event=found.event, method=found.method)
    result = get(db, found.uuid)
    assert result is not None
    return result


def recent_attempts(db: Db, found: list[NotificationRecord], limit: int = 5) -> list[list[Attempt]]:
    """The latest attempts of each notification, in the order given."""
    return [attempts(db, n.id, limit=limit) for n in found]


def attempts(db: Db, notification_id: int, limit: int = 10) -> list[Attempt]:
    rows = db.execute(
        select(
            NotificationAttempt.event,
            NotificationAttempt.created_ms,
            NotificationAttempt.ok,
            NotificationAttempt.detail,
        )
        .where(NotificationAttempt.notification_id == notification_id)
        .order_by(NotificationAttempt.id.desc())
        .limit(limit)
    )
    return [Attempt(r.event, r.created_ms, r.ok, r.detail) for r in rows]


# Firing -------------------------------------------------------------------------------------------

_ARMED = select(Notification.uuid, Notification.event_config_json).where(
    Notification.repository_id == bindparam("repo"),
    Notification.event == bindparam("event"),
    Notification.number_of_failures < DISABLE_AFTER,
)
ARMED_FOR_PUSH: ColumnElement[bool] = (
    exists()
    .where(
        Notification.repository_id == Repository.id,
        Notification.event == "repo_push",
        Notification.number_of_failures < DISABLE_AFTER,
    )
    .correlate(Repository)
    .label("armed_for_push")
)
"""Whether the repository (the `Repository` row of the enclosing statement) has a `repo_push`
notification that `fire` would look at: a push reads it with its tag (`tags.point_reading`), and
nearly every repository has none, so the push then asks nothing more here."""
_ARMED_NAMESPACE = select(Notification.uuid, Notification.event_config_json).where(
    Notification.namespace_id == bindparam("namespace"),
    Notification.repository_id.is_(None),
    Notification.event == bindparam("event"),
    Notification.number_of_failures < DISABLE_AFTER,
)


def _performer(actor: audit.Actor | None) -> dict[str, Any] | None:
    if actor is None or actor.account_id is None:
        return None
    return {"entity_id": actor.account_id, "entity_name": actor.name, "kind": actor.kind}


def fire(
    db: Db,
    event: str,
    data: dict[str, Any],
    actor: audit.Actor | None,
    *,
    repository_id: int | None = None,
    namespace_id: int | None = None,
    context: dict[str, Any] | None = None,
) -> int:
    """Queue a delivery for every armed notification of the repository (or, for a namespace
    event, of the namespace) that wants this occurrence; returns how many were queued. `context`
    holds what only some methods show (the pushed digests for the legacy push payload)."""
    kind = events.EVENTS[event]
    if kind.namespace_event:
        rows = db.execute(_ARMED_NAMESPACE, {"namespace": namespace_id, "event": event})
    else:
        rows = db.execute(_ARMED, {"repo": repository_id, "event": event})
    queued = 0
    for row in rows:
        if not kind.matches(json.loads(row.event_config_json or "{}"), data):
            continue
        enqueue_delivery(db, row.uuid, event, data, actor, context)
        queued += 1
    return queued


def enqueue_delivery(
    db: Db,
    notification_uuid: str,
    event: str,
    data: dict[str, Any],
    actor: audit.Actor | None,
    context: dict[str, Any] | None = None,
    *,
    delay_ms: int = 0,
) -> None:
    body = {
        "delivery_id": str(uuid.uuid4()),
        "notification_uuid": notification_uuid,
        "event": event,
        "event_data": data,
        "performer_data": _performer(actor),
        "context": context or {},
    }
    queue.enqueue(db, QUEUE, body, delay_ms=delay_ms)


def record_outcome(db: Db, notification_id: int, event: str, ok: bool, detail: str) -> int:
    """Store one attempt's outcome and return the notification's count of consecutive failures."""
    now = now_ms()
    db.execute(
        insert(NotificationAttempt).values(
            notification_id=notification_id, event=event, created_ms=now, ok=ok, detail=detail[:2000]
        )
    )
    if ok:
        failures = 0
        db.execute(
            update(Notification).where(Notification.id == notification_id).values(number_of_failures=0)
        )
    else:
        db.execute(
            update(Notification)
            .where(Notification.id == notification_id)
            .values(number_of_failures=Notification.number_of_failures + 1)
        )
        failures = db.execute(
            select(Notification.number_of_failures).where(Notification.id == notification_id)
        ).scalar_one()
    # Keep the newest few attempts only.
    keep_from = db.execute(
        select(NotificationAttempt.id)
        .where(NotificationAttempt.notification_id == notification_id)
        .order_by(NotificationAttempt.id.desc())
        .offset(KEEP_ATTEMPTS)
        .limit(1)
    ).scalar()
    if keep_from is not None:
        db.execute(
            delete(NotificationAttempt).where(
                NotificationAttempt.notification_id == notification_id, NotificationAttempt.id <= keep_from
            )
        )
    return int(failures)
