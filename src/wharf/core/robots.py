"""Robot accounts: `owner+name`, owned by a user or an organization, logging in with a token."""

from __future__ import annotations

import hmac
import json
import re
import secrets
from dataclasses import dataclass
from typing import Any

from sqlalchemy import bindparam, delete, insert, or_, select, update

from wharf.core import accounts, audit, revocation
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Db
from wharf.db.models import Account, Robot, RobotFederation

_SHORT = re.compile(r"^[a-z][a-z0-9_]{1,254}$")
TOKEN_LENGTH = 64


@dataclass(frozen=True, slots=True)
class RobotRecord:
    account: AccountRecord
    owner: str
    shortname: str
    description: str
    metadata: dict[str, Any]
    token_ciphertext: str
    created_ms: int
    last_accessed_ms: int | None


def full_name(owner: str, shortname: str) -> str:
    return f"{owner}+{shortname}"


def _new_token() -> str:
    return secrets.token_urlsafe(48)[:TOKEN_LENGTH].upper().replace("-", "A").replace("_", "B")


_ROW = (
    Robot.description,
    Robot.metadata_json,
    Robot.token_ciphertext,
    Robot.last_accessed_ms,
    Account.created_ms,
    *accounts.COLUMNS,
)
_ACCOUNT_AT = 5
"""Where the robot account's columns begin in a row of _ROW."""
_ROBOTS = select(*_ROW).join(Account, Account.id == Robot.account_id)
# Every robot login reads this, so it is built once (see docs/development.md).
_BY_NAME = _ROBOTS.where(Account.name == bindparam("name"))


def _record(row: Any) -> RobotRecord:
    account = accounts.record(row, _ACCOUNT_AT)
    owner, _, short = account.name.partition("+")
    return RobotRecord(
        account,
        owner,
        short,
        row.description,
        json.loads(row.metadata_json or "{}"),
        row.token_ciphertext,
        row.created_ms,
        row.last_accessed_ms,
    )


def get(db: Db, owner: AccountRecord, shortname: str) -> RobotRecord | None:
    row = db.execute(
        _ROBOTS.where(Robot.owner_id == owner.id, Account.name == full_name(owner.name, shortname))
    ).first()
    return _record(row) if row else None


def get_by_name(db: Db, name: str) -> RobotRecord | None:
    """The robot `owner+shortname`, with its account, in one statement."""
    row = db.execute(_BY_NAME, {"name": name}).first()
    return _record(row) if row else None


# A login within this long of the recorded one writes nothing: a CI job logging in every few
# seconds must not turn each login into a write.
ACCESS_RESOLUTION_MS = 60_000


def needs_access_mark(robot: RobotRecord, now: int) -> bool:
    return robot.last_accessed_ms is None or now - robot.last_accessed_ms >= ACCESS_RESOLUTION_MS


def mark_accessed(db: Db, account_id: int, now: int) -> None:
    """Record a login (Quay's "last accessed"), unless one was recorded in the last minute."""
    db.execute(
        update(Robot)
        .where(
            Robot.account_id == account_id,
            or_(Robot.last_accessed_ms.is_(None), Robot.last_accessed_ms <= now - ACCESS_RESOLUTION_MS),
        )
        .values(last_accessed_ms=now)
    )


def list_for(db: Db, owner: AccountRecord) -> list[RobotRecord]:
    rows = db.execute(_ROBOTS.where(Robot.owner_id == owner.id).order_by(Account.name))
    return [_record(row) for row in rows]


