"""What a git push webhook says, in Quay's trigger_metadata, and what a build of it is tagged.

Each service posts its own payload (custom git: Quay's own JSON; GitHub, GitLab and Bitbucket
their push events); each becomes the same metadata, as Quay's build notifications and
build_status_view carry it:

    {"commit": sha, "ref": "refs/heads/main", "default_branch": "main", "git_url": ...,
     "commit_info": {"url", "message", "date", "author": {"username", ...}, "committer": {...}}}

Then the trigger's configuration decides whether to build it (`branchtag_regex`, `[skip build]`)
and with which tags (the branch or tag name, `latest` on the default branch, tag templates).
Pure functions: nothing here reads the database or the network.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from wharf.core.errors import InvalidInput
from wharf.core.saved_regex import RegexRefused, compile_regex
from wharf.oci.names import is_valid_tag

if TYPE_CHECKING:
    import re2

CUSTOM_GIT = "custom-git"
GITHUB = "github"
GITLAB = "gitlab"
BITBUCKET = "bitbucket"
SERVICES = (CUSTOM_GIT, GITHUB, GITLAB, BITBUCKET)

_SHA = re.compile(r"^[0-9a-f]{7,64}$")
_ZERO = re.compile(r"^0+$")
_SKIP_MARKS = ("[skip build]", "[build skip]")


class InvalidPayload(Exception):
    """The body is not a push this service sends (the message says what is missing)."""


class SkipRequest(Exception):
    """A well-formed request that builds nothing: a ping, a deleted branch, a filtered ref,
    `[skip build]` in the commit message. Answered 200, as Quay does, so senders do not retry."""


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _commit(value: Any) -> str:
    sha = _str(value)
    if sha is None:
        raise InvalidPayload("the push names no commit")
    if _ZERO.match(sha):
        raise SkipRequest("the push deleted its ref: nothing to build")
    if not _SHA.match(sha):
        raise InvalidPayload("the commit is not a git SHA")
    return sha


# What git allows in a ref name (git check-ref-format), less what a refspec would read.
_REF = re.compile(r"^refs/[^\x00-\x20\x7f~^:?*\[\\]+$")


def _ref(value: Any) -> str:
    ref = _str(value)
    if ref is None or not _REF.match(ref) or ".." in ref or len(ref) > 1024:
        raise InvalidPayload("the push names no ref (refs/heads/... or refs/tags/...)")
    return ref


def _person(username: Any, url: Any = None, avatar: Any = None) -> dict[str, Any] | None:
    name = _str(username)
    if name is None:
        return None
    person: dict[str, Any] = {"username": name}
    if _str(url):
        person["url"] = url
    if _str(avatar):
        person["avatar_url"] = avatar
    return person


def _commit_info(url: Any, message: Any, date: Any, author: Any, committer: Any) -> dict[str, Any]:
    info: dict[str, Any] = {"url": _str(url) or "", "message": _str(message) or "", "date": _str(date) or ""}
    if author:
        info["author"] = author
    if committer:
        info["committer"] = committer
    return info


def custom_git(body: Any, git_url: str) -> dict[str, Any]:
    """Quay's custom-git payload: {commit, ref, default_branch, commit_info}."""
    if not isinstance(body, dict):
        raise InvalidPayload("the body must be a JSON object")
    metadata: dict[str, Any] = {
        "commit": _commit(body.get("commit")),
        "ref": _ref(body.get("ref")),
        "default_branch": _str(body.get("default_branch")),
        "git_url": git_url,
    }
    info = _dict(body.get("commit_info"))
    if info:
        metadata["commit_info"] = _commit_info(
            info.get("url"),
            info.get("message"),
            info.get("date"),
            _dict(info.get("author")) or None,
            _dict(info.get("committer")) or None,
        )
    return metadata


