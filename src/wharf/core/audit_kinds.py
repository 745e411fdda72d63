"""Every kind of usage-log entry, declared once: its name (Quay's where Quay has one), the sentence
the web UI shows for it, and the category the docs group it under.

`docs/audit-logs.md` lists this table (`python -m wharf.core.audit_kinds` prints it; a test keeps
the two in step), the UI's sentences come from `sentence`, and a test checks that every kind
written anywhere in `src/` is declared here.

A sentence template is a `str.format` template. `{who}` is the performer ("An anonymous user" when
there is none); the other fields are the entry's details (a missing one reads "None", a list is
joined with commas) and these, worked out from them: `{repo}` namespace/name, `{digest}` the
manifest digest cut to 19 characters, `{tag_part}` "tag T of" or "DIGEST of" or nothing,
`{holder}` "team T" or the user a permission is about, `{expiry}` "to expire DATE" or "to never
expire", `{immutability}` "immutable" or "mutable".
"""

from __future__ import annotations

import string
from collections.abc import Callable
from typing import Any, NamedTuple


class Kind(NamedTuple):
    name: str
    sentence: str
    category: str


CATEGORIES = {
    "pull-push": "Pushes and pulls",
    "repository": "Repositories",
    "tag": "Tags, manifests and labels",
    "permission": "Permissions",
    "notification": "Notifications",
    "robot": "Robot accounts",
    "organization": "Organizations and teams",
    "account": "Users",
    "login": "Logins",
    "token": "Tokens and OAuth applications",
    "logs": "Usage logs",
    "superuser": "Superuser",
}
"""Category id -> heading, in the order the docs list them."""

