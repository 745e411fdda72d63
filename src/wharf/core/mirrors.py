"""Repository mirrors (Quay's RepoMirrorConfig): the configuration, and the state of its sync.

A mirrored repository is in state MIRROR: nobody pushes to it, the sync (services/mirroring.py)
writes its tags as the mirror's robot. The sync's state machine, as Quay's:
NEVER_RUN → SYNCING → SYNC_SUCCESS | SYNC_FAILED; `syncNow` sets SYNC_NOW (due at once), `syncCancel`
sets CANCEL, which a running sync sees between two tags and stops at.

A running sync keeps `sync_expiration_ms` ahead of the clock as it progresses (each tag, each
blob). A sync whose worker died stops moving it: once it lapses the mirror is due again, and the
next sync (the queue hands the dead worker's job to another once its lease runs out) resumes it,
skipping the tags already at the upstream's digest. Each sync gets a token from `begin`: one that
only stalled and wakes after another took over finds its token replaced, stops at its next
progress, and its end is not recorded.
"""

from __future__ import annotations

import fnmatch
import json
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, bindparam, insert, or_, select, update

from wharf.core import audit, manifests, proxy_passwords, repositories, tags
from wharf.core._sql import lock
from wharf.core.accounts import AccountRecord
from wharf.core.clock import now_ms
from wharf.core.errors import AlreadyExists, DomainError, InvalidInput, NotFound
from wharf.core.proxy_passwords import proxy_url, shown_proxy
from wharf.core.repositories import RepositoryRecord
from wharf.core.secretbox import SecretBox
from wharf.db.engine import Db
from wharf.db.models import Account, RepoMirrorConfig, Repository

NEVER_RUN, SYNC_NOW, SYNCING, SYNC_SUCCESS, SYNC_FAILED, CANCEL = (
    "NEVER_RUN",
    "SYNC_NOW",
    "SYNCING",
    "SYNC_SUCCESS",
    "SYNC_FAILED",
    "CANCEL",
)
VALID_ARCHITECTURES = ("amd64", "arm64", "ppc64le", "s390x")
"""The architectures a mirror may filter on (Quay's list)."""
MAX_RETRIES = 3
"""A failed sync is retried at the next look this many times before waiting a whole interval."""
DATE_FORMAT = "%Y-%m-%dT%H:%M:%SZ"

# host[:port]/path: no scheme, at least one path component.
_REFERENCE = re.compile(
    r"^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*"
    r"|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)+$"
)


class MirrorNotFound(NotFound):
    """The repository has no mirror configuration."""


@dataclass(frozen=True, slots=True)
class MirrorRecord:
    repository_id: int
    external_reference: str
    username_sealed: str | None
    password_sealed: str | None
    robot_id: int | None
    robot_username: str | None
    is_enabled: bool
    sync_interval: int
    sync_start_ms: int
    sync_expiration_ms: int | None
    sync_status: str
    sync_retries_remaining: int
    root_rule: dict[str, Any]
    external_registry_config: dict[str, Any]
    skopeo_timeout_interval: int
    architecture_filter: list[str]
    tags_done: int
    tags_total: int
    last_error: str | None
    bytes_done: int = 0
    last_success_ms: int | None = None
    sync_token: str | None = None
    org_mirror: bool = False
    """Made by the organization's mirror, and not reconfigured by a user since."""
    proxy_passwords_sealed: str | None = None
    """The proxies' passwords, sealed (core/proxy_passwords.py)."""

    @property
    def host(self) -> str:
        return self.external_reference.split("/", 1)[0].lower()

    @property
    def path(self) -> str:
        return self.external_reference.split("/", 1)[1]

    @property
    def globs(self) -> list[str]:
        return [str(g) for g in self.root_rule.get("rule_value") or []]

    @property
    def verify_tls(self) -> bool:
        return bool(self.external_registry_config.get("verify_tls", True))

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

    def wanted(self, tag_names: list[str]) -> list[str]:
        """The tags the rule selects, sorted: a tag matching any of the globs (case-sensitive)."""
        globs = self.globs
        return sorted(t for t in tag_names if any(fnmatch.fnmatchcase(t, g) for g in globs))


