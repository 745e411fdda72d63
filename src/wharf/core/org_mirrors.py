"""Organization mirrors (Quay's OrgMirrorConfig): an organization that mirrors every repository of
a namespace in another registry (a Harbor project or a Quay organization).

A sync of the organization mirror is a *discovery*: it lists the upstream namespace's
repositories, keeps those the filters select, and for each one not seen before creates the
repository in the organization, in state ORG_MIRROR, with a repository mirror of its own
(core/mirrors.py, every tag, written by the organization mirror's robot). The repository mirrors
copy the tags; the organization mirror only finds the repositories and asks them to sync. Its
state machine is the repository mirror's: NEVER_RUN → SYNCING → SYNC_SUCCESS | SYNC_FAILED, with
SYNC_NOW and CANCEL set by the API.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import and_, bindparam, delete, insert, or_, select, update

from wharf.core import audit, mirrors, proxy_passwords, repositories
from wharf.core._sql import lock
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, InvalidInput, NotFound
from wharf.core.mirrors import CANCEL, MAX_RETRIES, NEVER_RUN, SYNC_FAILED, SYNC_NOW, SYNC_SUCCESS, SYNCING
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Db
from wharf.db.models import Account, OrgMirrorConfig, OrgMirrorRepository

__all__ = ["CANCEL", "NEVER_RUN", "SYNCING", "SYNC_FAILED", "SYNC_NOW", "SYNC_SUCCESS"]

TYPES = ("harbor", "quay")
VISIBILITIES = ("public", "private")
MIN_INTERVAL = 60  # Quay's minimum sync_interval
_NAMESPACE = re.compile(r"^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$")


class OrgMirrorNotFound(NotFound):
    """The organization has no mirror configuration."""


@dataclass(frozen=True, slots=True)
class OrgMirrorRecord:
    org_id: int
    external_registry_type: str
    external_registry_url: str
    external_namespace: str
    username_sealed: str | None
    password_sealed: str | None
    robot_id: int | None
    robot_username: str | None
    visibility: str
    is_enabled: bool
    sync_interval: int
    sync_start_ms: int
    sync_expiration_ms: int | None
    sync_status: str
    sync_retries_remaining: int
    external_registry_config: dict[str, Any]
    repository_filters: list[str]
    architecture_filter: list[str]
    skopeo_timeout: int
    last_error: str | None
    created_ms: int
    proxy_passwords_sealed: str | None = None
    """The proxies' passwords, sealed (core/proxy_passwords.py)."""

    @property
    def host(self) -> str:
        """host[:port] of the upstream registry (its /v2 and its API are on the same host)."""
        return urlsplit(self.external_registry_url).netloc.lower()

    @property
    def verify_tls(self) -> bool:
        return self.external_registry_url.startswith("https://") and bool(
            self.external_registry_config.get("verify_tls", True)
        )

    @property
    def stored_proxies(self) -> proxy_passwords.Stored:
        return proxy_passwords.Stored(self.external_registry_config, self.proxy_passwords_sealed)

    def outbound_config(self, box: SecretBox) -> dict[str, Any]:
        """`external_registry_config` with the proxies' passwords opened (outbound calls only)."""
        return proxy_passwords.opened(box, self.external_registry_config, self.proxy_passwords_sealed)

    def credentials(self, box: SecretBox) -> tuple[str | None, str | None]:
        username = box.open(self.username_sealed) if self.username_sealed else None
        password = box.open(self.password_sealed) if self.password_sealed else None
        return username, password

    def selects(self, name: str) -> bool:
        return selects(self.repository_filters, name)

    def reference(self, name: str) -> str:
        return f"{self.host}/{self.external_namespace}/{name}"


def selects(filters: list[str], name: str) -> bool:
    """Whether the filters keep the repository `name`: it matches an include glob (every name when
    there is none) and no exclude glob ("!glob"). Case-sensitive, `/` matched by `*`."""
    includes = [f for f in filters if not f.startswith("!")]
    excludes = [f[1:] for f in filters if f.startswith("!")]
    if includes and not any(fnmatch.fnmatchcase(name, g) for g in includes):
        return False
    return not any(fnmatch.fnmatchcase(name, g) for g in excludes)


