"""In-app notifications (the bell in the UI, /api/v1/user/notifications).

A notification addressed to an organization is one row that every admin of the organization
sees; one addressed to a team becomes a row for each member.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, insert, select, update

from wharf.core import orgs, teams
from wharf.core.accounts import AccountRecord, get_by_id, get_by_name
from wharf.core.clock import now_ms
from wharf.core.errors import InvalidInput, NotFound
from wharf.core.paging import PER_PAGE, Paged, window
from wharf.db.engine import Db
from wharf.db.models import TeamMember, UserNotification


@dataclass(frozen=True, slots=True)
class InboxItem:
    uuid: str
    kind: str
    created_ms: int
    metadata: dict[str, Any]
    dismissed: bool
    organization: str | None  # set when the notification is addressed to an organization


def resolve_target(db: Db, namespace: AccountRecord, target: Any) -> list[int]:
    """The account ids a `quay_notification` target {kind: user|org|team, name} reaches; raises
    InvalidInput for a target that does not exist or lies outside the namespace."""
    if not isinstance(target, dict) or target.get("kind") not in ("user", "org", "team"):
        raise InvalidInput("config.target must be {kind: user|org|team, name}")
    kind, name = target["kind"], str(target.get("name") or "")
    if kind == "user":
        account = get_by_name(db, name)
        if account is None or account.kind != "user":
            raise InvalidInput(f"there is no user {name!r}", field="target")
        return [account.id]
    if namespace.kind != "org":
        raise InvalidInput("only an organization's repositories can notify an organization or a team")
    if kind == "org":
        if name != namespace.name:
            raise InvalidInput("the organization must be the repository's own")
        return [namespace.id]
    team = teams.get(db, namespace.id, name)
    if team is None:
        raise InvalidInput(f"organization {namespace.name} has no team {name!r}", field="target")
    rows = db.execute(select(TeamMember.account_id).where(TeamMember.team_id == team.id))
    return [r.account_id for r in rows]


def add(db: Db, target_ids: list[int], kind: str, metadata: dict[str, Any]) -> None:
    now = now_ms()
    body = json.dumps(metadata, separators=(",", ":"), default=str)
    for target in dict.fromkeys(target_ids):
        db.execute(
            insert(UserNotification).values(
                uuid=str(uuid.uuid4()), target_id=target, kind=kind, metadata_json=body, created_ms=now
            )
        )


def _visible_to(db: Db, user_id: int) -> list[int]:
    """The user and the organizations they administer."""
    admin_of = [org.id for org, roles in orgs.of_member(db, user_id) if "admin" in roles]
    return [user_id, *admin_of]


_COLUMNS = (
    UserNotification.uuid,
    UserNotification.target_id,
    UserNotification.kind,
    UserNotification.created_ms,
    UserNotification.metadata_json,
    UserNotification.dismissed,
)


def list_for(db: Db, user_id: int, *, offset: int, limit: int) -> list[InboxItem]:
    rows = db.execute(
        select(*_COLUMNS)
        .where(UserNotification.target_id.in_(_visible_to(db, user_id)))
        .order_by(UserNotification.id.desc())
        .offset(offset)
        .limit(limit)
    )
    return [_item(db, user_id, r) for r in rows]


def unread_count(db: Db, user_id: int) -> int:
    """Notifications the user has not dismissed (the number on the bell)."""
    query = select(func.count()).where(
        UserNotification.target_id.in_(_visible_to(db, user_id)), UserNotification.dismissed.is_(False)
    )
    return int(db.execute(query).scalar_one())


def _item(db: Db, user_id: int, row: Any) -> InboxItem:
    organization = None
    if row.target_id != user_id:
        org = get_by_id(db, row.target_id)
        organization = org.name if org else None
    return InboxItem(
        row.uuid, row.kind, row.created_ms, json.loads(row.metadata_json or "{}"), row.dismissed, organization
    )


def get(db: Db, user_id: int, item_uuid: str) -> InboxItem:
    row = db.execute(
        select(*_COLUMNS).where(
            UserNotification.uuid == item_uuid,
            UserNotification.target_id.in_(_visible_to(db, user_id)),
        )
    ).first()
    if row is None:
        raise NotFound("no such notification")
    return _item(db, user_id, row)


def set_dismissed(db: Db, user_id: int, item_uuid: str, dismissed: bool) -> InboxItem:
    get(db, user_id, item_uuid)
    db.execute(update(UserNotification).where(UserNotification.uuid == item_uuid).values(dismissed=dismissed))
    return get(db, user_id, item_uuid)


def page_for(
    db: Db, user_id: int, *, new_only: bool = False, page: int = 1, per_page: int = PER_PAGE
) -> Paged[InboxItem]:
    """One page of the user's inbox, newest first, with the total: everything, or with `new_only`
    what they have not dismissed. Read from the `target_id` index, the page's rows only."""
    where = [UserNotification.target_id.in_(_visible_to(db, user_id))]
    if new_only:
        where.append(UserNotification.dismissed.is_(False))
    total = int(db.execute(select(func.count()).select_from(UserNotification).where(*where)).scalar_one())
    page, offset = window(total, page, per_page)
    rows = db.execute(
        select(*_COLUMNS).where(*where).order_by(UserNotification.id.desc()).offset(offset).limit(per_page)
    )
    return Paged([_item(db, user_id, r) for r in rows], total, page, per_page)
