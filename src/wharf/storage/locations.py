"""Storage locations as Quay configures them, read strictly.

`DISTRIBUTED_STORAGE_CONFIG` maps a location name to `[DriverName, {parameters}]`:

    DISTRIBUTED_STORAGE_CONFIG:
      default:
        - S3Storage
        - s3_bucket: registry
          storage_path: /datastorage/registry
          ...
    DISTRIBUTED_STORAGE_PREFERENCE: [default]

Quay's parameter names are kept, so a Quay config file works as it is. Every problem is a
LocationError whose message names the location and the parameter. Pure code: the drivers are
built from these values by `wharf.runtime`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from wharf.storage.base import StoragePathError, check_path

MiB = 1024 * 1024
GiB = 1024 * MiB


class LocationError(ValueError):
    """A storage location is misconfigured; the message says where and why."""


@dataclass(frozen=True, slots=True)
class LocalLocation:
    path: Path


@dataclass(frozen=True, slots=True)
class S3Options:
    """Everything the S3 driver needs; a location supplies the first part, Wharf's settings the rest."""

    bucket: str
    endpoint: str | None = None
    """scheme://host[:port]; None means AWS S3 in `region`."""
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    prefix: str = ""
    """Key prefix (Quay's storage_path), e.g. `registry/`; empty for the bucket's root."""
    server_side_assembly: bool = True
    """Assemble uploads with UploadPartCopy (off: stream the bytes through Wharf)."""
    min_part: int = 5 * MiB
    """Smallest part of a multipart upload but the last (S3: 5 MiB)."""
    max_part: int = 5 * GiB
    """Largest part a server-side copy makes (S3: 5 GiB)."""
    part_object_max: int = 4 * GiB
    """A writer session starts a new part object past this many bytes, so that every part object
    fits S3's 5 GiB CopyObject limit and its own 10,000-part limit however long one PATCH is."""
    redirect: bool = True
    """Blob downloads redirect to presigned URLs (else Wharf streams them)."""
    redirect_lifetime_s: int = 300


StorageLocation = LocalLocation | S3Options