def create(
    db: Db,
    box: SecretBox,
    owner: AccountRecord,
    shortname: str,
    *,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    actor: audit.Actor | None,
) -> RobotRecord:
    if owner.kind not in ("user", "org"):
        raise InvalidInput("robots belong to a user or an organization")
    if not _SHORT.match(shortname):
        raise InvalidInput(
            "robot names are 2-255 lowercase letters, digits and _, starting with a letter", field="name"
        )
    if len(description) > 255:
        raise InvalidInput("the description may be at most 255 characters", field="description")
    name = full_name(owner.name, shortname)
    if accounts.get_by_name(db, name) is not None:
        raise AlreadyExists(f"Existing robot with name: {name}", field="name")  # Quay's words
    result = db.execute(
        insert(Account).values(
            name=name,
            kind="robot",
            email=None,
            password_hash=None,
            enabled=True,
            is_superuser=False,
            created_ms=now_ms(),
        )
    )
    assert result.inserted_primary_key is not None
    account_id = int(result.inserted_primary_key[0])
    db.execute(
        insert(Robot).values(
            account_id=account_id,
            owner_id=owner.id,
            description=description,
            metadata_json=json.dumps(metadata or {}),
            token_ciphertext=box.seal(_new_token()),
        )
    )
    audit.record(db, "create_robot", actor, namespace_id=owner.id, robot=name)
    robot = get(db, owner, shortname)
    assert robot is not None
    return robot


def delete_robot(db: Db, robot: RobotRecord, owner: AccountRecord, actor: audit.Actor | None) -> None:
    db.execute(delete(Account).where(Account.id == robot.account.id))
    audit.record(db, "delete_robot", actor, namespace_id=owner.id, robot=robot.account.name)


def regenerate(
    db: Db, box: SecretBox, robot: RobotRecord, owner: AccountRecord, actor: audit.Actor | None
) -> None:
    db.execute(
        update(Robot)
        .where(Robot.account_id == robot.account.id)
        .values(token_ciphertext=box.seal(_new_token()))
    )
    revocation.revoke(db, [robot.account.id])  # and with the old token, what it was traded for
    audit.record(db, "regenerate_robot_token", actor, namespace_id=owner.id, robot=robot.account.name)


def token_matches(box: SecretBox, robot: RobotRecord, presented: str) -> bool:
    token = box.open(robot.token_ciphertext)
    return token is not None and hmac.compare_digest(token.encode(), presented.encode())


def federation(db: Db, robot_id: int) -> list[tuple[str, str]]:
    """The (issuer, subject) OIDC identities trusted to act as this robot."""
    rows = db.execute(
        select(RobotFederation.issuer, RobotFederation.subject)
        .where(RobotFederation.robot_id == robot_id)
        .order_by(RobotFederation.id)
    )
    return [(r.issuer, r.subject) for r in rows]


def set_federation(
    db: Db,
    robot: RobotRecord,
    owner: AccountRecord,
    entries: list[tuple[str, str]],
    actor: audit.Actor | None,
) -> None:
    """Replace the robot's trusted identities (Quay's POST replaces the whole list)."""
    # Quay's messages, which its tests and scripts look for.
    for issuer, subject in entries:
        if not issuer or not subject:
            raise InvalidInput("Missing one or more required fields (issuer, subject)")
        if not issuer.startswith(("https://", "http://")):
            raise InvalidInput("Issuer must be a URL (http:// or https://)")
    if len(set(entries)) != len(entries):
        raise InvalidInput("Duplicate federation config entry")
    db.execute(delete(RobotFederation).where(RobotFederation.robot_id == robot.account.id))
    for issuer, subject in dict.fromkeys(entries):
        db.execute(insert(RobotFederation).values(robot_id=robot.account.id, issuer=issuer, subject=subject))
    audit.record(
        db,
        "create_robot_federation",
        actor,
        namespace_id=owner.id,
        robot=robot.account.name,
        config=[{"issuer": i, "subject": s} for i, s in entries],
    )


def delete_federation(db: Db, robot: RobotRecord, owner: AccountRecord, actor: audit.Actor | None) -> None:
    db.execute(delete(RobotFederation).where(RobotFederation.robot_id == robot.account.id))
    audit.record(db, "delete_robot_federation", actor, namespace_id=owner.id, robot=robot.account.name)
