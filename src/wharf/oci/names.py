"""Repository name and tag grammar of the OCI distribution spec."""

from __future__ import annotations

import re
from dataclasses import dataclass

_COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
_NAME = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*$")
_TAG = re.compile(r"^[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}$")
MAX_NAME_LENGTH = 255


class InvalidNameError(ValueError):
    """A repository name that breaks the grammar."""


def is_valid_tag(tag: str) -> bool:
    return bool(_TAG.match(tag))


def is_valid_repository_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and bool(_NAME.match(name))


@dataclass(frozen=True, slots=True)
class RepositoryName:
    """`namespace/name`, where name may itself contain slashes (`ns/a/b`)."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, full: str, library_namespace: str = "library") -> RepositoryName:
        if not is_valid_repository_name(full):
            raise InvalidNameError(f"invalid repository name {full[:300]!r}")
        if "/" not in full:
            return cls(library_namespace, full)
        namespace, name = full.split("/", 1)
        return cls(namespace, name)