_COLUMNS = (
    OrgMirrorConfig.org_id,
    OrgMirrorConfig.external_registry_type,
    OrgMirrorConfig.external_registry_url,
    OrgMirrorConfig.external_namespace,
    OrgMirrorConfig.username_sealed,
    OrgMirrorConfig.password_sealed,
    OrgMirrorConfig.robot_id,
    Account.name,
    OrgMirrorConfig.visibility,
    OrgMirrorConfig.is_enabled,
    OrgMirrorConfig.sync_interval,
    OrgMirrorConfig.sync_start_ms,
    OrgMirrorConfig.sync_expiration_ms,
    OrgMirrorConfig.sync_status,
    OrgMirrorConfig.sync_retries_remaining,
    OrgMirrorConfig.external_registry_config,
    OrgMirrorConfig.repository_filters,
    OrgMirrorConfig.architecture_filter,
    OrgMirrorConfig.skopeo_timeout,
    OrgMirrorConfig.last_error,
    OrgMirrorConfig.created_ms,
    OrgMirrorConfig.proxy_passwords_sealed,
)
_GET = (
    select(*_COLUMNS)
    .outerjoin(Account, Account.id == OrgMirrorConfig.robot_id)
    .where(OrgMirrorConfig.org_id == bindparam("org"))
)


def _record(row: Any) -> OrgMirrorRecord:
    values = list(row)
    for i in (15, 16, 17):
        values[i] = json.loads(values[i])
    return OrgMirrorRecord(*values)


def get(db: Db, org_id: int) -> OrgMirrorRecord | None:
    row = db.execute(_GET, {"org": org_id}).first()
    return _record(row) if row is not None else None


def require(db: Db, org_id: int) -> OrgMirrorRecord:
    found = get(db, org_id)
    if found is None:
        raise OrgMirrorNotFound("no mirror configuration for this organization")
    return found


# -- checking what a client sends ---------------------------------------------------------------


def check_type(value: str) -> str:
    if value.lower() not in TYPES:
        raise InvalidInput("external_registry_type is harbor or quay", field="external_registry_type")
    return value.lower()


def check_url(value: str) -> str:
    """`https://host[:port]` (or http://, for a registry on a private network): no path, no query."""
    try:
        parts = urlsplit(value.strip().rstrip("/"))
        parts.port  # noqa: B018 (a port out of range raises here)
    except ValueError:
        parts = None
    if (
        parts is None
        or parts.scheme not in ("http", "https")
        or not parts.hostname
        or parts.path
        or parts.query
        or parts.username
        or len(value) > 1024
    ):
        raise InvalidInput(
            "external_registry_url is the registry's address, as https://harbor.example.com",
            field="external_registry_url",
        )
    return f"{parts.scheme}://{parts.netloc.lower()}"


def check_namespace(value: str) -> str:
    if not _NAMESPACE.match(value) or len(value) > 255:
        raise InvalidInput(
            f"external_namespace {value[:100]!r} is not a namespace name", field="external_namespace"
        )
    return value


def check_filters(filters: list[str]) -> list[str]:
    cleaned = [f.strip() for f in filters if f.strip()]
    if len(cleaned) > 100 or any(len(f) > 256 or f == "!" for f in cleaned):
        raise InvalidInput(
            'repository_filters is a list of globs, as ["app-*", "!app-test*"]', field="repository_filters"
        )
    return cleaned


def check_visibility(value: str) -> str:
    if value.lower() not in VISIBILITIES:
        raise InvalidInput("visibility is public or private", field="visibility")
    return value.lower()


def check_interval(seconds: int) -> int:
    if seconds < MIN_INTERVAL or seconds > 10 * 365 * 86400:
        raise InvalidInput(f"sync_interval must be at least {MIN_INTERVAL} seconds", field="sync_interval")
    return seconds


