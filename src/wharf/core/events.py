"""The events notifications fire on: their names, levels, settings, payloads and summaries, as Quay
defines them (seed 003 chapter 5, reference/quay.md section 4).

A repository event's data always carries `repository`, `namespace`, `name`, `docker_url` and
`homepage`; each event adds its own fields. Namespace events (quota) carry the namespace instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from wharf.core.errors import InvalidInput

# Clair's severity order; vulnerability_found's `level` is an index into it.
SEVERITIES = ("Critical", "High", "Medium", "Low", "Negligible", "Unknown")

Data = dict[str, Any]


@dataclass(frozen=True, slots=True)
class EventKind:
    name: str
    level: str  # primary | info | success | warning | error: the colour of Slack messages and the UI
    summary: Callable[[Data], str]
    sample: Callable[[], Data]
    namespace_event: bool = False

    def matches(self, event_config: Data, data: Data) -> bool:
        """Whether a notification with this event_config wants this occurrence."""
        return _MATCHERS.get(self.name, _always)(event_config, data)

    def check_config(self, event_config: Data) -> None:
        _CONFIG_CHECKS.get(self.name, _no_check)(event_config)


def repository_data(origin: str | None, namespace: str, name: str, **extra: Any) -> Data:
    """The fields every repository event carries, then the event's own."""
    base = origin or "http://localhost"
    host = urlsplit(base).netloc or "localhost"
    return {
        "repository": f"{namespace}/{name}",
        "namespace": namespace,
        "name": name,
        "docker_url": f"{host}/{namespace}/{name}",
        "homepage": f"{base}/repository/{namespace}/{name}",
        **extra,
    }


def namespace_data(origin: str | None, namespace: str, **extra: Any) -> Data:
    base = origin or "http://localhost"
    return {"namespace": namespace, "homepage": f"{base}/organization/{namespace}", **extra}


def _always(_config: Data, _data: Data) -> bool:
    return True


def _no_check(_config: Data) -> None:
    return None


def _ref_matches(config: Data, data: Data) -> bool:
    # A build notification with a ref-regex fires only for builds of a matching git ref; a build
    # without a ref (an upload) never matches one.
    pattern = config.get("ref-regex")
    if not pattern:
        return True
    ref = (data.get("trigger_metadata") or {}).get("ref")
    return isinstance(ref, str) and re.fullmatch(str(pattern), ref) is not None


def _check_ref_regex(config: Data) -> None:
    pattern = config.get("ref-regex")
    if pattern is None:
        return
    try:
        re.compile(str(pattern))
    except re.error as e:
        raise InvalidInput(f"ref-regex is not a valid regular expression: {e}") from None


def _severity_matches(config: Data, data: Data) -> bool:
    wanted = int(config.get("level", len(SEVERITIES) - 1))
    priority = (data.get("vulnerability") or {}).get("priority", "Unknown")
    index = SEVERITIES.index(priority) if priority in SEVERITIES else len(SEVERITIES) - 1
    return index <= wanted


def _check_level(config: Data) -> None:
    level = config.get("level")
    if level is None:
        return
    if isinstance(level, str) and level in SEVERITIES:
        config["level"] = SEVERITIES.index(level)
        return
    try:
        index = int(level)
    except (TypeError, ValueError):
        index = -1
    if not 0 <= index < len(SEVERITIES):
        raise InvalidInput(f"level must be 0-5 or one of {', '.join(SEVERITIES)}")
    config["level"] = index


def _check_days(config: Data) -> None:
    days = config.get("days")
    if not isinstance(days, int) or isinstance(days, bool) or not 1 <= days <= 365:
        raise InvalidInput("repo_image_expiry needs eventConfig.days, a whole number of days from 1 to 365")


_MATCHERS: dict[str, Callable[[Data, Data], bool]] = {
    "vulnerability_found": _severity_matches,
    **{
        e: _ref_matches
        for e in ("build_queued", "build_start", "build_success", "build_failure", "build_cancelled")
    },
}
_CONFIG_CHECKS: dict[str, Callable[[Data], None]] = {
    "vulnerability_found": _check_level,
    "repo_image_expiry": _check_days,
    **{
        e: _check_ref_regex
        for e in ("build_queued", "build_start", "build_success", "build_failure", "build_cancelled")
    },
}

_SAMPLE_ORIGIN = "https://wharf.example.com"


def _sample_repo(**extra: Any) -> Callable[[], Data]:
    return lambda: repository_data(_SAMPLE_ORIGIN, "mynamespace", "repository", **extra)


