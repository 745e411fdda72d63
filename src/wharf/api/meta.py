"""What Quay's clients read before anything else: GET /config (the UI's configuration document),
/api/v1/error/{error_type} (the pages error bodies link to) and getRegistryCapabilities."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from wharf import __version__
from wharf.api.deps import Rt
from wharf.api.errors import ERROR_DESCRIPTIONS, not_found
from wharf.config import Settings
from wharf.core import mirrors

router = APIRouter(tags=["meta"])

# The features Quay's clients look for, with what Wharf offers. Wharf's own FEATURE_* settings
# are added from the configuration (they override these).
_FEATURES: dict[str, bool] = {
    "SUPER_USERS": True,
    "DIRECT_LOGIN": True,
    "APP_SPECIFIC_TOKENS": True,
    "CHANGE_TAG_EXPIRATION": True,
    "LIBRARY_SUPPORT": True,
    "PARTIAL_USER_AUTOCOMPLETE": True,
    "USER_METADATA": False,
    "SECURITY_SCANNER": False,
    "QUOTA_MANAGEMENT": False,
    "EDIT_QUOTA": False,
    "REPO_MIRROR": False,
    "ORG_MIRROR": False,
    "PROXY_CACHE": False,
    "BILLING": False,
    "TEAM_SYNCING": False,
    "SIGNING": False,
    "RECAPTCHA": False,
    "GITHUB_LOGIN": False,
    "GOOGLE_LOGIN": False,
    "SPARSE_INDEX": False,
}

# Settings Quay hands its web client (its CLIENT_WHITELIST, as far as Wharf has them). Only keys
# listed here ever leave the server: /config is an allow-list, so no secret can reach it.
_CLIENT_SETTINGS = (
    "PREFERRED_URL_SCHEME",
    "REGISTRY_TITLE",
    "REGISTRY_TITLE_SHORT",
    "CONTACT_INFO",
    "AVATAR_KIND",
    "TAG_EXPIRATION_OPTIONS",
    "SEARCH_RESULTS_PER_PAGE",
    "SEARCH_MAX_RESULT_PAGE_COUNT",
    "DOCUMENTATION_ROOT",
    "PERMANENTLY_DELETE_TAGS",
    "FOOTER_LINKS",
    "ROBOTS_DISALLOW",
    "DEFAULT_UI",
    "FEATURE_AUTO_PRUNE",
    "FEATURE_IMMUTABLE_TAGS",
    "FEATURE_QUOTA_MANAGEMENT",
    "FEATURE_EDIT_QUOTA",
    "FEATURE_PROXY_CACHE",
    "FEATURE_REPO_MIRROR",
    "FEATURE_ORG_MIRROR",
)
_CLIENT_DEFAULTS: dict[str, Any] = {
    "AUTHENTICATION_TYPE": "Database",
    "REGISTRY_TITLE": "Wharf",
    "REGISTRY_TITLE_SHORT": "Wharf",
    "SETUP_COMPLETE": True,
    "FEATURE_QUOTA_MANAGEMENT": False,
    "FEATURE_EDIT_QUOTA": False,
    "FEATURE_PROXY_CACHE": False,
}


def features(settings: Settings) -> dict[str, bool]:
    own = {
        name.removeprefix("FEATURE_"): bool(getattr(settings, name))
        for name in type(settings).model_fields
        if name.startswith("FEATURE_")
    }
    return {**_FEATURES, **own}


def client_config(settings: Settings, host: str) -> dict[str, Any]:
    out: dict[str, Any] = {**_CLIENT_DEFAULTS, "SERVER_HOSTNAME": settings.SERVER_HOSTNAME or host}
    extra = settings.model_extra or {}
    for name in _CLIENT_SETTINGS:
        if name in type(settings).model_fields:
            out[name] = getattr(settings, name)
        elif name in extra:
            out[name] = extra[name]
    return out


@router.get("/config", include_in_schema=False, summary="The web client's configuration (nothing secret)")
async def config(rt: Rt, request: Request) -> dict[str, Any]:
    settings = rt.settings
    services = rt.login_services
    return {
        "config": client_config(settings, request.headers.get("host") or "localhost"),
        "features": {
            **features(settings),
            "GITHUB_LOGIN": "github" in services,
            "GOOGLE_LOGIN": "google" in services,
        },
        "oauth": {},
        # Quay's list of sign-in providers: nothing secret (no client secret) leaves the server
        "external_login": [
            {"id": s.id, "title": s.name, "config": {"CLIENT_ID": s.client_id}} for s in services.values()
        ],
        "registry_state": settings.REGISTRY_STATE,
        "account_recovery_mode": False,
        "version_number": f"Wharf {__version__}",
    }


@router.get(
    "/api/v1/error/{error_type}",
    operation_id="getErrorDescription",
    summary="What an error type means (the `type` link of every error body)",
)
async def get_error_description(request: Request, error_type: str) -> dict[str, Any]:
    description = ERROR_DESCRIPTIONS.get(error_type)
    if description is None:
        raise not_found(f"no error type {error_type!r}")
    return {
        "type": f"{request.base_url}api/v1/error/{error_type}",
        "title": error_type,
        "description": description,
    }


@router.get(
    "/api/v1/registry/capabilities",
    operation_id="getRegistryCapabilities",
    summary="What this registry supports (sparse manifest lists, mirroring architectures)",
)
async def get_registry_capabilities() -> dict[str, Any]:
    # A push stores an index only with all its children: only a repository mirror filtered by
    # architecture stores a sparse one (services/mirroring.py), on these architectures.
    return {
        "sparse_manifests": {
            "supported": False,
            "required_architectures": [],
            "optional_architectures_allowed": False,
        },
        "mirror_architectures": sorted(mirrors.VALID_ARCHITECTURES),
    }