_COLUMNS = (
    RepoMirrorConfig.repository_id,
    RepoMirrorConfig.external_reference,
    RepoMirrorConfig.username_sealed,
    RepoMirrorConfig.password_sealed,
    RepoMirrorConfig.robot_id,
    Account.name,
    RepoMirrorConfig.is_enabled,
    RepoMirrorConfig.sync_interval,
    RepoMirrorConfig.sync_start_ms,
    RepoMirrorConfig.sync_expiration_ms,
    RepoMirrorConfig.sync_status,
    RepoMirrorConfig.sync_retries_remaining,
    RepoMirrorConfig.root_rule,
    RepoMirrorConfig.external_registry_config,
    RepoMirrorConfig.skopeo_timeout_interval,
    RepoMirrorConfig.architecture_filter,
    RepoMirrorConfig.tags_done,
    RepoMirrorConfig.tags_total,
    RepoMirrorConfig.last_error,
    RepoMirrorConfig.bytes_done,
    RepoMirrorConfig.last_success_ms,
    RepoMirrorConfig.sync_token,
    RepoMirrorConfig.org_mirror,
    RepoMirrorConfig.proxy_passwords_sealed,
)
_GET = (
    select(*_COLUMNS)
    .outerjoin(Account, Account.id == RepoMirrorConfig.robot_id)
    .where(RepoMirrorConfig.repository_id == bindparam("repo"))
)


def _record(row: Any) -> MirrorRecord:
    values = list(row)
    for i in (12, 13, 15):
        values[i] = json.loads(values[i])
    return MirrorRecord(*values)


def get(db: Db, repository_id: int) -> MirrorRecord | None:
    row = db.execute(_GET, {"repo": repository_id}).first()
    return _record(row) if row is not None else None


def require(db: Db, repository_id: int) -> MirrorRecord:
    found = get(db, repository_id)
    if found is None:
        raise MirrorNotFound("no mirror configuration for this repository")
    return found


_ROBOT = select(RepoMirrorConfig.robot_id).where(RepoMirrorConfig.repository_id == bindparam("repo"))


def is_robot_of(db: Db, repository_id: int, account_id: int | None) -> bool:
    """Whether `account_id` is the robot of the repository's mirror: the one account that may
    push to a repository in state MIRROR."""
    if account_id is None:
        return False
    return db.execute(_ROBOT, {"repo": repository_id}).scalar() == account_id


# -- checking what a client sends ---------------------------------------------------------------


def check_reference(external_reference: str) -> str:
    """`host[:port]/path/of/repository`, lower-cased host, no scheme, no tag."""
    value = external_reference.strip().rstrip("/")
    if "://" in value or not value or len(value) > 1024 or not _REFERENCE.match(value):
        raise InvalidInput(
            f"external_reference {external_reference[:100]!r} is not a repository: write "
            "host[:port]/path, as in quay.io/projectquay/quay (no scheme, no tag)",
            field="external_reference",
        )
    host, _, rest = value.partition("/")
    return f"{host.lower()}/{rest}"


def check_rule(root_rule: dict[str, Any]) -> dict[str, Any]:
    kind = root_rule.get("rule_kind")
    value = root_rule.get("rule_value")
    if kind != "tag_glob_csv":
        raise InvalidInput("root_rule.rule_kind must be tag_glob_csv", field="root_rule")
    if isinstance(value, str):  # a CSV, as the kind's name says
        value = [v.strip() for v in value.split(",")]
    if (
        not isinstance(value, list)
        or not value
        or not all(isinstance(v, str) and v.strip() and len(v) <= 256 for v in value)
    ):
        raise InvalidInput(
            'root_rule.rule_value is a list of tag globs, as in ["latest", "v1.*"]', field="root_rule"
        )
    return {"rule_kind": kind, "rule_value": [v.strip() for v in value]}


