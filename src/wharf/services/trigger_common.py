"""What the modules of connected build triggers (services/github_triggers.py, gitlab_triggers.py,
bitbucket_triggers.py) share apart from OAuth (services/trigger_oauth.py): who may browse a
service with a trigger's token, and the setup wizard's answers built from what the service lists
(branches and tags, Dockerfiles and their contexts), in Quay's shapes.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Mapping
from typing import Any

from wharf.auth.identity import Identity
from wharf.core import build_triggers, trigger_payloads
from wharf.core.build_triggers import TriggerRecord
from wharf.core.errors import InvalidInput, NotAllowed, NotFound
from wharf.core.repositories import RepositoryRecord
from wharf.runtime import Runtime

log = logging.getLogger("wharf.build_triggers")
REF_FIELDS = ("branch_name", "tag_name", "refs")
"""The fields of a manual run that take values (Quay's listTriggerFieldValues)."""


async def own(
    rt: Runtime, who: Identity, repo: RepositoryRecord, trigger_uuid: str, service: str, name: str
) -> TriggerRecord:
    """The trigger, when `who` may browse the service `service` (called `name`) through it: only
    the user who connected it, since another admin of the repository would otherwise see that
    user's private repositories (Quay checks the same). A trigger not connected is anyone's."""
    trigger = await rt.db.read(build_triggers.get_in, repo.id, trigger_uuid)
    if trigger is None:
        raise NotFound(f"no build trigger {trigger_uuid} in {repo.full_name}")
    connected = trigger.service == service and trigger.auth_token_sealed is not None
    if connected and trigger.connected_user_id != who.account_id:
        raise NotAllowed(f"only the user who connected this trigger to {name} may read {name} through it")
    return trigger


def default_first(default: object, branches: list[str]) -> list[str]:
    """The branches with the default one first (as Quay lists them), when the service named one."""
    if isinstance(default, str) and default:
        return [default, *(b for b in branches if b != default)]
    return branches


def field_values(field: str, branches: list[str], tags: list[str]) -> list[Any]:
    """A REF_FIELDS field's values: the branches, the tags, or both as `refs` with their kind."""
    if field == "branch_name":
        return branches
    if field == "tag_name":
        return tags
    return [{"kind": "branch", "name": b} for b in branches] + [{"kind": "tag", "name": t} for t in tags]


def is_dockerfile(name: str) -> bool:
    """`Dockerfile` or `<name>.Dockerfile`, Quay's convention."""
    return name == "Dockerfile" or name.endswith(".Dockerfile")


def contexts_of(dockerfile: str) -> list[str]:
    """The directories a Dockerfile may be built in: its own and every one above it."""
    parts = [p for p in posixpath.dirname(dockerfile).split("/") if p and p != "."]
    return ["/"] + ["/" + "/".join(parts[: n + 1]) for n in range(len(parts))]


def matching_branches(branches: list[str], config: Mapping[str, Any]) -> list[str]:
    """The branches the configuration's `branchtag_regex` builds (all without one)."""
    regex = config.get("branchtag_regex")
    if not isinstance(regex, str) or not regex:
        return branches
    try:
        pattern = trigger_payloads.branchtag_pattern(regex)
    except InvalidInput:
        return []
    return [b for b in branches if trigger_payloads.ref_matches(pattern, f"heads/{b}")]


def subdirs_found(paths: list[str]) -> dict[str, Any]:
    """listBuildTriggerSubdirs' answer for the files of a tree: its Dockerfiles and their contexts
    (no paths: none found)."""
    dockerfiles = ["/" + p for p in paths if is_dockerfile(posixpath.basename(p))]
    return {
        "status": "success",
        "dockerfile_paths": dockerfiles,
        "contextMap": {d: contexts_of(d) for d in dockerfiles},
    }


def left_behind(trigger: TriggerRecord, service: str, source: str, why: object) -> None:
    """A trigger is deleted without its deploy key and webhook being removed from the service
    (which no longer honours the token): say so, since an admin must remove them by hand."""
    log.warning(
        "build trigger %s deleted without reaching %s (%s): "
        "remove its deploy key and webhook from %s by hand",
        trigger.uuid,
        service,
        why,
        source,
    )


_INSTALLED_KEYS = ("deploy_key_id", "key_id", "hook_id", "webhook_id")
"""Where the services' triggers keep what activation installed (GitHub, GitLab, Bitbucket)."""


def left_without_application(trigger: TriggerRecord, service: str, source: str) -> None:
    """The trigger goes while its service's OAuth application is not configured: what
    activation installed stays at the service, and the log says so (an inactive trigger installed
    nothing and says nothing)."""
    if any(key in trigger.config for key in _INSTALLED_KEYS):
        left_behind(trigger, service, source, "its OAuth application is not configured here")
