"""Quay's DISTRIBUTED_STORAGE_CONFIG read into a storage location, and its errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from wharf.config import ConfigError, Settings, load_settings
from wharf.storage.locations import LocalLocation, S3Options

MiB = 1024 * 1024


def _settings(text: str, tmp_path: Path, **overrides: Any) -> Settings:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    return load_settings(config, overrides, environ={})


def _error(text: str, tmp_path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        _settings(text, tmp_path)
    return str(caught.value)


def test_default_is_the_filesystem(tmp_path: Path) -> None:
    settings = load_settings(None, {"DATA_DIR": tmp_path}, environ={})
    assert settings.storage_location == LocalLocation(tmp_path / "storage")
    assert settings.storage_redirect


def test_quay_s3_storage(tmp_path: Path) -> None:
    settings = _settings(
        """
DISTRIBUTED_STORAGE_CONFIG:
  default:
    - S3Storage
    - host: s3.us-east-2.amazonaws.com
      s3_region: us-east-2
      s3_access_key: ABCDEFGHIJKLMN
      s3_secret_key: OL3ABCDEFGHIJKLMN
      s3_bucket: quay_bucket
      storage_path: /datastorage/registry
DISTRIBUTED_STORAGE_DEFAULT_LOCATIONS: []
DISTRIBUTED_STORAGE_PREFERENCE:
  - default
""",
        tmp_path,
    )
    assert settings.storage_location == S3Options(
        bucket="quay_bucket",
        endpoint="https://s3.us-east-2.amazonaws.com",
        region="us-east-2",
        access_key="ABCDEFGHIJKLMN",
        secret_key="OL3ABCDEFGHIJKLMN",
        prefix="datastorage/registry/",
    )


def test_s3_storage_on_aws_by_region_alone(tmp_path: Path) -> None:
    location = _settings(
        "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {s3_bucket: b, s3_region: eu-west-1}]}", tmp_path
    ).storage_location
    assert isinstance(location, S3Options)
    assert (location.endpoint, location.region, location.access_key) == (None, "eu-west-1", None)


def test_s3_storage_host_port_and_endpoint_url(tmp_path: Path) -> None:
    by_host = _settings(
        "DISTRIBUTED_STORAGE_CONFIG: {s3: [S3Storage, {s3_bucket: b, host: seaweed.internal, port: '8333'}]}",
        tmp_path,
    ).storage_location
    by_url = _settings(
        "DISTRIBUTED_STORAGE_CONFIG: {s3: [S3Storage, {s3_bucket: b, endpoint_url: 'http://seaweed:8333/'}]}",
        tmp_path,
    ).storage_location
    assert isinstance(by_host, S3Options) and isinstance(by_url, S3Options)
    assert by_host.endpoint == "https://seaweed.internal:8333"
    assert by_url.endpoint == "http://seaweed:8333"


def test_quay_radosgw_storage(tmp_path: Path) -> None:
    location = _settings(
        """
DISTRIBUTED_STORAGE_CONFIG:
  ceph:
    - RadosGWStorage
    - hostname: rgw.internal
      is_secure: false
      port: 7480
      access_key: ak
      secret_key: sk
      bucket_name: registry
      storage_path: /registry
      server_side_assembly: false
      maximum_chunk_size_mb: 200
""",
        tmp_path,
    ).storage_location
    assert location == S3Options(
        bucket="registry",
        endpoint="http://rgw.internal:7480",
        access_key="ak",
        secret_key="sk",
        prefix="registry/",
        server_side_assembly=False,
        max_part=200 * MiB,
    )


def test_local_storage_and_the_preferred_location(tmp_path: Path) -> None:
    settings = _settings(
        f"""
DISTRIBUTED_STORAGE_CONFIG:
  east: [LocalStorage, {{storage_path: {tmp_path}/east}}]
  west: [LocalStorage, {{storage_path: {tmp_path}/west}}]
