"""Event definitions: the seeds' payload shapes, matching rules and webhook signatures."""

from __future__ import annotations

import pytest

from wharf.core import events
from wharf.core.errors import InvalidInput
from wharf.integrations.notification_methods import sign, verify

REPO_FIELDS = {"repository", "namespace", "name", "docker_url", "homepage"}


def test_every_repository_sample_has_the_common_fields() -> None:
    for kind in events.EVENTS.values():
        sample = kind.sample()
        if kind.namespace_event:
            assert {"namespace", "homepage", "threshold_percent", "usage_bytes", "limit_bytes"} <= set(sample)
        else:
            assert set(sample) >= REPO_FIELDS, kind.name
        assert kind.summary(sample)


def test_push_sample_is_seed_003() -> None:
    sample = events.EVENTS["repo_push"].sample()
    assert sample["updated_tags"] == ["latest"] and sample["repository"] == "mynamespace/repository"


def test_repository_data_uses_the_origin() -> None:
    data = events.repository_data("https://r.example.com:8443", "acme", "app", updated_tags=["v1"])
    assert data["docker_url"] == "r.example.com:8443/acme/app"
    assert data["homepage"] == "https://r.example.com:8443/repository/acme/app"


@pytest.mark.parametrize(
    ("level", "priority", "fires"),
    [(0, "Critical", True), (0, "High", False), (1, "High", True), (2, "Low", False), (5, "Unknown", True)],
)
def test_vulnerability_level(level: int, priority: str, fires: bool) -> None:
    kind = events.EVENTS["vulnerability_found"]
    assert kind.matches({"level": level}, {"vulnerability": {"priority": priority}}) is fires


def test_severity_names_are_accepted_as_levels() -> None:
    config: dict[str, object] = {"level": "High"}
    events.EVENTS["vulnerability_found"].check_config(config)
    assert config == {"level": 1}
    with pytest.raises(InvalidInput):
        events.EVENTS["vulnerability_found"].check_config({"level": "Scary"})


def test_build_ref_regex() -> None:
    kind = events.EVENTS["build_success"]
    git = {"trigger_metadata": {"ref": "refs/heads/main"}}
    assert kind.matches({"ref-regex": "refs/heads/.*"}, git)
    assert not kind.matches({"ref-regex": "refs/tags/.*"}, git)
    assert not kind.matches({"ref-regex": ".*"}, {})  # an upload build has no ref
    assert kind.matches({}, {})


def test_clair_severity_levels() -> None:
    assert [events.vulnerability_level(p) for p in events.SEVERITIES] == [
        "error", "warning", "warning", "info", "info", "info",
    ]  # fmt: skip


def test_signature_round_trip_and_replay() -> None:
    body = b'{"a":1}'
    header = sign("key", 1_000_000, body)
    assert verify("key", header, body, now=1_000_100)
    assert not verify("key", header, body, now=1_000_000 + 301)  # too old
    assert not verify("other", header, body, now=1_000_100)
    assert not verify("key", header, body + b"x", now=1_000_100)
    assert not verify("key", "garbage", body, now=1_000_100)