class _Params:
    """One location's parameters, consumed one by one; leftovers are reported as unknown."""

    def __init__(self, where: str, driver: str, params: Mapping[str, Any]) -> None:
        self.where = where
        self.driver = driver
        self._params = dict(params)
        self._seen: set[str] = set()

    def fail(self, key: str, problem: str) -> LocationError:
        return LocationError(f"{self.where}: {self.driver} parameter {key} {problem}")

    def _take(self, key: str) -> Any:
        self._seen.add(key)
        value = self._params.get(key)
        return None if value == "" else value

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self._take(key)
        if value is None:
            if required:
                raise LocationError(f"{self.where}: {self.driver} needs the parameter {key}")
            return None
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, not {type(value).__name__}")
        return value

    def number(self, key: str, low: int, high: int) -> int | None:
        value = self._take(key)
        if value is None:
            return None
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise self.fail(key, f"must be a whole number from {low} to {high}, not {value!r}")
        return value

    def flag(self, key: str, default: bool) -> bool:
        value = self._take(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, not {value!r}")
        return value

    def ignore(self, *keys: str) -> None:
        """Quay parameters that mean nothing to Wharf."""
        self._seen.update(keys)

    def finish(self) -> None:
        unknown = sorted(set(self._params) - self._seen)
        if unknown:
            known = ", ".join(sorted(self._seen))
            raise LocationError(
                f"{self.where}: {self.driver} has no parameter {', '.join(unknown)} (it takes {known})"
            )


def _prefix(p: _Params, key: str) -> str:
    path = (p.text(key) or "").strip("/")
    if not path:
        return ""
    try:
        check_path(path)
    except StoragePathError:
        raise p.fail(key, f"is not a usable key prefix: {path!r}") from None
    return path + "/"


def _endpoint(p: _Params, url: str, *, secure: bool, port: int | None, key: str) -> str:
    if "://" not in url:
        url = f"{'https' if secure else 'http'}://{url}"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path.strip("/"):
        raise p.fail(key, f"must be a host name or a scheme://host[:port] URL, not {url!r}")
    if port is not None and parts.port is None:
        url = f"{parts.scheme}://{parts.netloc}:{port}"
    return url.rstrip("/")


def _signature(p: _Params, key: str = "signature_version") -> None:
    version = p.text(key)
    if version not in (None, "s3v4", "v4"):
        raise p.fail(key, "must be s3v4: Wharf signs requests with AWS Signature Version 4 only")


def _keys(p: _Params, access: str, secret: str) -> tuple[str | None, str | None]:
    access_key, secret_key = p.text(access), p.text(secret)
    if (access_key is None) != (secret_key is None):
        raise LocationError(f"{p.where}: {p.driver} needs both {access} and {secret}, or neither")
    return access_key, secret_key


def _chunks(p: _Params, min_key: str, max_key: str, max_unit: int, max_default: int) -> tuple[int, int]:
    min_part = (p.number(min_key, 5, 5 * 1024) or 5) * MiB
    max_part = p.number(max_key, 1, 5 * GiB // max_unit)
    max_bytes = max_part * max_unit if max_part is not None else max_default
    if max_bytes < 2 * min_part:
        raise p.fail(max_key, f"must allow parts of at least twice {min_key}")
    return min_part, max_bytes


def _local(p: _Params) -> LocalLocation:
    path = p.text("storage_path", required=True)
    assert path is not None
    return LocalLocation(Path(path))


def _s3(p: _Params) -> S3Options:
    """Quay's S3Storage: AWS S3, or any S3 API at `host`/`endpoint_url`."""
    bucket = p.text("s3_bucket", required=True)
    assert bucket is not None
    access_key, secret_key = _keys(p, "s3_access_key", "s3_secret_key")
    region = p.text("s3_region")
    port = p.number("port", 1, 65535)
    endpoint_url, host = p.text("endpoint_url"), p.text("host")
    endpoint = None
    if endpoint_url is not None:
        endpoint = _endpoint(p, endpoint_url, secure=True, port=None, key="endpoint_url")
    elif host is not None:
        endpoint = _endpoint(p, host, secure=True, port=port, key="host")
    _signature(p)
    min_part, max_part = _chunks(p, "minimum_chunk_size_mb", "maximum_chunk_size_gb", GiB, 5 * GiB)
    options = S3Options(
        bucket=bucket,
        endpoint=endpoint,
        region=region or "us-east-1",
        access_key=access_key,
        secret_key=secret_key,
        session_token=p.text("aws_session_token"),
        prefix=_prefix(p, "storage_path"),
        min_part=min_part,
        max_part=max_part,
    )
    p.ignore("deferred_refreshable_credentials")
    return options


def _radosgw(p: _Params) -> S3Options:
    """Quay's RadosGWStorage (also RHOCSStorage): Ceph RGW and other S3 APIs, path-style."""
    bucket = p.text("bucket_name", required=True)
    hostname = p.text("hostname", required=True)
    assert bucket is not None and hostname is not None
    access_key, secret_key = _keys(p, "access_key", "secret_key")
    secure = p.flag("is_secure", True)
    endpoint = _endpoint(p, hostname, secure=secure, port=p.number("port", 1, 65535), key="hostname")
    _signature(p)
    # Quay's RadosGW default largest part is 100 MiB.
    min_part, max_part = _chunks(p, "minimum_chunk_size_mb", "maximum_chunk_size_mb", MiB, 100 * MiB)
    return S3Options(
        bucket=bucket,
        endpoint=endpoint,
        region=p.text("region_name") or "us-east-1",
        access_key=access_key,
        secret_key=secret_key,
        prefix=_prefix(p, "storage_path"),
        server_side_assembly=p.flag("server_side_assembly", True),
        min_part=min_part,
        max_part=max_part,
    )


_DRIVERS: dict[str, Callable[[_Params], StorageLocation]] = {
    "LocalStorage": _local,
    "S3Storage": _s3,
    "RadosGWStorage": _radosgw,
    "RHOCSStorage": _radosgw,
}


def parse_location(name: str, value: Any) -> StorageLocation:
    where = f"location {name!r}"
    if not isinstance(value, list | tuple) or len(value) != 2:
        raise LocationError(f"{where}: must be [DriverName, {{parameters}}], not {value!r}"[:300])
    driver, params = value
    if driver not in _DRIVERS:
        supported = ", ".join(_DRIVERS)
        raise LocationError(f"{where}: Wharf has no storage driver {driver!r} (it has {supported})")
    if not isinstance(params, Mapping):
        raise LocationError(f"{where}: the parameters of {driver} must be a mapping")
    p = _Params(where, driver, params)
    location = _DRIVERS[driver](p)
    p.finish()
    return location


def parse_locations(config: Mapping[str, Any]) -> dict[str, StorageLocation]:
    if not config:
        raise LocationError("names no location")
    return {str(name): parse_location(str(name), value) for name, value in config.items()}


def preferred(locations: Mapping[str, StorageLocation], preference: list[str]) -> str:
    """The location Wharf stores blobs in and serves them from: the first preferred one.

    Wharf keeps each blob in one location (Quay's replication between locations is not there),
    so a config with several locations must say which one is used.
    """
    for name in preference:
        if name not in locations:
            raise LocationError(f"names {name!r}, which DISTRIBUTED_STORAGE_CONFIG does not define")
    if preference:
        return preference[0]
    if len(locations) == 1:
        return next(iter(locations))
    raise LocationError(f"must name the location to use, one of {', '.join(sorted(locations))}")
