"""Push payloads of each service become Quay's trigger_metadata; the ref filter, `[skip build]`
and the tag templates of the seed documents; git remotes a build may clone."""

from __future__ import annotations

import ipaddress
import stat
from pathlib import Path
from typing import Any

import pytest

from wharf.core import trigger_payloads as tp
from wharf.core.errors import InvalidInput
from wharf.integrations import git_files, git_remote
from wharf.jobs import build_source
from wharf.services import trigger_common

SHA = "0123456789abcdef0123456789abcdef01234567"
URL = "git@git.example.com:team/app.git"


def _meta(ref: str = "refs/heads/main", message: str = "fix it", **extra: Any) -> dict[str, Any]:
    body = {
        "commit": SHA,
        "ref": ref,
        "default_branch": "main",
        "commit_info": {
            "url": "https://git.example.com/c/1",
            "message": message,
            "date": "2026-12-07T12:00:00Z",
            "author": {"username": "ann"},
            "committer": {"username": "bob"},
        },
        **extra,
    }
    return tp.custom_git(body, URL)


def test_custom_git_payload_is_quays_metadata() -> None:
    meta = _meta()
    assert meta["commit"] == SHA and meta["ref"] == "refs/heads/main" and meta["git_url"] == URL
    assert meta["default_branch"] == "main"
    assert meta["commit_info"]["author"] == {"username": "ann"}
    bads: list[Any] = [
        {"ref": "refs/heads/main"},
        {"commit": "nothex!", "ref": "refs/heads/x"},
        {"commit": SHA},
        {"commit": SHA, "ref": "refs/heads/main:refs/heads/x"},
        {"commit": SHA, "ref": "refs/heads/../x"},
        [],
    ]
    for bad in bads:
        with pytest.raises(tp.InvalidPayload):
            tp.custom_git(bad, URL)
    with pytest.raises(tp.SkipRequest):
        tp.custom_git({"commit": "0" * 40, "ref": "refs/heads/gone"}, URL)


def test_github_gitlab_bitbucket_pushes() -> None:
    github = {
        "ref": "refs/tags/v1.2",
        "after": SHA,
        "repository": {"default_branch": "main"},
        "head_commit": {
            "id": SHA,
            "message": "release",
            "timestamp": "t",
            "url": "u",
            "author": {"username": "ann"},
        },
    }
    meta = tp.github(github, "push", URL)
    assert (meta["commit"], meta["ref"], meta["default_branch"]) == (SHA, "refs/tags/v1.2", "main")
    assert meta["commit_info"]["message"] == "release" and meta["commit_info"]["author"]["username"] == "ann"
    with pytest.raises(tp.SkipRequest):
        tp.github({"zen": "hi"}, "ping", URL)
    with pytest.raises(tp.SkipRequest):
        tp.github({**github, "deleted": True}, "push", URL)

    gitlab = {
        "ref": "refs/heads/main",
        "checkout_sha": SHA,
        "user_username": "ann",
        "project": {"default_branch": "main"},
        "commits": [{"id": SHA, "message": "gl", "timestamp": "t", "url": "u", "author": {"name": "Ann"}}],
    }
    meta = tp.gitlab(gitlab, "Push Hook", URL)
    assert meta["commit_info"]["message"] == "gl" and meta["commit_info"]["author"]["username"] == "ann"

    bitbucket = {
        "push": {
            "changes": [
                {
                    "new": {
                        "type": "branch",
                        "name": "dev",
                        "target": {"hash": SHA, "message": "bb", "date": "t", "author": {"raw": "Ann <a@x>"}},
                    }
                }
            ]
        }
    }
    meta = tp.bitbucket(bitbucket, "repo:push", URL, "main")
    assert (meta["ref"], meta["default_branch"], meta["commit_info"]["message"]) == (
        "refs/heads/dev",
        "main",
        "bb",
    )
    with pytest.raises(tp.SkipRequest):
        tp.bitbucket({"push": {"changes": [{"new": None}]}}, "repo:push", URL, None)


def test_skip_marks_and_ref_filter() -> None:
    for message in ("wip [skip build]", "[build skip] docs"):
        with pytest.raises(tp.SkipRequest):
            tp.check_wanted(_meta(message=message), {})
    tp.check_wanted(_meta(), {"branchtag_regex": "heads/(main|release-.*)"})
    tp.check_wanted(_meta("refs/tags/v1"), {"branchtag_regex": "tags/v.*"})
    with pytest.raises(tp.SkipRequest):
        tp.check_wanted(_meta("refs/heads/feature"), {"branchtag_regex": "heads/main"})