_ALL = [
    # Pushes and pulls
    Kind("push_repo", "{who} pushed {tag_part} {repo}", "pull-push"),
    Kind("pull_repo", "{who} pulled {tag_part} {repo}", "pull-push"),
    Kind("push_repo_failed", "{who} failed to push {reference} to {repo} ({error})", "pull-push"),
    Kind("pull_repo_failed", "{who} failed to pull {reference} from {repo} ({error})", "pull-push"),
    # Repositories
    Kind("create_repo", "{who} created repository {repo}", "repository"),
    Kind("delete_repo", "{who} deleted repository {repo}", "repository"),
    Kind("set_repo_description", "{who} changed the description of {repo}", "repository"),
    Kind(
        "change_repo_sbom_format",
        "{who} set the SBOM attached to images of {repo} to {sbom_format}",
        "repository",
    ),
    Kind("change_repo_visibility", "{who} made {repo} {visibility}", "repository"),
    Kind("change_repo_state", "{who} set the state of {repo} to {state_changed}", "repository"),
    Kind("repo_mirror_enabled", "{who} turned on mirroring into {repo}", "repository"),
    Kind("repo_mirror_disabled", "{who} stopped mirroring into {repo}", "repository"),
    Kind("repo_mirror_config_changed", "{who} changed {changed} of the mirror {repo}", "repository"),
    Kind("repo_mirror_sync_now_requested", "{who} asked for a sync of the mirror {repo} now", "repository"),
    Kind("repo_mirror_sync_started", "{who} started syncing {repo}: {message}", "repository"),
    Kind("repo_mirror_sync_success", "{who} synced {repo}: {message}", "repository"),
    Kind("repo_mirror_sync_failed", "{who} could not sync {repo}: {message}", "repository"),
    Kind(
        "org_mirror_enabled",
        "{who} turned on mirroring {external_namespace} into {namespace}",
        "organization",
    ),
    Kind("org_mirror_disabled", "{who} stopped mirroring into {namespace}", "organization"),
    Kind("org_mirror_config_changed", "{who} changed {changed} of the mirror of {namespace}", "organization"),
    Kind(
        "org_mirror_config_deleted", "{who} removed the mirror configuration of {namespace}", "organization"
    ),
    Kind(
        "org_mirror_sync_now_requested",
        "{who} asked for a sync of the mirror of {namespace} now",
        "organization",
    ),
    Kind(
        "org_mirror_sync_cancelled", "{who} cancelled the sync of the mirror of {namespace}", "organization"
    ),
    Kind(
        "org_mirror_sync_started",
        "{who} started discovering repositories for {namespace}: {message}",
        "organization",
    ),
    Kind("org_mirror_sync_success", "{who} synced the mirror of {namespace}: {message}", "organization"),
    Kind(
        "org_mirror_sync_failed", "{who} could not sync the mirror of {namespace}: {message}", "organization"
    ),
    Kind("org_mirror_repo_created", "{who} created {repo} as a mirror of {external_reference}", "repository"),
    Kind("build_dockerfile", "{who} requested a build of {repo} ({docker_tags})", "repository"),
    Kind("cancel_build", "{who} cancelled build {build_uuid} of {repo}", "repository"),
    Kind("setup_repo_trigger", "{who} set up a {service} build trigger on {repo}", "repository"),
    Kind("delete_repo_trigger", "{who} deleted the {service} build trigger of {repo}", "repository"),
    Kind(
        "toggle_repo_trigger",
        "{who} set the {service} build trigger of {repo} enabled={enabled}",
        "repository",
    ),
    Kind(
        "start_build_trigger",
        "{who} started build {build_uuid} of {repo} from its {service} trigger",
        "repository",
    ),
    # Tags, manifests and labels
    Kind("create_tag", "{who} created tag {tag} on {digest}", "tag"),
    Kind("move_tag", "{who} moved tag {tag} to {digest}", "tag"),
    Kind("delete_tag", "{who} deleted tag {tag} of {repo}", "tag"),
    Kind("revert_tag", "{who} reverted tag {tag} to {digest}", "tag"),
    Kind("permanently_delete_tag", "{who} removed tag {tag} from the history for good", "tag"),
    Kind("change_tag_expiration", "{who} set tag {tag} {expiry}", "tag"),
    Kind("change_tag_immutability", "{who} made tag {tag} {immutability}", "tag"),
    Kind("delete_manifest", "{who} deleted manifest {digest} of {repo}", "tag"),
    Kind("autoprune_tag_delete", "An auto-prune policy deleted tag {tag} of {repo}", "tag"),
    Kind("proxy_cache_evict_tag", "The proxy cache's quota evicted tag {tag} of {repo}", "tag"),
    Kind("tag_made_immutable_by_policy", "An immutability policy made tag {tag} of {repo} immutable", "tag"),
    Kind(
        "tags_made_immutable_by_policy", "An immutability policy made {count} tags of {repo} immutable", "tag"
    ),
    Kind(
        "create_namespace_autoprune_policy",
        "{who} added an auto-prune policy ({method} {value}) to {namespace}",
        "tag",
    ),
    Kind(
        "update_namespace_autoprune_policy",
        "{who} changed an auto-prune policy of {namespace} to {method} {value}",
        "tag",
    ),
    Kind("delete_namespace_autoprune_policy", "{who} deleted an auto-prune policy of {namespace}", "tag"),
    Kind(
        "create_repository_autoprune_policy",
        "{who} added an auto-prune policy ({method} {value}) to {repo}",
        "tag",
    ),
    Kind(
        "update_repository_autoprune_policy",
        "{who} changed an auto-prune policy of {repo} to {method} {value}",
        "tag",
    ),
    Kind("delete_repository_autoprune_policy", "{who} deleted an auto-prune policy of {repo}", "tag"),
    Kind(
        "create_immutability_policy",
        "{who} added an immutability policy for tags matching {tag_pattern} to {repo}",
        "tag",
    ),
    Kind(
        "update_immutability_policy",
        "{who} changed an immutability policy of {repo} to tags matching {tag_pattern}",
        "tag",
    ),
    Kind("delete_immutability_policy", "{who} deleted an immutability policy of {repo}", "tag"),
    Kind("manifest_label_add", "{who} added label {label_key} to {digest} of {repo}", "tag"),
    Kind("manifest_label_delete", "{who} removed label {label_key} from {digest} of {repo}", "tag"),
    Kind(
        "user_change_tag_expiration",
        "{who} set how long {namespace} can restore deleted tags to {tag_expiration} s",
        "tag",
    ),
    Kind(
        "org_change_tag_expiration",
        "{who} set how long {namespace} can restore deleted tags to {tag_expiration} s",
        "tag",
    ),
    # Permissions
    Kind("create_repo_permission", "{who} gave {holder} the {role} role on {repo}", "permission"),
    Kind("change_repo_permission", "{who} changed the role of {holder} on {repo} to {role}", "permission"),
    Kind("delete_repo_permission", "{who} removed the role of {holder} on {repo}", "permission"),
    Kind(
        "create_prototype_permission",
        "{who} added a default permission: {role} for {delegate} on new repositories",
        "permission",
    ),
    Kind("modify_prototype_permission", "{who} changed a default permission to {role}", "permission"),
    Kind("delete_prototype_permission", "{who} deleted a default permission", "permission"),
    # Notifications
    Kind("add_repo_notification", "{who} added a {method} notification on {event} to {repo}", "notification"),
    Kind(
        "delete_repo_notification",
        "{who} deleted a {method} notification on {event} of {repo}",
        "notification",
    ),
    Kind(
        "reset_repo_notification",
        "{who} re-enabled a {method} notification on {event} of {repo}",
        "notification",
    ),
    Kind(
        "create_namespace_notification",
        "{who} added a {method} notification on {event} to {namespace}",
        "notification",
    ),
    Kind(
        "delete_namespace_notification",
        "{who} deleted a {method} notification on {event} of {namespace}",
        "notification",
    ),
    Kind(
        "reset_namespace_notification",
        "{who} re-enabled a {method} notification on {event} of {namespace}",
        "notification",
    ),
    # Robot accounts
    Kind("create_robot", "{who} created robot {robot}", "robot"),
    Kind("delete_robot", "{who} deleted robot {robot}", "robot"),
    Kind("regenerate_robot_token", "{who} regenerated the token of robot {robot}", "robot"),
    Kind("create_robot_federation", "{who} set the OIDC identities robot {robot} trusts", "robot"),
    Kind("delete_robot_federation", "{who} removed the OIDC identities robot {robot} trusted", "robot"),
    Kind(
        "federated_robot_token_exchange",
        "{who} exchanged an OIDC token for a token of robot {robot}",
        "robot",
    ),
    # Organizations and teams
    Kind("org_create", "{who} created organization {namespace}", "organization"),
    Kind(
        "org_change_security_settings",
        "{who} set the pull policy of {namespace} to {pull_policy} and its SBOM attachment to {sbom_format}",
        "organization",
    ),
    Kind("org_delete", "{who} deleted organization {namespace}", "organization"),
    Kind("org_remove_member", "{who} removed {member} from the organization", "organization"),
    Kind("take_ownership", "{who} took ownership of {namespace}", "organization"),
    Kind("org_create_team", "{who} created team {team} with the {role} role", "organization"),
    Kind("org_set_team_role", "{who} gave team {team} the {role} role", "organization"),
    Kind("org_delete_team", "{who} deleted team {team}", "organization"),
    Kind("org_add_team_member", "{who} added {member} to team {team}", "organization"),
    Kind("org_remove_team_member", "{who} removed {member} from team {team}", "organization"),
    Kind("enable_team_sync", "{who} bound team {team} to a directory group", "organization"),
    Kind(
        "disable_team_sync",
        "{who} stopped synchronizing team {team} with its directory group",
        "organization",
    ),
    Kind("org_create_quota", "{who} set the quota of {namespace} to {limit_bytes} bytes", "organization"),
    Kind("org_change_quota", "{who} changed the quota of {namespace} to {limit_bytes} bytes", "organization"),
    Kind("org_delete_quota", "{who} removed the quota of {namespace}", "organization"),
    Kind(
        "org_create_quota_limit",
        "{who} added a {type} limit at {threshold_percent} % to the quota of {namespace}",
        "organization",
    ),
    Kind(
        "org_change_quota_limit",
        "{who} changed a limit of the quota of {namespace} to {type} at {threshold_percent} %",
        "organization",
    ),
    Kind(
        "org_delete_quota_limit",
        "{who} removed the {type} limit at {threshold_percent} % from the quota of {namespace}",
        "organization",
    ),
    Kind(
        "create_proxy_cache_config",
        "{who} made {namespace} a proxy cache of {upstream_registry}",
        "organization",
    ),
    Kind(
        "delete_proxy_cache_config",
        "{who} removed the proxy cache configuration of {namespace}",
        "organization",
    ),
    Kind("org_invite_team_member", "{who} invited {member} to team {team}", "organization"),
    Kind(
        "org_delete_team_member_invite",
        "{who} withdrew the invitation of {member} to team {team}",
        "organization",
    ),
    Kind(
        "org_team_member_invite_accepted", "{member} accepted the invitation to team {team}", "organization"
    ),
    Kind(
        "org_team_member_invite_declined", "{member} declined the invitation to team {team}", "organization"
    ),
    # Users
    Kind("account_create", "{who} created user {username}", "account"),
    Kind("user_change", "{who} changed {changed} of user {username}", "account"),
    Kind("user_change_name", "{who} renamed user {old_username} to {username}", "account"),
    Kind("user_delete", "{who} deleted user {username}", "account"),
    Kind(
        "account_convert", "{who} converted user {namespace} into an organization owned by {admin}", "account"
    ),
    Kind("user_generate_client_key", "{who} generated a client key", "account"),
    Kind("user_attach_external_login", "{who} linked the account to {service}", "account"),
    Kind("user_detach_external_login", "{who} removed the account's link to {service}", "account"),
    # Logins
    Kind("login_success", "{who} logged in with a {credential} credential", "login"),
    Kind("login_failure", "A login as {username} failed ({credential} credential)", "login"),
    # Tokens and OAuth applications
    Kind("create_app_specific_token", "{who} created app token {app_specific_token_title}", "token"),
    Kind("revoke_app_specific_token", "{who} revoked app token {app_specific_token_title}", "token"),
    Kind("create_token", "{who} created an OAuth access token for {scopes}", "token"),
    Kind("revoke_oauth_api_token", "{who} revoked an OAuth access token", "token"),
    Kind("create_application", "{who} created OAuth application {application_name}", "token"),
    Kind("update_application", "{who} changed OAuth application {application_name}", "token"),
    Kind("delete_application", "{who} deleted OAuth application {application_name}", "token"),
    Kind(
        "reset_application_client_secret",
        "{who} reset the client secret of OAuth application {application_name}",
        "token",
    ),
    # Usage logs
    Kind("export_logs_success", "{who}'s export of the usage logs was sent ({entries} entries)", "logs"),
    Kind("export_logs_failure", "{who}'s export of the usage logs failed: {error}", "logs"),
    # Superuser
    Kind("create_global_message", "{who} posted a {severity} message to every user", "superuser"),
    Kind("delete_global_message", "{who} removed a message to every user", "superuser"),
]