def check_timeout(seconds: int) -> int:
    if seconds < 30 or seconds > 3600:
        raise InvalidInput("skopeo_timeout must be between 30 and 3600 seconds", field="skopeo_timeout")
    return seconds


def robot_of(db: Db, org: AccountRecord, robot_username: str) -> AccountRecord:
    from wharf.core import accounts

    robot = accounts.get_by_name(db, robot_username)
    if robot is None or robot.kind != "robot" or not robot_username.startswith(f"{org.name}+"):
        raise InvalidInput(
            f"robot_username {robot_username!r} is not a robot account of {org.name}", field="robot_username"
        )
    return robot


# -- the configuration ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a client may set (None: leave as it is, for a change; "" clears a credential)."""

    external_registry_type: str | None = None
    external_registry_url: str | None = None
    external_namespace: str | None = None
    robot_username: str | None = None
    visibility: str | None = None
    sync_interval: int | None = None
    sync_start_ms: int | None = None
    is_enabled: bool | None = None
    username: str | None = None
    password: str | None = None
    external_registry_config: dict[str, Any] | None = None
    repository_filters: list[str] | None = None
    architecture_filter: list[str] | None = None
    skopeo_timeout: int | None = None


REQUIRED = (
    "external_registry_type",
    "external_registry_url",
    "external_namespace",
    "robot_username",
    "visibility",
    "sync_interval",
    "sync_start_ms",
)


def _values(
    db: Db, box: SecretBox, org: AccountRecord, new: Settings, current: OrgMirrorRecord | None
) -> dict[str, Any]:
    """The columns a create or change sets, checked."""
    values: dict[str, Any] = {}
    checks: list[tuple[str, Any, Any]] = [
        ("external_registry_type", new.external_registry_type, check_type),
        ("external_registry_url", new.external_registry_url, check_url),
        ("external_namespace", new.external_namespace, check_namespace),
        ("visibility", new.visibility, check_visibility),
        ("sync_interval", new.sync_interval, check_interval),
        ("skopeo_timeout", new.skopeo_timeout, check_timeout),
        ("repository_filters", new.repository_filters, lambda v: json.dumps(check_filters(v))),
        ("architecture_filter", new.architecture_filter, json.dumps),
    ]
    for name, given, check in checks:
        if given is not None:
            values[name] = check(given)
    if new.external_registry_config is not None:
        stored = current.stored_proxies if current is not None else None
        values.update(
            proxy_passwords.columns(box, mirrors.check_registry_config(new.external_registry_config), stored)
        )
    if new.robot_username is not None:
        values["robot_id"] = robot_of(db, org, new.robot_username).id
    for name, secret in (("username_sealed", new.username), ("password_sealed", new.password)):
        if secret is not None:
            values[name] = box.seal(secret) if secret else None
    plain = {"is_enabled": new.is_enabled, "sync_start_ms": new.sync_start_ms}
    values.update({k: v for k, v in plain.items() if v is not None})
    return values


def create(
    db: Db, box: SecretBox, org: AccountRecord, new: Settings, actor: audit.Actor | None
) -> OrgMirrorRecord:
    missing = [name for name in REQUIRED if getattr(new, name) is None]
    if missing:
        raise InvalidInput(f"missing: {', '.join(missing)}")
    values = _values(db, box, org, new, None)
    lock(db, "org-mirror", org.id)
    if get(db, org.id) is not None:
        raise AlreadyExists("Organization mirror configuration already exists")
    defaults = {
        "username_sealed": None,
        "password_sealed": None,
        "is_enabled": True,
        "external_registry_config": "{}",
        "proxy_passwords_sealed": None,
        "repository_filters": "[]",
        "architecture_filter": "[]",
        "skopeo_timeout": 300,
    }
    state = {
        "sync_expiration_ms": None,
        "sync_status": NEVER_RUN,
        "sync_retries_remaining": MAX_RETRIES,
        "last_error": None,
        "created_ms": now_ms(),
    }
    db.execute(insert(OrgMirrorConfig), {"org_id": org.id, **defaults, **values, **state})
    audit.record(
        db,
        "org_mirror_enabled",
        actor,
        namespace_id=org.id,
        namespace=org.name,
        external_namespace=values["external_namespace"],
        external_registry_url=values["external_registry_url"],
    )
    return require(db, org.id)


