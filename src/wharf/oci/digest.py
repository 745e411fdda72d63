"""Content digests as the OCI image-spec defines them (`algorithm:encoded`)."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Protocol

_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")
# Registered algorithms and the exact shape of their encoded part.
_ENCODED = {
    "sha256": re.compile(r"^[a-f0-9]{64}$"),
    "sha512": re.compile(r"^[a-f0-9]{128}$"),
}
SUPPORTED_ALGORITHMS = frozenset(_ENCODED)


class DigestError(ValueError):
    """The string is not a digest, or uses an algorithm we do not verify."""


class Hasher(Protocol):
    def update(self, data: bytes, /) -> None: ...
    def hexdigest(self) -> str: ...


@dataclass(frozen=True, slots=True)
class Digest:
    algorithm: str
    encoded: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.encoded}"

    @classmethod
    def parse(cls, value: str) -> Digest:
        if len(value) > 256 or not _GRAMMAR.match(value):
            raise DigestError(f"not a digest: {value[:80]!r}")
        algorithm, encoded = value.split(":", 1)
        pattern = _ENCODED.get(algorithm)
        if pattern is None:
            raise DigestError(f"unsupported digest algorithm {algorithm!r}; use sha256 or sha512")
        if not pattern.match(encoded):
            raise DigestError(f"malformed {algorithm} digest")
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = "sha256") -> Digest:
        h = new_hasher(algorithm)
        h.update(data)
        return cls(algorithm, h.hexdigest())

    def hasher(self) -> Hasher:
        return new_hasher(self.algorithm)


def new_hasher(algorithm: str = "sha256") -> Hasher:
    if algorithm not in SUPPORTED_ALGORITHMS:
        raise DigestError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def is_digest(reference: str) -> bool:
    """A manifest reference is a digest when it has a colon; tags cannot contain one."""
    return ":" in reference
