"""Typed settings: a YAML file with Quay's key names, overridden by WHARF_* environment variables.

Precedence: defaults < config file < environment. `WHARF_DB_URI=...` overrides `DB_URI`; list and
dict values in the environment are given as JSON.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError


class ConfigError(Exception):
    """The configuration cannot be used; the message says which key and why."""


class Settings(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    DATA_DIR: Path = Path("./data")
    SERVER_HOSTNAME: str | None = None
    """host[:port] clients use; None derives it from each request's Host header."""
    PREFERRED_URL_SCHEME: str = "http"
    DB_URI: str | None = None
    """SQLAlchemy URL; None means SQLite at DATA_DIR/wharf.db."""
    DB_POOL_SIZE: int = 10
    STORAGE_PATH: Path | None = None
    """Blob directory for the local driver; None means DATA_DIR/storage."""

    SUPER_USERS: list[str] = Field(default_factory=list)
    LIBRARY_NAMESPACE: str = "library"
    FEATURE_ANONYMOUS_ACCESS: bool = True
    FEATURE_PUBLIC_CATALOG: bool = False
    CREATE_PRIVATE_REPO_ON_PUSH: bool = True
    CREATE_NAMESPACE_ON_PUSH: bool = False
    REGISTRY_TOKEN_LIFETIME_S: int = 3600
    INSTANCE_SERVICE_KEY_SERVICE: str = "wharf"

    BLOB_UPLOAD_EXPIRATION_S: int = 24 * 3600
    """An upload untouched this long is abandoned and removed by the cleanup job."""
    UPLOAD_CLEANUP_INTERVAL_S: int = 600
    CATALOG_PAGE_LIMIT: int = 1000
    TAG_LIST_PAGE_LIMIT: int = 10000

    WORKERS_IN_PROCESS: bool = True

    @property
    def db_uri(self) -> str:
        return self.DB_URI or f"sqlite+aiosqlite:///{(self.DATA_DIR / 'wharf.db').resolve()}"

    @property
    def storage_path(self) -> Path:
        return self.STORAGE_PATH or self.DATA_DIR / "storage"


def _env_value(raw: str) -> Any:
    try:
        return json.loads(raw)
    except json.JSONDecodeError:
        return raw


def load_settings(
    config_file: Path | None = None,
    overrides: dict[str, Any] | None = None,
    environ: dict[str, str] | None = None,
) -> Settings:
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            loaded = yaml.safe_load(config_file.read_text()) or {}
        except OSError as e:
            raise ConfigError(f"cannot read config file {config_file}: {e.strerror}") from None
        except yaml.YAMLError as e:
            raise ConfigError(f"config file {config_file} is not valid YAML: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"config file {config_file} must hold a mapping of KEY: value")
        values.update(loaded)
    env = os.environ if environ is None else environ
    for key, raw in env.items():
        if key.startswith("WHARF_") and key not in ("WHARF_ADMIN_PASSWORD",):
            values[key.removeprefix("WHARF_")] = _env_value(raw)
    values.update(overrides or {})
    try:
        return Settings(**values)
    except ValidationError as e:
        problems = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
