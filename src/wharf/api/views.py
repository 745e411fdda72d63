"""How Quay shapes accounts in its responses."""

from __future__ import annotations

from typing import Any

from wharf.auth import permissions
from wharf.core import tag_changes
from wharf.core.accounts import AccountRecord
from wharf.core.shapes import avatar, date
from wharf.runtime import Runtime

__all__ = ["avatar", "date"]

FREE_ACCOUNT = True
"""Quay's `is_free_account` is "has no Stripe customer": true for every account of a registry
without billing, which Wharf is."""


def is_superuser(rt: Runtime, account: AccountRecord) -> bool:
    return permissions.is_configured_superuser(rt.settings, account)


def public_user(rt: Runtime, account: AccountRecord) -> dict[str, Any]:
    return {
        "anonymous": False,
        "username": account.name,
        "avatar": avatar(account.name, account.email),
        "super_user": is_superuser(rt, account),
    }


def tag_expiration_s(rt: Runtime, account: AccountRecord) -> int:
    return tag_changes.time_machine_s(rt.settings.DEFAULT_TAG_EXPIRATION, account)


def own_user(
    rt: Runtime,
    account: AccountRecord,
    organizations: list[dict[str, Any]] | None = None,
    has_password_set: bool = True,
) -> dict[str, Any]:
    return {
        **public_user(rt, account),
        "email": account.email,
        "verified": True,
        "is_me": True,
        "enabled": account.enabled,
        "can_create_repo": True,
        "preferred_namespace": False,
        "tag_expiration_s": tag_expiration_s(rt, account),
        "organizations": organizations or [],
        "logins": [],
        "prompts": [],
        "invoice_email": False,
        "invoice_email_address": None,
        # Quay's profile fields (FEATURE_USER_METADATA); Wharf keeps none of them: unset, as Quay says.
        "company": None,
        "family_name": None,
        "given_name": None,
        "location": None,
        "is_free_account": FREE_ACCOUNT,
        "has_password_set": has_password_set,
        **(
            {"global_readonly_super_user": True}
            if permissions.is_configured_readonly_superuser(rt.settings, account)
            else {}
        ),
    }


def superuser_user(rt: Runtime, account: AccountRecord) -> dict[str, Any]:
    return {
        "username": account.name,
        "email": account.email,
        "verified": True,
        "avatar": avatar(account.name, account.email),
        "super_user": is_superuser(rt, account),
        "enabled": account.enabled,
    }


def held_roles(held: list[tuple[str, bool, str]]) -> dict[str, Any]:
    """Repository roles held by a team or robot, as Quay lists them."""
    return {"permissions": [{"repository": {"name": n, "is_public": p}, "role": r} for n, p, r in held]}