def test_the_ref_filter_must_span_the_whole_ref_as_in_quay() -> None:
    for regex, ref in (
        ("heads/main", "refs/heads/main-old"),  # a prefix is not enough
        ("tags/v", "refs/tags/v1"),
        ("main", "refs/heads/main"),  # nor a part
        # Quay's quirk: a match from the start must reach the end; `heads/a` matches first
        ("heads/a|heads/ab", "refs/heads/ab"),
    ):
        with pytest.raises(tp.SkipRequest, match="does not match"):
            tp.check_wanted(_meta(ref), {"branchtag_regex": regex})
    tp.check_wanted(_meta("refs/heads/ab"), {"branchtag_regex": "heads/ab|heads/a"})
    tp.check_wanted(_meta("refs/heads/release/1.2"), {"branchtag_regex": "heads/release/.*"})
    assert trigger_common.matching_branches(
        ["main", "main-old", "release-1", "dev"], {"branchtag_regex": "heads/(main|release-.*)"}
    ) == ["main", "release-1"]
    assert trigger_common.matching_branches(["main"], {}) == ["main"]


def test_the_ref_filter_runs_in_linear_time_with_re2() -> None:
    # Python's `re` backtracks through 2**30 ways of splitting the a's before giving up on this
    # one (minutes); RE2 answers in one pass over the ref.
    ref = "refs/heads/" + "a" * 30
    with pytest.raises(tp.SkipRequest, match="does not match"):
        tp.check_wanted(_meta(ref), {"branchtag_regex": "heads/(a+)+b"})
    assert trigger_common.matching_branches(["a" * 30], {"branchtag_regex": "heads/(a|a)*b"}) == []


