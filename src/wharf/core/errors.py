"""Typed domain errors. Each surface maps them to its own wire format."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error core raises on purpose; `str(e)` is safe to show a client."""

    def __init__(self, message: str = "", *, field: str | None = None, **detail: object) -> None:
        super().__init__(message or self.__doc__ or type(self).__name__)
        self.detail = detail
        self.field = field
        """The input the error is about ("name", "tag", "email", "password", "expiration"...),
        when it is one: the web shows the message next to that field of its form. Not part of
        any wire format (the API and /v2 answer as before)."""


class NotFound(DomainError):
    """Not found."""


class NamespaceNotFound(NotFound):
    """The namespace does not exist."""


class RepositoryNotFound(NotFound):
    """The repository does not exist."""


class BlobNotFound(NotFound):
    """The blob is not known to this repository."""


class ManifestNotFound(NotFound):
    """The manifest is not known to this repository."""


class UploadNotFound(NotFound):
    """The upload does not exist or has expired."""


class TokenRevoked(DomainError):
    """The bearer token was revoked by a change since it was issued (core/revocation.py), or it
    pulls from a repository that was public when it was issued and no longer is."""


class InvalidInput(DomainError):
    """The request is malformed."""


class InvalidName(InvalidInput):
    """Invalid repository name."""


class InvalidTag(InvalidInput):
    """Invalid tag."""


class InvalidDigest(InvalidInput):
    """The digest is malformed or does not match the content."""


class InvalidManifest(InvalidInput):
    """The manifest is invalid."""


class ManifestBlobUnknown(InvalidInput):
    """The manifest references a blob this repository does not have."""


class ManifestChildUnknown(InvalidInput):
    """The index references a manifest this repository does not have."""


class InvalidRange(InvalidInput):
    """The chunk does not start where the upload ends."""


class InvalidSize(InvalidInput):
    """The content length does not match."""


class AlreadyExists(DomainError):
    """Already exists."""


class Conflict(DomainError):
    """The resource changed under the request; retry."""


class TagImmutable(DomainError):
    """The tag is immutable: it cannot be moved, deleted or expired."""


class QuotaExceeded(DomainError):
    """The namespace is over its Reject limit: pushes that add bytes are refused."""


class Busy(DomainError):
    """The resource is busy (garbage collection is removing it); retry shortly."""


class NotAllowed(DomainError):
    """The registry's configuration does not allow this; an administrator can."""


class Unavailable(DomainError):
    """A service Wharf depends on (the user directory) cannot be reached; retry shortly."""


class PullRefused(DomainError):
    """A pull policy refuses this manifest: it has a vulnerability the policy does not allow."""


class ReadOnly(DomainError):
    """The repository does not accept writes in its current state."""


class ReadOnlyMode(ReadOnly):
    """REGISTRY_STATE is `readonly`: the database refuses every write (db/engine.py)."""


class UpstreamFailed(DomainError):
    """The upstream registry of a proxy-cache organization could not give what was asked (it is
    down, refused the credentials or answered an error) and nothing is cached to serve instead."""


class UpstreamMismatch(UpstreamFailed):
    """The upstream registry sent content that does not match its digest: nothing was stored."""


class UpstreamRefused(DomainError):
    """The upstream registry is at an address Wharf may not call (SSRF_ALLOWED_HOSTS)."""