KINDS: dict[str, Kind] = {k.name: k for k in _ALL}
assert len(KINDS) == len(_ALL), "a kind is declared twice"
assert {k.category for k in _ALL} <= CATEGORIES.keys(), "a kind has an unknown category"


class _Details(dict[str, Any]):
    """An entry's details for a template: a missing one reads "None" (as `dict.get` would)."""

    def __missing__(self, key: str) -> None:
        return None


_FORMATTER = string.Formatter()


def _fields(who: str, m: dict[str, Any], when: Callable[[int], str]) -> _Details:
    details = _Details(
        {k: ", ".join(map(str, v)) if isinstance(v, list) else v for k, v in m.items()},
    )
    namespace, name = m.get("namespace"), m.get("repo")
    digest = str(m.get("manifest_digest") or "")
    expires = m.get("expiration_date")
    details.update(
        who=who,
        repo=f"{namespace}/{name}" if namespace and name else str(name or namespace or "a repository"),
        digest=str(m.get("manifest_digest"))[:19],
        tag_part=f"tag {m['tag']} of" if m.get("tag") else f"{digest[:19]} of" if digest else "",
        holder=f"team {m['team']}" if m.get("team") else str(m.get("username") or "someone"),
        expiry=f"to expire {when(expires * 1000)}" if isinstance(expires, int) else "to never expire",
        immutability="immutable" if m.get("immutable") else "mutable",
        reference=m.get("reference", ""),
        error=m.get("error", "error"),
    )
    return details