def change(
    db: Db, box: SecretBox, org: AccountRecord, new: Settings, actor: audit.Actor | None
) -> OrgMirrorRecord:
    current = require(db, org.id)
    if new.external_registry_type is not None and new.external_registry_type.lower() != (
        current.external_registry_type
    ):
        # Quay's UpdateOrgMirrorConfig has no type: another kind of registry is another mirror.
        raise InvalidInput("external_registry_type cannot change", field="external_registry_type")
    values = _values(db, box, org, new, current)
    changed = sorted(k for k in values if not k.endswith("_sealed")) + (
        ["external_registry_password"] if new.password is not None else []
    )
    if "external_registry_config" not in values and proxy_passwords.in_clear(
        current.external_registry_config
    ):
        # a row from before proxy passwords were sealed: sealed at its next write, which is no
        # change of the configuration (the audit entry's `changed` does not name it)
        values.update(proxy_passwords.columns(box, current.external_registry_config, current.stored_proxies))
    if values:
        db.execute(update(OrgMirrorConfig).where(OrgMirrorConfig.org_id == org.id).values(**values))
    if new.is_enabled is not None and new.is_enabled != current.is_enabled:
        kind = "org_mirror_enabled" if new.is_enabled else "org_mirror_disabled"
        audit.record(db, kind, actor, namespace_id=org.id, namespace=org.name)
    audit.record(
        db, "org_mirror_config_changed", actor, namespace_id=org.id, namespace=org.name, changed=changed
    )
    return require(db, org.id)


_LINKED = select(OrgMirrorRepository.repository_id).where(
    OrgMirrorRepository.org_id == bindparam("org"), OrgMirrorRepository.repository_id.is_not(None)
)


def linked(db: Db, org_id: int) -> list[RepositoryRecord]:
    """The repositories the organization mirror created (and still exist)."""
    found = []
    for repository_id in db.execute(_LINKED, {"org": org_id}).scalars():
        repo = repositories.get_by_id(db, repository_id) if repository_id is not None else None
        if repo is not None:
            found.append(repo)
    return found


def delete_config(db: Db, org: AccountRecord, actor: audit.Actor | None) -> list[RepositoryRecord]:
    """Stop mirroring: the repositories it created stay, back in state NORMAL (their repository
    mirrors stay too, idle, as for any repository set back to NORMAL); the ones it returns."""
    require(db, org.id)
    kept = linked(db, org.id)
    for repo in kept:
        if repo.state == repositories.ORG_MIRROR:
            repositories.set_state(db, repo, repositories.NORMAL, actor)
    db.execute(delete(OrgMirrorConfig).where(OrgMirrorConfig.org_id == org.id))
    audit.record(db, "org_mirror_config_deleted", actor, namespace_id=org.id, namespace=org.name)
    return kept


def _set(db: Db, org_id: int, **values: Any) -> int:
    statement = update(OrgMirrorConfig).where(OrgMirrorConfig.org_id == org_id)
    return int(db.execute(statement.values(**values)).rowcount)


def sync_now(db: Db, org: AccountRecord, actor: audit.Actor | None) -> bool:
    """Due at once; False while a discovery runs."""
    current = require(db, org.id)
    if current.sync_status == SYNCING:
        return False
    _set(db, org.id, sync_status=SYNC_NOW, sync_start_ms=now_ms(), sync_retries_remaining=MAX_RETRIES)
    audit.record(db, "org_mirror_sync_now_requested", actor, namespace_id=org.id, namespace=org.name)
    return True


def cancel(db: Db, org: AccountRecord, actor: audit.Actor | None) -> bool:
    """CANCEL from any state but CANCEL (as Quay): a running discovery stops at its next
    repository; the service cancels the repositories' own syncs. False when cancelled already."""
    current = require(db, org.id)
    if current.sync_status == CANCEL:
        return False
    _set(db, org.id, sync_status=CANCEL, sync_start_ms=now_ms() + current.sync_interval * 1000)
    audit.record(db, "org_mirror_sync_cancelled", actor, namespace_id=org.id, namespace=org.name)
    return True