_TRIGGER_METADATA = {
    "default_branch": "master",
    "ref": "refs/heads/somebranch",
    "commit": "42d4a62c53350993ea41069e9f2cfdefb0df097d",
    "commit_info": {
        "url": "http://path/to/the/commit",
        "message": "Some commit message",
        "date": 2395748365,
        "author": {"username": "fakeauthor", "url": "http://path/to/fake/author/in/scm", "avatar_url": ""},
    },
}
_BUILD = {
    "build_id": "build_uuid",
    "build_name": "some-fake-build",
    "docker_tags": ["latest", "foo", "bar"],
    "trigger_kind": "github",
    "trigger_id": "some-id-here",
    "trigger_metadata": _TRIGGER_METADATA,
}


def _build_summary(verb: str) -> Callable[[Data], str]:
    return lambda d: f"Build {verb} for repository {d['repository']}"


def _vulnerability_summary(d: Data) -> str:
    vuln = d.get("vulnerability") or {}
    priority, name = vuln.get("priority", "Unknown"), vuln.get("id", "")
    return f"A {priority} vulnerability {name} was found in {d['repository']}"


def _quota_summary(kind: str) -> Callable[[Data], str]:
    return lambda d: (
        f"Quota {kind} for namespace {d['namespace']}: {d.get('usage_percent', '?')}% of "
        f"{d.get('limit_bytes_formatted', 'the limit')} used"
    )


def _quota_sample() -> Data:
    return namespace_data(
        _SAMPLE_ORIGIN,
        "mynamespace",
        threshold_percent=80,
        usage_bytes=858993459,
        limit_bytes=1073741824,
        usage_percent=80.0,
        usage_bytes_formatted="819.2 MiB",
        limit_bytes_formatted="1.0 GiB",
    )


_KINDS = [
    EventKind(
        "repo_push",
        "primary",
        lambda d: f"Repository {d['repository']} updated",
        _sample_repo(updated_tags=["latest"], pruned_image_count=0),
    ),
    EventKind(
        "build_queued",
        "info",
        _build_summary("queued"),
        _sample_repo(is_manual=False, **_BUILD),
    ),
    EventKind("build_start", "info", _build_summary("started"), _sample_repo(**_BUILD)),
    EventKind(
        "build_success",
        "success",
        _build_summary("succeeded"),
        _sample_repo(visibility="public", image_id="1245657346", **_BUILD),
    ),
    EventKind(
        "build_failure",
        "error",
        _build_summary("failed"),
        _sample_repo(error_message="This is the reason the build failed", **_BUILD),
    ),
    EventKind("build_cancelled", "info", _build_summary("cancelled"), _sample_repo(**_BUILD)),
    EventKind(
        "vulnerability_found",
        "warning",
        _vulnerability_summary,
        _sample_repo(
            tags=["latest", "othertag"],
            vulnerability={
                "id": "CVE-1234-5678",
                "description": "This is a bad vulnerability",
                "link": "http://url/to/vuln/info",
                "priority": "Critical",
                "has_fix": True,
            },
        ),
    ),
    EventKind(
        "repo_mirror_sync_started",
        "info",
        lambda d: f"Repository mirror sync started for {d['repository']}",
        _sample_repo(message="TEST NOTIFICATION"),
    ),
    EventKind(
        "repo_mirror_sync_success",
        "success",
        lambda d: f"Repository mirror sync succeeded for {d['repository']}",
        _sample_repo(message="TEST NOTIFICATION"),
    ),
    EventKind(
        "repo_mirror_sync_failed",
        "error",
        lambda d: f"Repository mirror sync failed for {d['repository']}",
        _sample_repo(message="TEST NOTIFICATION"),
    ),
    EventKind(
        "repo_image_expiry",
        "info",
        lambda d: f"Tags of {d['repository']} expire in {d.get('expiring_in', 'a few days')}",
        _sample_repo(tags=["latest", "v1"], expiring_in="1 days"),
    ),
    EventKind("quota_warning", "warning", _quota_summary("warning"), _quota_sample, namespace_event=True),
    EventKind("quota_error", "error", _quota_summary("exceeded"), _quota_sample, namespace_event=True),
]

EVENTS: dict[str, EventKind] = {k.name: k for k in _KINDS}


def vulnerability_level(priority: str) -> str:
    """Clair's severity mapped to a message level: Critical is an error, High and Medium warnings."""
    if priority == "Critical":
        return "error"
    if priority in ("High", "Medium"):
        return "warning"
    return "info"


def level_of(event: str, data: Data) -> str:
    if event == "vulnerability_found":
        return vulnerability_level((data.get("vulnerability") or {}).get("priority", "Unknown"))
    return EVENTS[event].level