BUILD_TOKEN = "Repository Build Token"
"""The `token` a trigger build's entries name (Quay's name for the token its builds push with)."""


def _unnamed(metadata: dict[str, Any]) -> str:
    """Who did it when no account did: a trigger's build, else an anonymous user."""
    if metadata.get("token") == BUILD_TOKEN and metadata.get("build_uuid"):
        return f"Build {str(metadata['build_uuid'])[:8]} of a build trigger"
    return "An anonymous user"


def sentence(
    kind: str, performer: str | None, metadata: dict[str, Any], when: Callable[[int], str]
) -> str | None:
    """The entry as a sentence, or None for a kind not declared here (`when` writes a time given
    in ms since the epoch, for expiry dates)."""
    found = KINDS.get(kind)
    if found is None:
        return None
    who = performer or _unnamed(metadata)
    # An empty field (a push by digest has no tag) leaves two spaces.
    return _FORMATTER.vformat(found.sentence, (), _fields(who, metadata, when)).replace("  ", " ")


def listing() -> str:
    """The kinds in a sentence, for the API's description of its log endpoints."""
    names = ", ".join(f"`{k.name}`" for k in _ALL)
    return f"Each entry's `kind` is one of: {names} (docs/audit-logs.md says what each records)."


def markdown_table() -> str:
    """The kinds as docs/audit-logs.md lists them, grouped by category (a test keeps the two in step)."""
    out: list[str] = []
    for category, heading in CATEGORIES.items():
        out += [f"**{heading}**", "", "| kind | the web UI shows |", "|---|---|"]
        out += [f"| `{k.name}` | {k.sentence} |" for k in _ALL if k.category == category]
        out.append("")
    return "\n".join(out).rstrip("\n")


if __name__ == "__main__":
    print(markdown_table())