@pytest.mark.parametrize(
    ("regex", "why"),
    [
        (r"heads/(main)\1", "invalid escape sequence"),  # a backreference
        ("heads/(?!wip).*", "invalid perl operator: (?!"),  # lookahead
        ("(?<=heads/)main", "invalid perl operator: (?<="),  # lookbehind
        ("heads/(main", "missing )"),
    ],
)
def test_a_ref_filter_re2_cannot_run_is_refused_saying_why(regex: str, why: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        tp.branchtag_pattern(regex)
    assert refused.value.field == "branchtag_regex"
    assert why in str(refused.value) and "no backreferences, no lookahead or lookbehind" in str(refused.value)
    # one saved before Wharf used RE2 builds nothing (rather than every ref) until it is fixed
    with pytest.raises(tp.SkipRequest, match="update the trigger's configuration"):
        tp.check_wanted(_meta(), {"branchtag_regex": regex})
    assert trigger_common.matching_branches(["main"], {"branchtag_regex": regex}) == []


def test_a_ref_filter_is_at_most_255_characters() -> None:
    with pytest.raises(InvalidInput, match="at most 255 characters"):
        tp.branchtag_pattern("a" * 256)
    tp.branchtag_pattern("a" * 255)


def test_tags_from_ref_default_branch_and_templates() -> None:
    assert tp.tags_for(_meta(), {}) == ["main", "latest"]
    assert tp.tags_for(_meta("refs/heads/feature/x"), {}) == ["feature_x"]
    assert tp.tags_for(_meta("refs/tags/v1.0"), {}) == ["v1.0"]
    config = {
        "default_tag_from_ref": False,
        "latest_for_default_branch": False,
        "tag_templates": [
            "${commit_info.short_sha}",
            "${parsed_ref.branch}-${commit_info.author.username}",
            "${parsed_ref.tag}",  # no tag on a branch push: no tag from it
            "${committer.properties.username}",
        ],
    }
    assert tp.tags_for(_meta(), config) == [SHA[:7], "main-ann", "bob"]
    assert tp.tags_for(_meta(), {"default_tag_from_ref": False, "latest_for_default_branch": False}) == [
        SHA[:7]
    ]


def test_git_remotes() -> None:
    assert git_remote.parse("git@github.com:o/r.git").transport == "ssh"
    assert git_remote.parse("ssh://git@h.example:2222/o/r").check_url == "https://h.example:2222/"
    assert git_remote.parse("https://h.example/o/r.git").check_url == "https://h.example/"
    for bad in (
        "file:///etc",
        "/srv/repo",
        "git://h/o/r",
        "ext::sh -c x",
        "-uupload-pack=x:y",
        "https://h/",
        "https://u:secret@h/o/r.git",
        "ssh://h;reboot/o/r",
        "u@h$(x):o/r",
    ):
        with pytest.raises(git_remote.BadRemote):
            git_remote.parse(bad)


def test_git_runs_pinned_with_the_deploy_key(tmp_path: Path) -> None:
    """Without an sshd on the test machines, the SSH clone is checked as far as what git is given:
    the key (owner-only), a fresh known_hosts, the address the guard saw; https pinned the same."""
    ip = ipaddress.ip_address("203.0.113.5")
    ssh = git_remote.parse("ssh://git@git.example.com:2222/team/app.git")
    env = build_source.git_env(tmp_path, ssh, [ip], "-----BEGIN OPENSSH PRIVATE KEY-----\nx\n")
    key = tmp_path / "ssh" / "id"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    command = env["GIT_SSH_COMMAND"]
    assert f"-i {key}" in command and "HostName=203.0.113.5" in command and "BatchMode=yes" in command
    assert env["GIT_ALLOW_PROTOCOL"] == "ssh" and env["GIT_TERMINAL_PROMPT"] == "0"
    assert build_source.git_config(ssh, [ip])[-1] == "core.symlinks=true"
    https = git_remote.parse("https://git.example.com/team/app.git")
    assert "http.curloptResolve=git.example.com:443:203.0.113.5" in build_source.git_config(https, [ip])
    assert "GIT_SSH_COMMAND" not in build_source.git_env(tmp_path, https, [ip], None)


ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIH3A3QP8fpcMhN18yqYybDObBw/ErBrilrFeJ36dtERo"


def test_pinned_host_keys_are_read_from_what_ssh_keyscan_prints() -> None:
    text = f"""# git.example.com:22 SSH-2.0-OpenSSH_9.2
git.example.com {ED25519}
[git.example.com]:2222 {ED25519} a comment

|1|hashed+host=|salt= {ED25519}
{ED25519}
"""
    assert git_files.host_keys(text) == [ED25519] * 4
    assert git_files.host_keys("") == []
    for bad, why in (
        (f"@cert-authority *.example.com {ED25519}", "markers"),
        ("git.example.com ssh-dss AAAAB3NzaC1kc3M=", "holds no SSH host key"),
        ("git.example.com ssh-ed25519", "holds no SSH host key"),
        ("git.example.com ssh-ed25519 not*base64", "not base64"),
        (f"git.example.com ssh-rsa {ED25519.split()[1]}", "not an ssh-rsa key"),
        ("\n".join([ED25519] * 21), "at most 20"),
    ):
        with pytest.raises(ValueError, match=why):
            git_files.host_keys(bad)


def test_git_over_ssh_accepts_only_the_pinned_host_keys(tmp_path: Path) -> None:
    ip = ipaddress.ip_address("203.0.113.5")
    ssh = git_remote.parse("ssh://git@git.example.com:2222/team/app.git")
    command = build_source.git_env(tmp_path, ssh, [ip], None, [ED25519])["GIT_SSH_COMMAND"]
    assert "StrictHostKeyChecking=yes" in command and "HostKeyAlias=git.example.com" in command
    assert (tmp_path / "ssh" / "known_hosts").read_text() == f"git.example.com {ED25519}\n"
    command = build_source.git_env(tmp_path, ssh, [ip], None)["GIT_SSH_COMMAND"]
    assert "StrictHostKeyChecking=accept-new" in command
    assert (tmp_path / "ssh" / "known_hosts").read_text() == ""


def test_a_checkout_may_not_link_out_nor_be_too_big(tmp_path: Path) -> None:
    (tmp_path / "Dockerfile").write_text("FROM scratch\n")
    build_source.check_tree(tmp_path, 1000, 10)
    with pytest.raises(build_source.SourceRefused):
        build_source.check_tree(tmp_path, 5, 10)
    (tmp_path / "out").symlink_to("/etc")
    with pytest.raises(build_source.SourceRefused, match="leaves the repository"):
        build_source.check_tree(tmp_path, 1000, 10)