_PROXY_FIELDS = ("http_proxy", "https_proxy", "no_proxy")
PROXY_SCHEMES = ("http", "https", "socks5", "socks5h")
"""What skopeo (Go) takes in HTTP(S)_PROXY and httpx speaks: an HTTP proxy, one reached over TLS,
and SOCKS5 (`socks5`: Wharf resolves the upstream's name; `socks5h`: the proxy does)."""
_PROXY_URL = re.compile(
    r"^(?:(?:https?|socks5h?)://)?(?:[^@/\s]+@)?(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?/?$",
    re.IGNORECASE,
)


def shown_registry_config(config: dict[str, Any]) -> dict[str, Any]:
    """`external_registry_config` as the API and the web show it: as stored, but for the
    passwords in its proxy URLs (Quay shows them in clear; here they are written once). A stored
    URL holds HIDDEN already (core/proxy_passwords.py); one of a row from before, its password."""
    proxy = config.get("proxy")
    if not isinstance(proxy, dict):
        return config
    hidden = {k: shown_proxy(v) if k != "no_proxy" and isinstance(v, str) else v for k, v in proxy.items()}
    return {**config, "proxy": hidden}


def check_registry_config(config: dict[str, Any]) -> dict[str, Any]:
    """`external_registry_config`: `verify_tls`, `unsigned_images` (booleans) and `proxy`
    (`http_proxy`, `https_proxy`: a proxy's `scheme://[user:password@]host:port`, the scheme one
    of PROXY_SCHEMES; `no_proxy`: comma-separated hosts, as the NO_PROXY variable). Stored as
    given but for the proxies' passwords, which are sealed (core/proxy_passwords.py `seal`, which
    also decides whether a HIDDEN one keeps a stored password); shown back with them hidden
    (`shown_registry_config`)."""
    for name in ("verify_tls", "unsigned_images"):
        if name in config and not isinstance(config[name], bool):
            raise InvalidInput(f"external_registry_config.{name} is true or false", field=name)
    proxy = config.get("proxy")
    if proxy is None:
        return config
    if not isinstance(proxy, dict) or any(k not in _PROXY_FIELDS for k in proxy):
        raise InvalidInput(
            "external_registry_config.proxy has http_proxy, https_proxy and no_proxy", field="proxy"
        )
    for name in _PROXY_FIELDS:
        value = proxy.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str) or len(value) > 2048:
            raise InvalidInput(f"external_registry_config.proxy.{name} is a string", field=name)
        if name == "no_proxy":
            continue
        if not _PROXY_URL.match(value.strip()):
            raise InvalidInput(
                f"external_registry_config.proxy.{name} {shown_proxy(value)[:100]!r} is not a proxy: "
                "write http://host:port (an HTTP proxy; https:// registries are reached through its "
                "CONNECT), https://host:port (TLS to the proxy) or socks5://host:port",
                field=name,
            )
    return config


def proxies(config: dict[str, Any]) -> tuple[str | None, str | None, tuple[str, ...]] | None:
    """The configuration's proxies as URLs (http, https, no_proxy entries), their passwords as
    the configuration holds them (HIDDEN when stored: `proxy_passwords.opened` gives the ones to
    call); None when it names no proxy (the process's environment applies then)."""
    proxy = config.get("proxy") or {}
    http, https = (proxy.get(n) or None for n in ("http_proxy", "https_proxy"))
    if http is None and https is None:
        return None
    no_proxy = tuple(e.strip() for e in str(proxy.get("no_proxy") or "").split(",") if e.strip())
    return (proxy_url(http) if http else None, proxy_url(https) if https else None, no_proxy)


