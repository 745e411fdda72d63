"""OCI error codes, declared once: the responses and docs/registry-errors.md come from this table."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from wharf.core import errors as domain


@dataclass(frozen=True, slots=True)
class ErrorCode:
    code: str
    message: str
    status: int
    description: str


_CODES: dict[tuple[str, int], ErrorCode] = {}


def _register(code: str, message: str, status: int, description: str) -> ErrorCode:
    _CODES[code, status] = ErrorCode(code, message, status, description)
    return _CODES[code, status]


BLOB_UNKNOWN = _register(
    "BLOB_UNKNOWN", "blob unknown to registry", 404, "The blob is not in the repository. Push it first."
)
BLOB_UPLOAD_INVALID = _register(
    "BLOB_UPLOAD_INVALID", "blob upload invalid", 400, "The upload or chunk is malformed. Restart the upload."
)
BLOB_UPLOAD_UNKNOWN = _register(
    "BLOB_UPLOAD_UNKNOWN",
    "blob upload unknown to registry",
    404,
    "The upload does not exist, was finished or cancelled, or expired.",
)
DIGEST_INVALID = _register(
    "DIGEST_INVALID",
    "provided digest did not match uploaded content",
    400,
    "The digest is malformed, unsupported, or differs from the content sent.",
)
MANIFEST_BLOB_UNKNOWN = _register(
    "MANIFEST_BLOB_UNKNOWN",
    "manifest references a manifest or blob unknown to registry",
    400,
    "Push the referenced blobs before the manifest.",
)
MANIFEST_INVALID = _register(
    "MANIFEST_INVALID",
    "manifest invalid",
    400,
    "The manifest is not valid JSON of its declared type; the detail says why.",
)
MANIFEST_UNKNOWN = _register(
    "MANIFEST_UNKNOWN",
    "manifest unknown to registry",
    404,
    "No manifest with this tag or digest in the repository.",
)
NAME_INVALID = _register(
    "NAME_INVALID",
    "invalid repository name",
    400,
    "Repository names are lowercase path components separated by slashes.",
)
NAME_UNKNOWN = _register(
    "NAME_UNKNOWN",
    "repository name not known to registry",
    404,
    "The repository does not exist, or you may not see it.",
)
SIZE_INVALID = _register(
    "SIZE_INVALID",
    "provided length did not match content length",
    400,
    "The Content-Length or Content-Range does not match the body.",
)
TAG_INVALID = _register(
    "TAG_INVALID",
    "manifest tag did not match URI",
    400,
    "Tags are up to 128 characters of [A-Za-z0-9_.-], not starting with . or -.",
)
UNAUTHORIZED = _register(
    "UNAUTHORIZED",
    "authentication required",
    401,
    "Log in (docker/podman login) or request a token with the needed scope.",
)
DENIED = _register(
    "DENIED",
    "requested access to the resource is denied",
    403,
    "Your account may not perform this action on this repository.",
)
READ_ONLY_MODE = _register(
    "DENIED",
    "the registry is read-only for maintenance",
    405,
    "REGISTRY_STATE is readonly: pulls work, every write is refused (the error has is_readonly).",
)
UNSUPPORTED = _register(
    "UNSUPPORTED", "the operation is unsupported", 405, "The method or path is not part of the registry API."
)
TOO_MANY_REQUESTS = _register("TOOMANYREQUESTS", "too many requests", 429, "Slow down and retry later.")
UNAVAILABLE = _register(
    "UNAVAILABLE",
    "service unavailable",
    503,
    "A service the registry depends on (the user directory) cannot be reached: retry, or tell the "
    "administrator.",
)
RANGE_INVALID = _register(
    "BLOB_UPLOAD_INVALID",
    "requested range not satisfiable",
    416,
    "The chunk does not start where the upload ends; GET the upload for its offset.",
)
BODY_TIMEOUT = _register(
    "BLOB_UPLOAD_INVALID",
    "request body timed out",
    408,
    "The body sent nothing for HTTP_BODY_IDLE_TIMEOUT_S seconds and the connection was closed. Resume "
    "the upload from its offset.",
)
TOO_LARGE = _register("SIZE_INVALID", "request body too large", 413, "Manifests may be at most 4 MiB.")
CHILD_UNKNOWN = _register(
    "MANIFEST_UNKNOWN",
    "index references a manifest unknown to the repository",
    400,
    "Push every manifest an index lists before the index.",
)
BAD_PARAMETER = _register(
    "UNSUPPORTED", "invalid request parameter", 400, "A query parameter is malformed; the message names it."
)
UPSTREAM_UNAVAILABLE = _register(
    "UNAVAILABLE",
    "the upstream registry is unavailable",
    502,
    "A proxy-cache organization could not fetch from its upstream registry and holds no copy to serve.",
)
UPSTREAM_DIGEST = _register(
    "DIGEST_INVALID",
    "the upstream registry sent content that does not match its digest",
    502,
    "A proxy-cache organization refused (and did not store) what its upstream registry sent.",
)
NOT_FOUND = _register("UNSUPPORTED", "no such endpoint", 404, "The path is not part of the registry API.")


class RegistryError(Exception):
    def __init__(
        self,
        code: ErrorCode,
        message: str | None = None,
        detail: Any = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message or code.message)
        self.code = code
        self.message = message or code.message
        self.detail = detail
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        err: dict[str, Any] = {"code": self.code.code, "message": self.message}
        if self.detail is not None:
            err["detail"] = self.detail
        if self.code is READ_ONLY_MODE:
            err["is_readonly"] = True  # as Quay says it
        return {"errors": [err]}


_DOMAIN: list[tuple[type[domain.DomainError], ErrorCode]] = [
    (domain.RepositoryNotFound, NAME_UNKNOWN),
    (domain.NamespaceNotFound, NAME_UNKNOWN),
    (domain.BlobNotFound, BLOB_UNKNOWN),
    (domain.ManifestNotFound, MANIFEST_UNKNOWN),
    (domain.UploadNotFound, BLOB_UPLOAD_UNKNOWN),
    (domain.InvalidName, NAME_INVALID),
    (domain.InvalidTag, TAG_INVALID),
    (domain.InvalidDigest, DIGEST_INVALID),
    (domain.InvalidManifest, MANIFEST_INVALID),
    (domain.ManifestBlobUnknown, MANIFEST_BLOB_UNKNOWN),
    (domain.ManifestChildUnknown, CHILD_UNKNOWN),
    (domain.InvalidRange, RANGE_INVALID),
    (domain.InvalidSize, SIZE_INVALID),
    (domain.ReadOnlyMode, READ_ONLY_MODE),
    (domain.ReadOnly, DENIED),
    (domain.TagImmutable, DENIED),
    (domain.PullRefused, DENIED),
    (domain.QuotaExceeded, DENIED),  # the message says which namespace, how full, what to do
    (domain.Busy, TOO_MANY_REQUESTS),
    (domain.Unavailable, UNAVAILABLE),
    (domain.NotAllowed, DENIED),
    (domain.Conflict, RANGE_INVALID),
    (domain.InvalidInput, BLOB_UPLOAD_INVALID),
    (domain.UpstreamMismatch, UPSTREAM_DIGEST),
    (domain.UpstreamFailed, UPSTREAM_UNAVAILABLE),
    (domain.UpstreamRefused, DENIED),
]


def from_domain(e: domain.DomainError) -> RegistryError:
    for kind, code in _DOMAIN:
        if isinstance(e, kind):
            status_detail = {k: v for k, v in e.detail.items() if k != "offset"} or None
            return RegistryError(code, str(e), status_detail)
    return RegistryError(UNSUPPORTED, str(e))


def markdown_table() -> str:
    """The error table as it appears in docs/registry-api.md (a test keeps the two in step)."""
    rows = ["| code | HTTP status | message | what to do |", "|---|---|---|---|"]
    for c in _CODES.values():
        rows.append(f"| `{c.code}` | {c.status} | {c.message} | {c.description} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
