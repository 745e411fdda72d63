"""Reading GITLAB_TRIGGER_CONFIG and BITBUCKET_TRIGGER_CONFIG, and the Link pagination GitHub's
and GitLab's lists use."""

from __future__ import annotations

from typing import Any

import pytest

from wharf.config import load_settings
from wharf.integrations import bitbucket_repos, gitlab_repos, outbound
from wharf.integrations.bitbucket_repos import BitbucketConfigError
from wharf.integrations.gitlab_repos import GitLabConfigError
from wharf.integrations.oauth_grant import Grant


def gitlab(**block: Any) -> gitlab_repos.GitLabApp | None:
    settings = load_settings(None, {"FEATURE_GITLAB_BUILD": True, "GITLAB_TRIGGER_CONFIG": block}, environ={})
    return gitlab_repos.application(settings)


def test_gitlab_trigger_config() -> None:
    app = gitlab(CLIENT_ID="a", CLIENT_SECRET="s")
    assert app is not None and app.api == "https://gitlab.com/api/v4/"
    app = gitlab(GITLAB_ENDPOINT="https://git.example.org/", CLIENT_ID="a", CLIENT_SECRET="s")
    assert app is not None and app.endpoint == "https://git.example.org"
    with pytest.raises(GitLabConfigError, match="CLIENT_SECRET"):
        gitlab(CLIENT_ID="a")
    with pytest.raises(GitLabConfigError, match="https://"):
        gitlab(GITLAB_ENDPOINT="http://git.example.org", CLIENT_ID="a", CLIENT_SECRET="s")
    off = load_settings(None, {"GITLAB_TRIGGER_CONFIG": {"CLIENT_ID": "a"}}, environ={})
    assert gitlab_repos.application(off) is None


def test_a_grant_round_trips_and_expires_a_minute_early() -> None:
    grant = Grant("t", "r", 100_000)
    assert Grant.loads(grant.dumps()) == grant
    assert not grant.expired(100_000 - 61_000) and grant.expired(100_000 - 59_000)
    assert not Grant("t", None, None).expired(10**15)
    assert Grant.loads("not json") is None and Grant.loads('{"a": 1}') is None


def test_next_links_are_followed_only_on_the_apis_origin() -> None:
    link = '<https://api.example.org/x?page=1>; rel="prev", <https://api.example.org/x?page=3>; rel="next"'
    assert outbound.next_link(link) == "https://api.example.org/x?page=3"
    assert outbound.next_link('<https://api.example.org/x?page=9>; rel="last"') is None
    assert outbound.next_link(None) is None
    base = "https://api.example.org/api/v4/"
    assert outbound.same_origin("https://API.example.org/other", base) == "https://API.example.org/other"
    assert outbound.same_origin("https://evil.example.org/x", base) is None
    assert outbound.same_origin("http://api.example.org/x", base) is None


def bitbucket(**block: Any) -> bitbucket_repos.BitbucketApp | None:
    settings = load_settings(
        None, {"FEATURE_BITBUCKET_BUILD": True, "BITBUCKET_TRIGGER_CONFIG": block}, environ={}
    )
    return bitbucket_repos.application(settings)


def test_bitbucket_trigger_config_keeps_quays_consumer_keys() -> None:
    app = bitbucket(CONSUMER_KEY="k", CONSUMER_SECRET="s")
    assert app is not None and (app.client_id, app.client_secret) == ("k", "s")
    assert (app.endpoint, app.api) == ("https://bitbucket.org", "https://api.bitbucket.org/2.0/")
    with pytest.raises(BitbucketConfigError, match="CONSUMER_SECRET"):
        bitbucket(CONSUMER_KEY="k")
    with pytest.raises(BitbucketConfigError, match="API_ENDPOINT"):
        bitbucket(CONSUMER_KEY="k", CONSUMER_SECRET="s", API_ENDPOINT="http://10.0.0.1/2.0")