def github(body: Any, event: str | None, git_url: str) -> dict[str, Any]:
    """A GitHub `push` event (a `ping` builds nothing)."""
    if event == "ping":
        raise SkipRequest("GitHub's ping: the webhook works")
    if event not in (None, "push"):
        raise SkipRequest(f"GitHub event {event!r} is not a push")
    if not isinstance(body, dict):
        raise InvalidPayload("the body must be a JSON object")
    if body.get("deleted"):
        raise SkipRequest("the push deleted its ref: nothing to build")
    head = _dict(body.get("head_commit"))
    author, committer = _dict(head.get("author")), _dict(head.get("committer"))
    return {
        "commit": _commit(body.get("after") or head.get("id")),
        "ref": _ref(body.get("ref")),
        "default_branch": _str(_dict(body.get("repository")).get("default_branch")),
        "git_url": git_url,
        "commit_info": _commit_info(
            head.get("url"),
            head.get("message"),
            head.get("timestamp"),
            _person(author.get("username") or author.get("name")),
            _person(committer.get("username") or committer.get("name")),
        ),
    }


def gitlab(body: Any, event: str | None, git_url: str) -> dict[str, Any]:
    """A GitLab `Push Hook` or `Tag Push Hook`."""
    if event not in (None, "Push Hook", "Tag Push Hook"):
        raise SkipRequest(f"GitLab event {event!r} is not a push")
    if not isinstance(body, dict):
        raise InvalidPayload("the body must be a JSON object")
    sha = body.get("checkout_sha") or body.get("after")
    commit = _commit(sha)
    found = [c for c in body.get("commits") or [] if isinstance(c, dict) and c.get("id") == sha]
    head = found[0] if found else {}
    author = _dict(head.get("author"))
    return {
        "commit": commit,
        "ref": _ref(body.get("ref")),
        "default_branch": _str(_dict(body.get("project")).get("default_branch")),
        "git_url": git_url,
        "commit_info": _commit_info(
            head.get("url"),
            head.get("message"),
            head.get("timestamp"),
            _person(body.get("user_username") or author.get("name"), None, body.get("user_avatar")),
            None,
        ),
    }


def bitbucket(body: Any, event: str | None, git_url: str, default_branch: str | None) -> dict[str, Any]:
    """A Bitbucket `repo:push`: the last change's new head (its payload names no default
    branch: the trigger's configuration does)."""
    if event not in (None, "repo:push"):
        raise SkipRequest(f"Bitbucket event {event!r} is not a push")
    if not isinstance(body, dict):
        raise InvalidPayload("the body must be a JSON object")
    changes = _dict(body.get("push")).get("changes")
    if not isinstance(changes, list) or not changes:
        raise InvalidPayload("the push holds no changes")
    new = _dict(_dict(changes[-1]).get("new"))
    if not new:
        raise SkipRequest("the push deleted its ref: nothing to build")
    kind, name = new.get("type"), _str(new.get("name"))
    if kind not in ("branch", "tag") or name is None:
        raise InvalidPayload("the change names no branch or tag")
    target = _dict(new.get("target"))
    author = _dict(target.get("author"))
    user = _dict(author.get("user"))
    return {
        "commit": _commit(target.get("hash")),
        "ref": f"refs/{'heads' if kind == 'branch' else 'tags'}/{name}",
        "default_branch": default_branch,
        "git_url": git_url,
        "commit_info": _commit_info(
            _dict(_dict(target.get("links")).get("html")).get("href"),
            target.get("message"),
            target.get("date"),
            _person(user.get("nickname") or user.get("display_name") or author.get("raw")),
            None,
        ),
    }


# --- what to build, and its tags -----------------------------------------------------------------


def parsed_ref(ref: str) -> dict[str, str]:
    """{branch} | {tag} | {remote, branch}, as Quay's tag templates name a ref's parts."""
    parts = ref.split("/", 2)
    if len(parts) < 3:
        return {}
    if parts[1] == "heads":
        return {"branch": parts[2]}
    if parts[1] == "tags":
        return {"tag": parts[2]}
    if parts[1] == "remotes" and "/" in parts[2]:
        remote, branch = parts[2].split("/", 1)
        return {"remote": remote, "branch": branch}
    return {}


def check_wanted(metadata: dict[str, Any], config: dict[str, Any]) -> None:
    """SkipRequest when the commit asks not to be built, or its ref is not one the trigger's
    `branchtag_regex` builds (`heads/<branch>` or `tags/<tag>`, see ref_matches)."""
    message = str(_dict(metadata.get("commit_info")).get("message") or "")
    if any(mark in message for mark in _SKIP_MARKS):
        raise SkipRequest("the commit message asks to skip the build")
    regex = config.get("branchtag_regex")
    if regex:
        short = str(metadata["ref"]).split("/", 1)[-1]
        try:
            pattern = branchtag_pattern(str(regex))
        except InvalidInput as e:
            # saved before Wharf matched with RE2, which refuses it: build nothing rather than
            # every ref, until an admin fixes the pattern
            raise SkipRequest(f"{e}; update the trigger's configuration") from None
        if not ref_matches(pattern, short):
            raise SkipRequest(f"{short} does not match the trigger's branchtag_regex")