DISTRIBUTED_STORAGE_PREFERENCE: [west, east]
""",
        tmp_path,
    )
    assert settings.storage_location == LocalLocation(tmp_path / "west")


def test_redirect_settings(tmp_path: Path) -> None:
    assert not _settings("STORAGE_REDIRECT: false", tmp_path).storage_redirect
    assert not _settings("FEATURE_PROXY_STORAGE: true", tmp_path).storage_redirect
    assert _settings("STORAGE_REDIRECT_LIFETIME_S: 60", tmp_path).STORAGE_REDIRECT_LIFETIME_S == 60


def test_environment_override_as_json(tmp_path: Path) -> None:
    env = {
        "WHARF_DISTRIBUTED_STORAGE_CONFIG": '{"s3": ["S3Storage", {"s3_bucket": "b", "host": "h"}]}',
        "WHARF_STORAGE_REDIRECT": "false",
    }
    settings = load_settings(None, {"DATA_DIR": tmp_path}, environ=env)
    assert isinstance(settings.storage_location, S3Options)
    assert not settings.storage_redirect


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {host: h}]}",
            "DISTRIBUTED_STORAGE_CONFIG: location 'default': S3Storage needs the parameter s3_bucket",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {s3_bucket: b, s3_bucket_name: c}]}",
            "S3Storage has no parameter s3_bucket_name (it takes ",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {s3_bucket: b, s3_access_key: a}]}",
            "S3Storage needs both s3_access_key and s3_secret_key, or neither",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {s3_bucket: b, host: h, port: 99999}]}",
            "S3Storage parameter port must be a whole number from 1 to 65535, not 99999",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {s3_bucket: 7}]}",
            "S3Storage parameter s3_bucket must be a string, not int",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {s3_bucket: b, storage_path: a/../b}]}",
            "S3Storage parameter storage_path is not a usable key prefix: 'a/../b'",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {s3_bucket: b, endpoint_url: 'ftp://x'}]}",
            "S3Storage parameter endpoint_url must be a host name or a scheme://host[:port] URL",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [S3Storage, {s3_bucket: b, signature_version: s3}]}",
            "signature_version must be s3v4",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG:\n"
            "  default: [RadosGWStorage, {hostname: h, bucket_name: b, is_secure: 1}]",
            "RadosGWStorage parameter is_secure must be true or false, not 1",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [SwiftStorage, {swift_user: u}]}",
            "location 'default': Wharf has no storage driver 'SwiftStorage' (it has LocalStorage, S3Storage",
        ),
        ("DISTRIBUTED_STORAGE_CONFIG: {default: S3Storage}", "must be [DriverName, {parameters}]"),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {default: [LocalStorage, [a]]}",
            "parameters of LocalStorage must be a",
        ),
        ("DISTRIBUTED_STORAGE_CONFIG: {}", "DISTRIBUTED_STORAGE_CONFIG: names no location"),
        (
            "DISTRIBUTED_STORAGE_CONFIG:\n"
            "  a: [LocalStorage, {storage_path: /x}]\n"
            "  b: [LocalStorage, {storage_path: /y}]",
            "DISTRIBUTED_STORAGE_PREFERENCE: must name the location to use, one of a, b",
        ),
        (
            "DISTRIBUTED_STORAGE_CONFIG: {a: [LocalStorage, {storage_path: /x}]}\n"
            "DISTRIBUTED_STORAGE_PREFERENCE: [b]",
            "DISTRIBUTED_STORAGE_PREFERENCE: names 'b', which DISTRIBUTED_STORAGE_CONFIG does not define",
        ),
        (
            "STORAGE_PATH: /srv/blobs\nDISTRIBUTED_STORAGE_CONFIG: {a: [LocalStorage, {storage_path: /x}]}",
            "give STORAGE_PATH or DISTRIBUTED_STORAGE_CONFIG, not both",
        ),
        ("STORAGE_REDIRECT_LIFETIME_S: 0", "STORAGE_REDIRECT_LIFETIME_S: "),
        ("STORAGE_REDIRECT_LIFETIME_S: 700000", "STORAGE_REDIRECT_LIFETIME_S: "),
    ],
)
def test_bad_storage_config_names_the_key(tmp_path: Path, text: str, message: str) -> None:
    error = _error(text, tmp_path)
    assert error.startswith("invalid configuration: ")
    assert message in error
