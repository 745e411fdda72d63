"""Resolving the repository a /v2 request addresses, creating it on first push."""

from __future__ import annotations

from wharf.auth import permissions
from wharf.core import repositories
from wharf.core.errors import AlreadyExists, NamespaceNotFound
from wharf.core.repositories import RepositoryRecord
from wharf.db import engine as dbx
from wharf.oci.names import InvalidNameError, RepositoryName
from wharf.registry.context import Call
from wharf.registry.errors import DENIED, NAME_INVALID, NAME_UNKNOWN, RegistryError


def parse_name(call: Call, raw: str) -> RepositoryName:
    try:
        return RepositoryName.parse(raw, call.rt.settings.LIBRARY_NAMESPACE)
    except InvalidNameError as e:
        raise RegistryError(NAME_INVALID, str(e)) from None


async def for_read(call: Call, raw: str) -> RepositoryRecord:
    name = parse_name(call, raw)
    call.require("repository", raw, permissions.PULL)
    async with dbx.read(call.rt.engine) as db:
        repo = await repositories.get(db, name.namespace, name.name)
    if repo is None:
        raise RegistryError(NAME_UNKNOWN, f"repository {raw} not found")
    return repo


async def for_write(call: Call, raw: str, *actions: str) -> RepositoryRecord:
    """The repository a write goes to; created now when the token allows pushing to it."""
    name = parse_name(call, raw)
    call.require("repository", raw, *(actions or (permissions.PUSH,)))
    async with dbx.read(call.rt.engine) as db:
        repo = await repositories.get(db, name.namespace, name.name)
    if repo is None:
        visibility = "private" if call.rt.settings.CREATE_PRIVATE_REPO_ON_PUSH else "public"
        try:
            async with dbx.write(call.rt.engine) as db:
                repo = await repositories.create(
                    db, name.namespace, name.name, visibility=visibility, actor=call.actor
                )
        except AlreadyExists:
            async with dbx.read(call.rt.engine) as db:
                repo = await repositories.get(db, name.namespace, name.name)
        except NamespaceNotFound as e:
            raise RegistryError(NAME_UNKNOWN, str(e)) from None
        assert repo is not None
    if repo.state != repositories.NORMAL:
        raise RegistryError(DENIED, f"repository {raw} is read-only")
    return repo