# -- the discovery's own writes -------------------------------------------------------------------

_DUE = select(OrgMirrorConfig.org_id).where(
    OrgMirrorConfig.is_enabled.is_(True),
    or_(
        and_(
            OrgMirrorConfig.sync_start_ms <= bindparam("now"),
            OrgMirrorConfig.sync_status.in_([NEVER_RUN, SYNC_NOW, SYNC_SUCCESS, SYNC_FAILED, CANCEL]),
        ),
        # a discovery whose worker died (it stays SYNCING) is run again once its time is up
        and_(OrgMirrorConfig.sync_status == SYNCING, OrgMirrorConfig.sync_expiration_ms < bindparam("now")),
    ),
)


def due(db: Db, now: int) -> list[int]:
    return [int(r) for r in db.execute(_DUE, {"now": now}).scalars()]


def begin(db: Db, org_id: int, max_duration_s: int) -> OrgMirrorRecord | None:
    """Mark the discovery as running; None when there is nothing to run (gone or disabled)."""
    current = get(db, org_id)
    if current is None or not current.is_enabled:
        return None
    _set(
        db, org_id, sync_status=SYNCING, last_error=None, sync_expiration_ms=now_ms() + max_duration_s * 1000
    )
    return require(db, org_id)


def is_running(db: Db, org_id: int) -> bool:
    """False once the discovery was cancelled (or the configuration deleted) meanwhile."""
    status = db.execute(select(OrgMirrorConfig.sync_status).where(OrgMirrorConfig.org_id == org_id)).scalar()
    return status == SYNCING


def finish(db: Db, org_id: int, status: str, error: str | None) -> OrgMirrorRecord | None:
    """The discovery ended: the next is due an interval later (a failure sooner, while retries
    remain). A cancelled one stays CANCEL."""
    current = get(db, org_id)
    if current is None:
        return None
    now = now_ms()
    retries = current.sync_retries_remaining
    if status == SYNC_FAILED and retries > 1:
        retries, next_ms = retries - 1, now
    else:
        retries, next_ms = MAX_RETRIES, now + current.sync_interval * 1000
    if current.sync_status == CANCEL:
        status = CANCEL
    _set(
        db,
        org_id,
        sync_status=status,
        last_error=error,
        sync_retries_remaining=retries,
        sync_start_ms=next_ms,
        sync_expiration_ms=None,
    )
    return require(db, org_id)


def robot_actor(config: OrgMirrorRecord) -> audit.Actor:
    if config.robot_id is None:
        return audit.Actor(None, "org-mirror", kind="system")
    return audit.Actor(config.robot_id, config.robot_username, kind="robot")


def describe(record: OrgMirrorRecord, box: SecretBox, counts: dict[str, int]) -> dict[str, Any]:
    """Quay's view of a configuration (the username, never the password)."""
    return {
        "is_enabled": record.is_enabled,
        "external_registry_type": record.external_registry_type,
        "external_registry_url": record.external_registry_url,
        "external_namespace": record.external_namespace,
        "external_registry_username": record.credentials(box)[0],
        "has_external_registry_password": record.password_sealed is not None,
        "external_registry_config": mirrors.shown_registry_config(record.external_registry_config),
        "repository_filters": record.repository_filters,
        "architecture_filter": record.architecture_filter,
        "robot_username": record.robot_username,
        "visibility": record.visibility,
        "sync_interval": record.sync_interval,
        "sync_start_date": mirrors.format_date(record.sync_start_ms),
        "sync_expiration_date": mirrors.format_date(record.sync_expiration_ms),
        "sync_status": record.sync_status,
        "sync_retries_remaining": record.sync_retries_remaining,
        "repo_sync_status_counts": counts,
        "skopeo_timeout": record.skopeo_timeout,
        "last_error": record.last_error,
        "creation_date": mirrors.format_date(record.created_ms),
    }
