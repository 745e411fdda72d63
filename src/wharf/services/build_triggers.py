"""Build triggers as /api/v1 and the push webhooks use them.

Every trigger can work as Quay's custom-git one does: activating it generates an SSH deploy key
(the public half shown, for the git server; the private half sealed with the secret box) and a
webhook token; the git server POSTs its push events to /webhooks/push/trigger/<uuid>, proving
itself with the token: as the URL's basic-auth password (`$token:<token>@`, Quay's shape), or the
way its service signs (GitHub's and Bitbucket's `X-Hub-Signature-256`/`X-Hub-Signature`
HMAC-SHA256 of the body with the token as secret, GitLab's `X-Gitlab-Token`). The payload is read
by the sender's kind (its event header), so one URL takes any of the four. A GitHub or GitLab
trigger connected through Wharf's OAuth application (GITHUB_TRIGGER_CONFIG, GITLAB_TRIGGER_CONFIG)
has Wharf install and remove the key and the webhook itself (services/connected_triggers.py).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import hmac
import json
import posixpath
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from wharf.auth.identity import Identity
from wharf.core import audit, build_triggers, builds, repositories, trigger_payloads
from wharf.core.build_triggers import Activation, TriggerRecord
from wharf.core.builds import BuildRecord
from wharf.core.errors import InvalidInput, NotAllowed, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.core.trigger_payloads import InvalidPayload, SkipRequest
from wharf.db.engine import Db
from wharf.integrations import git_files, git_remote, outbound
from wharf.runtime import Runtime
from wharf.services import builds as build_service
from wharf.services import connected_triggers, trigger_common

WEBHOOK_PATH = "/webhooks/push/trigger/{uuid}"
MAX_PAYLOAD = 4 * 1024 * 1024


class TriggerInactive(InvalidInput):
    """The trigger was not activated yet (or was, and may not be again)."""


class WebhookRefused(NotAllowed):
    """A push whose token or signature is missing or wrong."""


def _require_enabled(rt: Runtime) -> None:
    if not rt.settings.FEATURE_BUILD_SUPPORT:
        raise build_service.BuildsDisabled("builds are disabled on this registry (FEATURE_BUILD_SUPPORT)")


def _actor(who: Identity) -> audit.Actor:
    return audit.Actor(who.account_id, who.name, who.ip, kind=who.kind, origin=who.origin)


# --- records -------------------------------------------------------------------------------------


async def get(rt: Runtime, repo: RepositoryRecord, trigger_uuid: str) -> TriggerRecord:
    found = await rt.db.read(build_triggers.get_in, repo.id, trigger_uuid)
    if found is None:
        raise NotFound(f"no build trigger {trigger_uuid} in {repo.full_name}")
    return found


async def list_triggers(rt: Runtime, repo: RepositoryRecord) -> list[TriggerRecord]:
    return await rt.db.read(build_triggers.list_for, repo.id)


async def create(rt: Runtime, who: Identity, repo: RepositoryRecord, service: str) -> TriggerRecord:
    """A new inactive trigger (the surface checked admin on the repository)."""
    _require_enabled(rt)
    return await rt.db.write(build_triggers.create, repo, service, who.account_id)


def webhook_url(rt: Runtime, trigger: TriggerRecord, token: str | None) -> str:
    """The URL the git server POSTs to, with the token as basic-auth password (Quay's shape)."""
    parts = urlsplit(rt.settings.public_origin)
    auth = f"$token:{token}@" if token else ""
    return f"{parts.scheme}://{auth}{parts.netloc}{WEBHOOK_PATH.format(uuid=trigger.uuid)}"


def token_of(rt: Runtime, trigger: TriggerRecord) -> str | None:
    return rt.secrets.open(trigger.token_sealed) if trigger.token_sealed else None


def credentials(rt: Runtime, trigger: TriggerRecord) -> list[dict[str, str]]:
    """What the user copies to the git server, as Quay's custom trigger lists it in its config."""
    if not trigger.is_active:
        return []
    return [
        {"name": "SSH Public Key", "value": trigger.public_key or ""},
        {"name": "Webhook Endpoint URL", "value": webhook_url(rt, trigger, token_of(rt, trigger))},
    ]


def _path(value: Any, what: str) -> str:
    """A path inside the repository, as the UI gives it (`/Dockerfile`, `/`): '' for its root."""
    if value is None:
        return ""
    if not isinstance(value, str) or "\x00" in value or len(value) > 1024:
        raise InvalidInput(f"{what} is not a usable path", field=what)
    if ".." in value.replace("\\", "/").split("/"):
        raise InvalidInput(f"{what} may not leave the repository", field=what)
    return posixpath.normpath("/" + value.strip()).lstrip("/")


def _tagging(config: Mapping[str, Any], clean: dict[str, Any]) -> None:
    regex = config.get("branchtag_regex")
    if regex:
        if not isinstance(regex, str):
            raise InvalidInput("branchtag_regex must be a string", field="branchtag_regex")
        trigger_payloads.branchtag_pattern(regex)
        clean["branchtag_regex"] = regex
    templates = config.get("tag_templates") or []
    if (
        not isinstance(templates, list)
        or len(templates) > 20
        or not all(isinstance(t, str) and len(t) <= 255 for t in templates)
    ):
        raise InvalidInput("tag_templates must be a list of at most 20 strings", field="tag_templates")
    clean["tag_templates"] = templates
    clean["default_tag_from_ref"] = bool(config.get("default_tag_from_ref", True))
    clean["latest_for_default_branch"] = bool(config.get("latest_for_default_branch", True))


def _source(config: Mapping[str, Any], service: str) -> str:
    source = config.get("build_source")
    if service in connected_triggers.NAMES:
        return connected_triggers.check_source(service, source)
    if not isinstance(source, str):
        raise InvalidInput("build_source (the git repository's URL) is required", field="build_source")
    try:
        git_remote.parse(source)
    except git_remote.BadRemote as e:
        raise InvalidInput(f"build_source: {e}", field="build_source") from None
    return source.strip()


def clean_config(config: Mapping[str, Any], service: str = trigger_payloads.CUSTOM_GIT) -> dict[str, Any]:
    """The configuration a trigger keeps, checked: `build_source` (the git URL; a connected GitHub
    trigger's `owner/name`, a GitLab one's `namespace/project`), the Dockerfile's path and the
    context (Quay's `dockerfile_path`, `context`), tagging and the ref filter."""
    source = _source(config, service)
    dockerfile = _path(config.get("dockerfile_path") or "/Dockerfile", "dockerfile_path")
    if not dockerfile:
        raise InvalidInput("dockerfile_path names no file", field="dockerfile_path")
    context = _path(config["context"], "context") if "context" in config else posixpath.dirname(dockerfile)
    clean: dict[str, Any] = {
        "build_source": source,
        "dockerfile_path": dockerfile,
        "context": context,
        "subdir": posixpath.dirname(dockerfile),
    }
    default_branch = config.get("default_branch")
    if isinstance(default_branch, str) and default_branch:
        clean["default_branch"] = default_branch[:255]
    _tagging(config, clean)
    _known_hosts(config, clean)
    return clean


def _known_hosts(config: Mapping[str, Any], clean: dict[str, Any]) -> None:
    """Beyond Quay: the git server's SSH host keys, pinned (kept as `<type> <base64>` lines)."""
    text = config.get("known_hosts")
    if isinstance(text, list):  # what a trigger's own config holds, sent back as it was read
        text = "\n".join(str(line) for line in text)
    if text is None or text == "":
        return
    if not isinstance(text, str) or len(text) > 64 * 1024:
        raise InvalidInput("known_hosts must be text of at most 64 KiB", field="known_hosts")
    try:
        keys = git_files.host_keys(text)
    except ValueError as e:
        raise InvalidInput(f"known_hosts: {e}", field="known_hosts") from None
    if keys:
        clean["known_hosts"] = keys


def deploy_key() -> tuple[str, str]:
    """A new SSH deploy key pair: (the private key in OpenSSH's format, the public key line)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    ).decode()
    public = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return private, public.decode() + " wharf-build-trigger"


async def activate(
    rt: Runtime,
    who: Identity,
    repo: RepositoryRecord,
    trigger_uuid: str,
    config: Mapping[str, Any],
    pull_robot: str | None,
) -> TriggerRecord:
    """Activate a trigger: check its configuration, make its deploy key and webhook token."""
    _require_enabled(rt)
    trigger = await get(rt, repo, trigger_uuid)
    if trigger.is_active:
        raise TriggerInactive("Trigger config is not sufficient for activation.")
    connected = connected_triggers.is_connected(trigger)
    if connected and trigger.connected_user_id != who.account_id:
        name = connected_triggers.NAMES[trigger.service]
        raise NotAllowed(f"only the user who connected this trigger to {name} may activate it")
    clean = clean_config(config, trigger.service if connected else trigger_payloads.CUSTOM_GIT)
    if connected:
        clean = await connected_triggers.describe(rt, trigger, clean)
    try:
        await outbound.check_url(git_remote.parse(git_url_of(clean)).check_url, rt.settings, resolve=False)
    except (outbound.OutboundRefused, git_remote.BadRemote) as e:
        raise InvalidInput(f"build_source: {e}", field="build_source") from None
    private, public = deploy_key()
    token = secrets.token_urlsafe(32)

    def _activate(db: Db) -> TriggerRecord:
        robot_id = None
        if pull_robot:
            if not pull_robot.startswith(repo.namespace + "+"):
                raise NotAllowed("the pull robot must belong to the repository's namespace")
            robot_id = build_service.pull_robot_id(db, who, pull_robot)
        how = Activation(clean, robot_id, rt.secrets.seal(token), rt.secrets.seal(private), public)
        return build_triggers.activate(db, trigger, repo, how, _actor(who))

    if not connected:
        return await rt.db.write(_activate)
    # The robot is checked before the service is changed: a refused one leaves nothing installed there.
    if pull_robot:
        await rt.db.read(build_service.pull_robot_id, who, pull_robot)
    clean = await connected_triggers.install(
        rt, trigger, clean, public, webhook_url(rt, trigger, token), token
    )
    try:
        return await rt.db.write(_activate)
    except BaseException:
        await connected_triggers.uninstall(rt, dataclasses.replace(trigger, config=clean))
        raise


def git_url_of(config: Mapping[str, Any]) -> str:
    """What a build clones: a connected trigger's SSH URL, else its build_source."""
    return str(config.get("git_url") or config["build_source"])


async def toggle(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, enabled: bool
) -> TriggerRecord:
    trigger = await get(rt, repo, trigger_uuid)
    if not trigger.is_active:
        raise TriggerInactive("Cannot update an unactivated trigger")
    return await rt.db.write(build_triggers.toggle, trigger, repo, enabled, _actor(who))


async def delete(rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str) -> None:
    trigger = await get(rt, repo, trigger_uuid)
    if trigger.is_active:
        # Quay removes the key and the webhook first, and keeps the trigger if the service refuses.
        await connected_triggers.uninstall(rt, trigger)
    await rt.db.write(build_triggers.delete_trigger, trigger, repo, _actor(who))


async def uninstall_all(rt: Runtime, repo: RepositoryRecord) -> None:
    """Remove what the repository's connected triggers installed at their service (deploy keys,
    webhooks), as `delete` does one trigger's, before the repository goes with its triggers. Best
    effort: the repository is deleted whatever the service answers, so a refusal (or any other
    failure) is logged, naming what to remove by hand, and the next trigger is tried."""
    await _uninstall(rt, await rt.db.read(build_triggers.list_for, repo.id))


async def uninstall_all_in_namespace(rt: Runtime, namespace_id: int) -> None:
    """`uninstall_all` for every repository of a user or organization about to be deleted."""
    await _uninstall(rt, await rt.db.read(build_triggers.list_in_namespace, namespace_id))


async def _uninstall(rt: Runtime, triggers: list[TriggerRecord]) -> None:
    for trigger in triggers:
        if not (trigger.is_active and connected_triggers.is_connected(trigger)):
            continue
        try:
            await connected_triggers.uninstall(rt, trigger)
        except Exception as e:  # not only the services' refusals: nothing here may keep the repository
            service = connected_triggers.NAMES[trigger.service]
            source = str(trigger.config.get("build_source"))
            trigger_common.left_behind(trigger, service, source, e)


async def recent_builds(
    rt: Runtime, repo: RepositoryRecord, trigger_uuid: str, limit: int
) -> list[BuildRecord]:
    trigger = await get(rt, repo, trigger_uuid)
    return await rt.db.read(builds.list_for_trigger, trigger.id, limit)


# --- starting builds ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RunParameters:
    """manuallyStartBuildTrigger's body: a commit (custom git) and/or a branch or tag."""

    commit_sha: str | None = None
    branch_name: str | None = None
    refs: Mapping[str, Any] | None = None


def _ref_asked(trigger: TriggerRecord, run: RunParameters) -> tuple[str, str]:
    """(branch or tag, its name) of a manual run: refs, else branch_name, else the default branch."""
    if run.refs and run.refs.get("kind") in ("branch", "tag") and isinstance(run.refs.get("name"), str):
        return str(run.refs["kind"]), str(run.refs["name"])
    if run.branch_name:
        return "branch", run.branch_name
    return "branch", str(trigger.config.get("default_branch") or "main")


def _manual_metadata(trigger: TriggerRecord, run: RunParameters) -> dict[str, Any]:
    if not run.commit_sha:
        raise InvalidInput("commit_sha is required: Wharf builds a commit it is told", field="commit_sha")
    kind, name = _ref_asked(trigger, run)
    ref = f"refs/{'heads' if kind == 'branch' else 'tags'}/{name}"
    body = {"commit": run.commit_sha, "ref": ref, "default_branch": trigger.config.get("default_branch")}
    try:
        return trigger_payloads.custom_git(body, git_url_of(trigger.config))
    except (InvalidPayload, SkipRequest) as e:
        raise InvalidInput(str(e), field="commit_sha") from None


async def manual_start(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, run: RunParameters
) -> BuildRecord:
    """Build a commit with the trigger's configuration, now (filters and skip marks do not
    apply: someone asked for this build)."""
    _require_enabled(rt)
    trigger = await get(rt, repo, trigger_uuid)
    if not trigger.enabled:
        raise InvalidInput("Trigger is not enabled.")
    if not trigger.is_active:
        raise TriggerInactive("Trigger is not active.")
    if not run.commit_sha and connected_triggers.is_connected(trigger):
        # The service knows what the branch or tag points at (Quay asks it the same way).
        kind, name = _ref_asked(trigger, run)
        run = dataclasses.replace(run, commit_sha=await connected_triggers.ref_sha(rt, trigger, kind, name))
    metadata = _manual_metadata(trigger, run)
    return await rt.db.write(build_triggers.start_build, trigger, repo, metadata, _actor(who))


def _basic_password(authorization: str | None) -> str | None:
    if not authorization or not authorization.lower().startswith("basic "):
        return None
    try:
        user, _, password = base64.b64decode(authorization[6:].strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return password if user == "$token" else None


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def authentic(token: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether the push proves it knows the trigger's token. Every proof it offers must hold (a
    wrong signature is refused even beside a right password), and it must offer one."""
    proofs: list[bool] = []
    password = _basic_password(headers.get("authorization"))
    if password is not None:
        proofs.append(_same(password, token))
    mac = hmac.new(token.encode(), body, hashlib.sha256).hexdigest()
    for header in ("x-hub-signature-256", "x-hub-signature"):
        signature = headers.get(header)
        if signature is not None:
            proofs.append(_same(signature.strip(), f"sha256={mac}"))
    gitlab = headers.get("x-gitlab-token")
    if gitlab is not None:
        proofs.append(_same(gitlab, token))
    return bool(proofs) and all(proofs)


def sender(headers: Mapping[str, str]) -> str:
    """Which service sent the push, by its event header."""
    if "x-github-event" in headers:
        return trigger_payloads.GITHUB
    if "x-gitlab-event" in headers:
        return trigger_payloads.GITLAB
    if "x-event-key" in headers:
        return trigger_payloads.BITBUCKET
    return trigger_payloads.CUSTOM_GIT


def metadata_of(trigger: TriggerRecord, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """Quay's trigger_metadata of a push, read as its sender writes it."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise InvalidPayload("the body is not JSON") from None
    git_url = git_url_of(trigger.config)
    kind = sender(headers)
    if kind == trigger_payloads.GITHUB:
        return trigger_payloads.github(payload, headers.get("x-github-event"), git_url)
    if kind == trigger_payloads.GITLAB:
        return trigger_payloads.gitlab(payload, headers.get("x-gitlab-event"), git_url)
    if kind == trigger_payloads.BITBUCKET:
        default = trigger.config.get("default_branch")
        return trigger_payloads.bitbucket(payload, headers.get("x-event-key"), git_url, default)
    return trigger_payloads.custom_git(payload, git_url)


def _wanted_metadata(trigger: TriggerRecord, headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    metadata = metadata_of(trigger, headers, body)
    trigger_payloads.check_wanted(metadata, trigger.config)
    return metadata


@dataclass(frozen=True, slots=True)
class PushOutcome:
    build: BuildRecord | None
    skipped: str | None = None


async def receive_push(
    rt: Runtime, trigger_uuid: str, headers: Mapping[str, str], body: bytes, ip: str | None
) -> PushOutcome:
    """A push webhook: authenticate it, read it, and queue its build unless it asks to skip
    or its ref is filtered out. `headers` with lower-case names."""
    _require_enabled(rt)
    trigger = await rt.db.read(build_triggers.get, trigger_uuid)
    token = token_of(rt, trigger) if trigger is not None else None
    if trigger is None or token is None:
        raise NotFound("no such build trigger")
    if not authentic(token, headers, body):
        raise WebhookRefused("the push's token or signature is missing or wrong")
    if not trigger.enabled:
        raise InvalidInput("Build trigger is disabled")
    try:
        # Off the event loop: the body is parsed (and the branchtag_regex matched) in a thread.
        metadata = await asyncio.to_thread(_wanted_metadata, trigger, headers, body)
    except SkipRequest as e:
        return PushOutcome(None, str(e))
    except InvalidPayload as e:
        raise InvalidInput(f"Invalid payload: {e}") from None
    origin = rt.settings.public_origin
    actor = audit.Actor(None, None, ip, kind="trigger", origin=origin)

    def _start(db: Db) -> BuildRecord:
        repo = repositories.get_by_id(db, trigger.repository_id)
        if repo is None:
            raise NotFound("no such build trigger")
        return build_triggers.start_build(db, trigger, repo, metadata, actor)

    return PushOutcome(await rt.db.write(_start))


# --- what a builder needs ------------------------------------------------------------------------


async def ssh_access_of(rt: Runtime, build: BuildRecord) -> tuple[str | None, list[str]]:
    """What the build's clone over SSH needs of the trigger that started it, as it is now: its
    private deploy key, opened, and the host keys it pins (none: trusted on first use)."""
    if build.trigger_uuid is None:
        return None, []
    trigger = await rt.db.read(build_triggers.get, build.trigger_uuid)
    if trigger is None:
        return None, []
    key = rt.secrets.open(trigger.private_key_sealed) if trigger.private_key_sealed else None
    return key, pinned_host_keys(trigger.config)


def pinned_host_keys(config: Mapping[str, Any]) -> list[str]:
    """The host keys a (checked) configuration pins for its git server."""
    keys = config.get("known_hosts")
    return [str(k) for k in keys] if isinstance(keys, list) else []