def check_architectures(values: list[str]) -> list[str]:
    """The architecture filter: a few of VALID_ARCHITECTURES, each once (empty: every one)."""
    unknown = [v for v in values if v not in VALID_ARCHITECTURES]
    if unknown:
        raise InvalidInput(
            f"architecture_filter: unknown architecture {unknown[0][:40]!r} "
            f"(one of {', '.join(VALID_ARCHITECTURES)})",
            field="architecture_filter",
        )
    return sorted(set(values))


def parse_date(text: str) -> int:
    try:
        parsed = datetime.strptime(text, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        raise InvalidInput(
            "sync_start_date is a UTC time as 2026-12-07T13:00:00Z", field="sync_start_date"
        ) from None
    return int(parsed.timestamp() * 1000)


def format_date(ms: int | None) -> str | None:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime(DATE_FORMAT) if ms is not None else None


TIMEOUT_MIN_S, TIMEOUT_MAX_S = 300, 43200
"""The bounds of `skopeo_timeout_interval` a client may set (Quay's API refuses under 5 minutes, its
UI over 12 hours). An organization mirror's repositories take the organization's `skopeo_timeout`
(30 to 3600 s, Quay's bounds for it): core stores those as they are."""


def check_timeout(seconds: int) -> int:
    """A client's `skopeo_timeout_interval`, with Quay's messages."""
    if seconds < TIMEOUT_MIN_S:
        raise InvalidInput(
            f"Skopeo timeout interval cannot be less than {TIMEOUT_MIN_S} seconds",
            field="skopeo_timeout_interval",
        )
    if seconds > TIMEOUT_MAX_S:
        raise InvalidInput(
            f"Skopeo timeout interval cannot be more than {TIMEOUT_MAX_S} seconds",
            field="skopeo_timeout_interval",
        )
    return seconds


def check_interval(seconds: int, what: str) -> int:
    if seconds < 1 or seconds > 10 * 365 * 86400:
        raise InvalidInput(f"{what} is a number of seconds, at least 1", field=what)
    return seconds


def robot_of(db: Db, repo: RepositoryRecord, robot_username: str | None) -> AccountRecord | None:
    """The robot that writes the mirror's tags: one of the repository's namespace."""
    if not robot_username:
        return None
    from wharf.core import accounts

    robot = accounts.get_by_name(db, robot_username)
    if robot is None or robot.kind != "robot" or not robot_username.startswith(f"{repo.namespace}+"):
        raise InvalidInput(
            f"robot_username {robot_username!r} is not a robot account of {repo.namespace}",
            field="robot_username",
        )
    return robot


# -- the configuration ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a client may set (None: leave as it is, for a change)."""

    external_reference: str | None = None
    username: str | None = None
    password: str | None = None
    robot_username: str | None = None
    is_enabled: bool | None = None
    sync_interval: int | None = None
    sync_start_ms: int | None = None
    root_rule: dict[str, Any] | None = None
    external_registry_config: dict[str, Any] | None = None
    skopeo_timeout_interval: int | None = None
    architecture_filter: list[str] | None = field(default=None)
    org_mirror: bool | None = None
    """Whether the organization's mirror made (or took over) it; a user's change clears it."""
    proxies_from: proxy_passwords.Stored | None = None
    """Where a proxy password given as HIDDEN is taken from: the organization mirror's stored
    configuration, for the repositories it manages. None: this mirror's own (a client's change)."""


def create(
    db: Db, box: SecretBox, repo: RepositoryRecord, new: Settings, actor: audit.Actor | None
) -> MirrorRecord:
    """Make the repository a mirror; it goes into state MIRROR (only the sync writes to it)."""
    assert new.external_reference is not None and new.root_rule is not None
    reference = check_reference(new.external_reference)
    rule = check_rule(new.root_rule)
    config = check_registry_config(new.external_registry_config or {})
    robot = robot_of(db, repo, new.robot_username)
    lock(db, "repo-mirror", repo.id)
    if get(db, repo.id) is not None:
        raise AlreadyExists("Mirror configuration already exists")
    db.execute(
        insert(RepoMirrorConfig),
        {
            "repository_id": repo.id,
            "external_reference": reference,
            "username_sealed": box.seal(new.username) if new.username else None,
            "password_sealed": box.seal(new.password) if new.password else None,
            "robot_id": robot.id if robot else None,
            "is_enabled": True if new.is_enabled is None else new.is_enabled,
            # 0 is refused, not taken for "unset"
            "sync_interval": check_interval(
                86400 if new.sync_interval is None else new.sync_interval, "sync_interval"
            ),
            "sync_start_ms": new.sync_start_ms if new.sync_start_ms is not None else now_ms(),
            "sync_expiration_ms": None,
            "sync_status": NEVER_RUN,
            "sync_retries_remaining": MAX_RETRIES,
            "root_rule": json.dumps(rule),
            **proxy_passwords.columns(box, config, new.proxies_from),
            "skopeo_timeout_interval": check_interval(
                300 if new.skopeo_timeout_interval is None else new.skopeo_timeout_interval,
                "skopeo_timeout_interval",
            ),
            "architecture_filter": json.dumps(check_architectures(new.architecture_filter or [])),
            "tags_done": 0,
            "tags_total": 0,
            "last_error": None,
            "created_ms": now_ms(),
            "org_mirror": bool(new.org_mirror),
        },
    )
    if repo.state not in repositories.MIRRORED:
        repositories.set_state(db, repo, repositories.MIRROR, actor)
    audit.record_for(db, "repo_mirror_enabled", actor, repo, external_reference=reference)
    return require(db, repo.id)


def _changed_values(
    db: Db, box: SecretBox, repo: RepositoryRecord, new: Settings, current: MirrorRecord
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    if new.external_reference is not None:
        values["external_reference"] = check_reference(new.external_reference)
    if new.root_rule is not None:
        values["root_rule"] = json.dumps(check_rule(new.root_rule))
    if new.robot_username is not None:
        robot = robot_of(db, repo, new.robot_username)
        values["robot_id"] = robot.id if robot else None
    for name, given in (("username_sealed", new.username), ("password_sealed", new.password)):
        if given is not None:
            values[name] = box.seal(given) if given else None
    for name, number in (
        ("sync_interval", new.sync_interval),
        ("skopeo_timeout_interval", new.skopeo_timeout_interval),
    ):
        if number is not None:
            values[name] = check_interval(number, name)
    if new.external_registry_config is not None:
        values.update(
            proxy_passwords.columns(
                box,
                check_registry_config(new.external_registry_config),
                new.proxies_from or current.stored_proxies,
            )
        )
    if new.architecture_filter is not None:
        values["architecture_filter"] = json.dumps(check_architectures(new.architecture_filter))
    plain = {"is_enabled": new.is_enabled, "sync_start_ms": new.sync_start_ms, "org_mirror": new.org_mirror}
    values.update({k: v for k, v in plain.items() if v is not None})
    return values


def change(
    db: Db, box: SecretBox, repo: RepositoryRecord, new: Settings, actor: audit.Actor | None
) -> MirrorRecord:
    current = require(db, repo.id)
    values = _changed_values(db, box, repo, new, current)
    changed = sorted(k for k in values if not k.endswith("_sealed") and k != "org_mirror") + (
        ["external_registry_password"] if new.password is not None else []
    )
    if "external_registry_config" not in values and proxy_passwords.in_clear(
        current.external_registry_config
    ):
        # a row from before proxy passwords were sealed: sealed at its next write, which is no
        # change of the configuration (the audit entry's `changed` does not name it)
        values.update(proxy_passwords.columns(box, current.external_registry_config, current.stored_proxies))
    if values:
        db.execute(update(RepoMirrorConfig).where(RepoMirrorConfig.repository_id == repo.id).values(**values))
    if new.is_enabled is not None and new.is_enabled != current.is_enabled:
        kind = "repo_mirror_enabled" if new.is_enabled else "repo_mirror_disabled"
        audit.record_for(db, kind, actor, repo)
    audit.record_for(db, "repo_mirror_config_changed", actor, repo, changed=changed)
    return require(db, repo.id)


def _set(db: Db, repository_id: int, **values: Any) -> int:
    statement = update(RepoMirrorConfig).where(RepoMirrorConfig.repository_id == repository_id)
    return int(db.execute(statement.values(**values)).rowcount)


def is_running(record: MirrorRecord, now: int) -> bool:
    """SYNCING, and its worker moved it lately: one that stopped moving it died (or stalled)."""
    return record.sync_status == SYNCING and (record.sync_expiration_ms or 0) >= now


def sync_now(db: Db, repo: RepositoryRecord, actor: audit.Actor | None) -> bool:
    """Due at once; False while a sync runs (Quay answers 404 then)."""
    current = require(db, repo.id)
    if is_running(current, now_ms()):
        return False
    _set(db, repo.id, sync_status=SYNC_NOW, sync_start_ms=now_ms(), sync_retries_remaining=MAX_RETRIES)
    audit.record_for(db, "repo_mirror_sync_now_requested", actor, repo)
    return True


def sync_cancel(db: Db, repo: RepositoryRecord, actor: audit.Actor | None) -> bool:
    """Stop a running or due sync; False when there is none."""
    current = require(db, repo.id)
    if current.sync_status not in (SYNCING, SYNC_NOW):
        return False
    _set(db, repo.id, sync_status=CANCEL)
    return True


# -- the sync's own writes --------------------------------------------------------------------------

_DUE = (
    select(RepoMirrorConfig.repository_id)
    .join(Repository, Repository.id == RepoMirrorConfig.repository_id)
    .where(
        Repository.state.in_(repositories.MIRRORED),  # one set back to NORMAL keeps its config, idle
        RepoMirrorConfig.is_enabled.is_(True),
        RepoMirrorConfig.sync_start_ms <= bindparam("now"),
        or_(
            RepoMirrorConfig.sync_status.in_([NEVER_RUN, SYNC_NOW, SYNC_SUCCESS, SYNC_FAILED, CANCEL]),
            # a sync whose worker died: it stopped moving its expiration
            and_(
                RepoMirrorConfig.sync_status == SYNCING,
                RepoMirrorConfig.sync_expiration_ms < bindparam("now"),
            ),
        ),
    )
)


def due(db: Db, now: int) -> list[int]:
    """Repositories whose mirror should sync now (the queue's dedupe key keeps one job each)."""
    return [int(r) for r in db.execute(_DUE, {"now": now}).scalars()]


def begin(db: Db, repository_id: int) -> MirrorRecord | None:
    """Mark the sync as running; None when there is nothing to run (gone, disabled, or the
    repository left state MIRROR). A mirror found SYNCING is one whose worker died (the queue
    gives a job to one worker at a time): this sync resumes it."""
    current = get(db, repository_id)
    if current is None or not current.is_enabled:
        return None
    state = db.execute(select(Repository.state).where(Repository.id == repository_id)).scalar()
    if state not in repositories.MIRRORED:
        return None
    now = now_ms()
    _set(
        db,
        repository_id,
        sync_status=SYNCING,
        tags_done=0,
        tags_total=0,
        bytes_done=0,
        last_error=None,
        sync_expiration_ms=now + current.skopeo_timeout_interval * 1000,
        sync_token=secrets.token_hex(16),
    )
    return require(db, repository_id)


def _holds(db: Db, repository_id: int, token: str | None) -> bool:
    """Whether the sync of `token` is still the mirror's (None: whichever runs)."""
    if token is None:
        return True
    held = select(RepoMirrorConfig.sync_token).where(RepoMirrorConfig.repository_id == repository_id)
    return db.execute(held).scalar() == token


def progress(
    db: Db, repository_id: int, done: int, total: int, bytes_done: int = 0, token: str | None = None
) -> bool:
    """Record tags done of total and bytes copied, and push the expiration on (the running
    sync's sign of life); False when the sync was cancelled meanwhile, or taken over by another
    (then nothing is written)."""
    if not _holds(db, repository_id, token):
        return False
    timeout = select(RepoMirrorConfig.skopeo_timeout_interval).where(
        RepoMirrorConfig.repository_id == repository_id
    )
    seconds = db.execute(timeout).scalar() or 0
    _set(
        db,
        repository_id,
        tags_done=done,
        tags_total=total,
        bytes_done=bytes_done,
        sync_expiration_ms=now_ms() + seconds * 1000,
    )
    status = db.execute(
        select(RepoMirrorConfig.sync_status).where(RepoMirrorConfig.repository_id == repository_id)
    ).scalar()
    return status == SYNCING


def finish(
    db: Db, repository_id: int, status: str, error: str | None, token: str | None = None
) -> MirrorRecord | None:
    """The sync ended: the next one is due an interval later (a failure is retried sooner, at
    the next look, while retries remain). None, writing nothing, when another sync took this
    one's place."""
    current = get(db, repository_id)
    if current is None or not _holds(db, repository_id, token):
        return None
    now = now_ms()
    retries = current.sync_retries_remaining
    if status == SYNC_FAILED and retries > 1:
        retries, next_ms = retries - 1, now
    else:
        retries, next_ms = MAX_RETRIES, now + current.sync_interval * 1000
    values: dict[str, Any] = {"last_success_ms": now} if status == SYNC_SUCCESS else {}
    _set(
        db,
        repository_id,
        sync_status=status,
        last_error=error,
        sync_retries_remaining=retries,
        sync_start_ms=next_ms,
        sync_expiration_ms=None,
        sync_token=None,
        **values,
    )
    return require(db, repository_id)


def delete_vanished(
    db: Db, repo: RepositoryRecord, config: MirrorRecord, upstream: set[str], actor: audit.Actor | None
) -> list[str]:
    """End the tags the rule selects that the upstream no longer has (REPO_MIRROR_DELETE_VANISHED_TAGS);
    tags the rule does not select (the robot's own pushes) and immutable ones stay. Restorable
    within the time-machine window, as any deletion."""
    gone: list[str] = []
    after: str | None = None
    while True:
        names = tags.list_names(db, repo.id, after=after, limit=500)
        if not names:
            return gone
        for name in config.wanted(names):
            if name in upstream:
                continue
            try:
                manifest_id = tags.remove(db, repo.id, name)
            except DomainError:  # immutable, or ended meanwhile
                continue
            digest = db.execute(manifests.digest_of(manifest_id)).scalar()
            audit.record_for(db, "delete_tag", actor, repo, tag=name, manifest_digest=digest)
            gone.append(name)
        after = names[-1]


def describe(record: MirrorRecord, box: SecretBox) -> dict[str, Any]:
    """Quay's view of a configuration (the username, never the password)."""
    return {
        "is_enabled": record.is_enabled,
        "mirror_type": "PULL",
        "external_reference": record.external_reference,
        "external_registry_username": record.credentials(box)[0],
        "external_registry_config": shown_registry_config(record.external_registry_config),
        "sync_interval": record.sync_interval,
        "sync_start_date": format_date(record.sync_start_ms),
        "sync_expiration_date": format_date(record.sync_expiration_ms),
        "sync_retries_remaining": record.sync_retries_remaining,
        "sync_status": record.sync_status,
        "root_rule": record.root_rule,
        "robot_username": record.robot_username,
        "skopeo_timeout_interval": record.skopeo_timeout_interval,
        "architecture_filter": record.architecture_filter,
        "tags_done": record.tags_done,
        "tags_total": record.tags_total,
        "bytes_done": record.bytes_done,
        "last_sync_date": format_date(record.last_success_ms),
        "last_error": record.last_error,
    }