BRANCHTAG_MAX_LENGTH = 255


def branchtag_pattern(regex: str) -> re2._Regexp:
    """A trigger's `branchtag_regex`, compiled with RE2 (core/saved_regex.py: no admin's pattern
    can pin a thread); InvalidInput saying why RE2 refuses it."""
    if len(regex) > BRANCHTAG_MAX_LENGTH:
        raise InvalidInput(
            f"branchtag_regex must be a string of at most {BRANCHTAG_MAX_LENGTH} characters",
            field="branchtag_regex",
        )
    try:
        return compile_regex(regex)
    except RegexRefused as e:
        raise InvalidInput(
            f"branchtag_regex is not a regular expression Wharf can match: {e.reason} "
            "(RE2's syntax: no backreferences, no lookahead or lookbehind)",
            field="branchtag_regex",
        ) from None


def ref_matches(pattern: re2._Regexp, short: str) -> bool:
    """Whether `pattern` builds the ref `short` (`heads/<branch>`, `tags/<tag>`), as Quay decides:
    a match from the start that spans the whole ref. Not quite a full match: of alternatives, the
    first that matches counts (`heads/a|heads/ab` does not build `heads/ab`)."""
    found = pattern.match(short)
    return found is not None and found.end() == len(short)


_TEMPLATE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_.]*)\}")


def _context(metadata: dict[str, Any]) -> dict[str, Any]:
    info = _dict(metadata.get("commit_info"))
    commit = str(metadata.get("commit") or "")
    return {
        "commit": commit,
        "ref": metadata.get("ref"),
        "default_branch": metadata.get("default_branch"),
        "git_url": metadata.get("git_url"),
        "parsed_ref": parsed_ref(str(metadata.get("ref") or "")),
        "commit_info": {**info, "short_sha": commit[:7]},
        # The seed documents name the committer so (Quay's schema nests it under commit_info).
        "committer": {"properties": _dict(info.get("committer"))},
    }


def _lookup(context: dict[str, Any], path: str) -> str | None:
    value: Any = context
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value if isinstance(value, str) and value else None


def render_template(template: str, metadata: dict[str, Any]) -> str | None:
    """A tag template filled in from the metadata; None when it names a value the push lacks."""
    context = _context(metadata)
    missing = False

    def fill(m: re.Match[str]) -> str:
        nonlocal missing
        value = _lookup(context, m.group(1))
        if value is None:
            missing = True
            return ""
        return value

    rendered = _TEMPLATE.sub(fill, template)
    return None if missing else rendered


def as_tag(text: str) -> str | None:
    """A tag made of a branch name or a rendered template: characters a tag may not hold become
    `_` (`feature/x` is tagged `feature_x`); None if nothing usable is left."""
    tag = re.sub(r"[^A-Za-z0-9_.-]", "_", text)[:128].lstrip(".-")
    return tag if tag and is_valid_tag(tag) else None


def tags_for(metadata: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The tags a build of this push gets: the branch or tag name (`default_tag_from_ref`),
    `latest` on the default branch (`latest_for_default_branch`), each tag template; the short
    commit SHA when none applies."""
    wanted: list[str | None] = []
    ref = parsed_ref(str(metadata.get("ref") or ""))
    if config.get("default_tag_from_ref", True):
        name = ref.get("tag") or ref.get("branch")
        wanted.append(as_tag(name) if name else None)
    branch = ref.get("branch")
    if config.get("latest_for_default_branch", True) and branch and branch == metadata.get("default_branch"):
        wanted.append("latest")
    for template in config.get("tag_templates") or []:
        rendered = render_template(str(template), metadata)
        wanted.append(as_tag(rendered) if rendered else None)
    tags: list[str] = []
    for tag in wanted:
        if tag and tag not in tags:
            tags.append(tag)
    return tags[:50] or [str(metadata["commit"])[:7]]
