from __future__ import annotations

from pathlib import Path

import pytest

from wharf.config import ConfigError, load_settings


def test_defaults() -> None:
    s = load_settings(None, environ={})
    assert Path("./data") == s.DATA_DIR
    assert s.db_uri.startswith("sqlite+aiosqlite:///") and s.db_uri.endswith("data/wharf.db")
    assert s.FEATURE_ANONYMOUS_ACCESS is True


def test_file_env_and_override_precedence(tmp_path: Path) -> None:
    f = tmp_path / "config.yaml"
    f.write_text(
        "SERVER_HOSTNAME: registry.example.com\nSUPER_USERS: [alice]\nFEATURE_PUBLIC_CATALOG: true\n"
        "SOME_QUAY_KEY_WE_IGNORE: 1\n"
    )
    s = load_settings(f, {"SERVER_HOSTNAME": "override:5000"}, environ={"WHARF_SUPER_USERS": '["bob"]'})
    assert s.SERVER_HOSTNAME == "override:5000"
    assert s.SUPER_USERS == ["bob"]
    assert s.FEATURE_PUBLIC_CATALOG is True


def test_errors_name_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_settings(tmp_path / "missing.yaml", environ={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("[unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_settings(bad, environ={})
    bad.write_text("- a list\n")
    with pytest.raises(ConfigError, match="mapping"):
        load_settings(bad, environ={})
    with pytest.raises(ConfigError, match="DB_POOL_SIZE"):
        load_settings(None, environ={"WHARF_DB_POOL_SIZE": "many"})


def test_gc_grace_period_below_a_minute_is_refused(tmp_path: Path) -> None:
    """With no grace, GC removes the layers of a push whose manifest has not come yet, and the push
    fails with MANIFEST_BLOB_UNKNOWN: the server refuses to start with it."""
    for value in ("0", "59", "-1"):
        with pytest.raises(
            ConfigError, match=r"GC_GRACE_PERIOD_S: .*at least 60 seconds.*MANIFEST_BLOB_UNKNOWN"
        ):
            load_settings(None, environ={"WHARF_GC_GRACE_PERIOD_S": value})
    assert load_settings(None, {"GC_GRACE_PERIOD_S": 60}, environ={}).GC_GRACE_PERIOD_S == 60


def test_quay_garbage_collection_frequency_is_gc_interval(tmp_path: Path) -> None:
    f = tmp_path / "config.yaml"
    f.write_text("GARBAGE_COLLECTION_FREQUENCY: 300\n")
    assert load_settings(f, environ={}).GC_INTERVAL_S == 300
    # Wharf's own key wins when both are given
    assert load_settings(f, environ={"WHARF_GC_INTERVAL_S": "120"}).GC_INTERVAL_S == 120
    assert load_settings(None, environ={}).GC_INTERVAL_S == 60


def test_trusted_proxies_are_addresses_or_networks() -> None:
    assert load_settings(None, environ={}).TRUSTED_PROXIES == []
    s = load_settings(None, environ={"WHARF_TRUSTED_PROXIES": '["10.0.0.5", "10.1.0.0/16", "::1"]'})
    assert s.TRUSTED_PROXIES == ["10.0.0.5", "10.1.0.0/16", "::1"]
    with pytest.raises(ConfigError, match=r"TRUSTED_PROXIES: 'proxy\.example\.com' is not an IP address"):
        load_settings(None, {"TRUSTED_PROXIES": ["proxy.example.com"]}, environ={})


@pytest.mark.parametrize(
    ("settings", "origin"),
    [
        (
            {"SERVER_HOSTNAME": "registry.example.com", "LISTEN_ADDRESS": "0.0.0.0:8080"},
            "http://registry.example.com",
        ),
        (
            {"SERVER_HOSTNAME": "quay.example:8443", "PREFERRED_URL_SCHEME": "https"},
            "https://quay.example:8443",
        ),
        ({"LISTEN_ADDRESS": "0.0.0.0:8080"}, "http://127.0.0.1:8080"),  # a wildcard bind: this machine
        ({"LISTEN_ADDRESS": "[::]:5000"}, "http://127.0.0.1:5000"),
        ({"LISTEN_ADDRESS": "10.1.2.3:80"}, "http://10.1.2.3"),  # the scheme's own port is left out
        ({"LISTEN_ADDRESS": "10.1.2.3:443", "PREFERRED_URL_SCHEME": "https"}, "https://10.1.2.3"),
        ({"LISTEN_ADDRESS": "10.1.2.3:443"}, "http://10.1.2.3:443"),
        ({"LISTEN_ADDRESS": "[fd00::5]:8080"}, "http://[fd00::5]:8080"),
        ({}, "http://localhost"),  # neither: a `wharf worker` without SERVER_HOSTNAME
    ],
)
def test_links_use_server_hostname_else_the_listen_address(settings: dict[str, str], origin: str) -> None:
    s = load_settings(None, settings, environ={})
    assert s.public_origin == origin
    assert s.public_host == origin.split("://", 1)[1]


def test_registry_tokens_audience_comes_from_settings_only() -> None:
    from wharf.runtime import registry_audience

    assert registry_audience(load_settings(None, {}, environ={})) == "wharf"
    named = load_settings(None, {"SERVER_HOSTNAME": "registry.example.com"}, environ={})
    assert registry_audience(named) == "registry.example.com"
