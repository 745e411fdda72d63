"""Reading Quay's *_LOGIN_CONFIG blocks into login providers."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wharf.config import load_settings
from wharf.integrations import github_repos, oidc_login
from wharf.integrations.oidc_login import LoginConfigError
from wharf.runtime import Runtime

BLOCK = {"OIDC_SERVER": "https://sso.example.org/realms/r/", "CLIENT_ID": "wharf", "CLIENT_SECRET": "s"}


def providers(**config: Any) -> dict[str, oidc_login.LoginService]:
    return oidc_login.services(load_settings(None, config, environ={}))


def test_each_login_config_is_a_provider_named_by_its_prefix() -> None:
    found = providers(
        KEYCLOAK_LOGIN_CONFIG={**BLOCK, "SERVICE_NAME": "Company SSO", "LOGIN_SCOPES": ["email"]},
        DEX_LOGIN_CONFIG={
            **BLOCK,
            "VERIFIED_EMAIL_CLAIM_NAME": "mail",
            "PREFERRED_GROUP_CLAIM_NAME": "groups",
        },
        GITHUB_LOGIN_CONFIG={"CLIENT_ID": "x", "CLIENT_SECRET": "y"},  # off: no FEATURE_GITHUB_LOGIN
    )
    assert list(found) == ["keycloak", "dex"]
    keycloak, dex = found["keycloak"], found["dex"]
    assert keycloak.name == "Company SSO" and dex.name == "Dex"
    assert keycloak.issuer == "https://sso.example.org/realms/r"
    assert keycloak.scopes == ("openid", "email")
    assert keycloak.username_claim == "preferred_username"
    assert (keycloak.email_claim, keycloak.verified_claim) == ("email", "email_verified")
    assert (dex.email_claim, dex.verified_claim, dex.group_claim) == ("mail", None, "groups")
    assert providers() == {}


@pytest.mark.parametrize(
    ("key", "block", "message"),
    [
        ("LDAP_LOGIN_CONFIG", BLOCK, "cannot name a login provider"),
        ("KEYCLOAK_LOGIN_CONFIG", {"OIDC_SERVER": "https://x"}, "needs CLIENT_ID, CLIENT_SECRET"),
        ("KEYCLOAK_LOGIN_CONFIG", {**BLOCK, "OIDC_SERVER": "http://sso.example.org"}, "must be an https://"),
        ("KEYCLOAK_LOGIN_CONFIG", "https://sso.example.org", "must be a mapping"),
    ],
)
def test_unusable_blocks_are_refused(key: str, block: Any, message: str) -> None:
    with pytest.raises(LoginConfigError, match=message):
        providers(**{key: block})


def test_http_only_when_debugging() -> None:
    found = providers(LAB_LOGIN_CONFIG={**BLOCK, "OIDC_SERVER": "http://127.0.0.1:5556", "DEBUGGING": True})
    assert found["lab"].issuer == "http://127.0.0.1:5556"


def test_pkce_challenge_is_s256() -> None:
    # RFC 7636, appendix B
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert oidc_login.pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


def test_a_bad_block_stops_the_start(tmp_path: Path) -> None:
    settings = load_settings(None, {"DATA_DIR": tmp_path, "JWT_LOGIN_CONFIG": BLOCK}, environ={})
    with pytest.raises(LoginConfigError, match="JWT_LOGIN_CONFIG"):
        Runtime.create(settings)


def test_google_is_its_openid_connect_issuer_when_the_feature_is_on() -> None:
    google = {"CLIENT_ID": "1234.apps.googleusercontent.com", "CLIENT_SECRET": "g"}
    assert providers(GOOGLE_LOGIN_CONFIG=google) == {}
    found = providers(GOOGLE_LOGIN_CONFIG=google, FEATURE_GOOGLE_LOGIN=True)["google"]
    assert (found.issuer, found.name, found.client_id) == (
        "https://accounts.google.com",
        "Google",
        google["CLIENT_ID"],
    )
    assert found.scopes == ("openid", "email", "profile")


def test_github_is_an_oauth_login_with_quays_endpoints() -> None:
    block = {"CLIENT_ID": "Iv1.x", "CLIENT_SECRET": "y"}
    github = providers(FEATURE_GITHUB_LOGIN=True, GITHUB_LOGIN_CONFIG=block)["github"]
    assert (github.kind, github.name, github.issuer) == ("github", "GitHub", "https://github.com")
    assert github.api == "https://api.github.com/"
    assert github.scopes == ("user:email",) and github.allowed_orgs is None

    enterprise = providers(
        FEATURE_GITHUB_LOGIN=True,
        GITHUB_LOGIN_CONFIG={
            **block,
            "GITHUB_ENDPOINT": "https://ghe.example.org/",
            "ORG_RESTRICT": True,
            "ALLOWED_ORGANIZATIONS": ["Platform", "SRE"],
        },
    )["github"]
    assert (enterprise.name, enterprise.api) == ("GitHub Enterprise", "https://ghe.example.org/api/v3/")
    assert enterprise.scopes == ("user:email", "read:org")
    assert enterprise.allowed_orgs == frozenset({"platform", "sre"})
    # ORG_RESTRICT without a list restricts nothing, as in Quay
    loose = providers(FEATURE_GITHUB_LOGIN=True, GITHUB_LOGIN_CONFIG={**block, "ORG_RESTRICT": True})
    assert loose["github"].allowed_orgs is None
    with pytest.raises(LoginConfigError, match="CLIENT_SECRET"):
        providers(FEATURE_GITHUB_LOGIN=True, GITHUB_LOGIN_CONFIG={"CLIENT_ID": "x"})
    with pytest.raises(LoginConfigError, match="https"):
        providers(
            FEATURE_GITHUB_LOGIN=True, GITHUB_LOGIN_CONFIG={**block, "GITHUB_ENDPOINT": "http://g.example"}
        )


def test_github_trigger_application_only_with_its_feature(tmp_path: Path) -> None:
    block = {"GITHUB_ENDPOINT": "https://ghe.example.com/", "CLIENT_ID": "id", "CLIENT_SECRET": "s"}
    off = load_settings(None, {"GITHUB_TRIGGER_CONFIG": block}, environ={})
    assert github_repos.application(off) is None
    on = load_settings(None, {"GITHUB_TRIGGER_CONFIG": block, "FEATURE_GITHUB_BUILD": True}, environ={})
    app = github_repos.application(on)
    assert (
        app is not None
        and app.api == "https://ghe.example.com/api/v3/"
        and app.issuer == "https://ghe.example.com"
    )
    bad = {"DATA_DIR": tmp_path, "FEATURE_GITHUB_BUILD": True, "GITHUB_TRIGGER_CONFIG": {"CLIENT_ID": "id"}}
    with pytest.raises(LoginConfigError, match="GITHUB_TRIGGER_CONFIG needs CLIENT_SECRET"):
        Runtime.create(load_settings(None, bad, environ={}))
