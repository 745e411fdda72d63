"""The S3 multipart calls obstore does not expose: UploadPartCopy above all.

obstore (object_store underneath) copies whole objects only. Composing an upload's part objects
into one blob without the bytes passing through Wharf needs a multipart upload whose parts are
copied server-side from ranges of other objects, so these five calls are made here, over httpx,
signed with the same static credentials obstore is given. Listing and aborting the multipart
uploads a crash left behind (garbage collection's orphan sweep) is here for the same reason.
"""

from __future__ import annotations

import contextlib
import hashlib
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit
from xml.sax.saxutils import escape

import httpx

from wharf.storage import _sigv4
from wharf.storage.base import StorageError

# UploadPartCopy of a large range makes S3 work for a while before it answers.
_TIMEOUT = httpx.Timeout(30.0, read=600.0)
_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


class S3RequestError(StorageError):
    """The S3 server refused or failed a request."""


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    """scheme://host[:port] of the S3 API (path-style requests: /<bucket>/<key>)."""
    bucket: str
    region: str
    credentials: _sigv4.Credentials


@dataclass(frozen=True, slots=True)
class PendingUpload:
    """A multipart upload begun and neither completed nor aborted."""

    key: str
    upload_id: str
    initiated: float | None
    """When it began, in seconds since the epoch (None if the server did not say)."""


def _find(root: ET.Element, name: str) -> str | None:
    el = root.find(f".//{_NS}{name}")
    if el is None:
        el = root.find(f".//{name}")
    return None if el is None else (el.text or "")


def _error_of(body: bytes) -> str | None:
    """S3 answers some failures with 200 and an <Error> document (CopyPart, Complete)."""
    if b"<Error" not in body[:512]:
        return None
    try:
        root = ET.fromstring(body)
    except ET.ParseError:
        return body[:200].decode(errors="replace")
    return f"{_find(root, 'Code')}: {_find(root, 'Message')}"


class MultipartApi:
    """Multipart uploads on one bucket, over one HTTP client (use `session`)."""

    def __init__(self, endpoint: Endpoint, client: httpx.AsyncClient) -> None:
        self._ep = endpoint
        self._client = client
        parts = urlsplit(endpoint.url)
        self._host = parts.netloc
        self._base = f"{parts.scheme}://{parts.netloc}"

    @classmethod
    @contextlib.asynccontextmanager
    async def session(cls, endpoint: Endpoint) -> AsyncIterator[MultipartApi]:
        async with httpx.AsyncClient(timeout=_TIMEOUT) as client:
            yield cls(endpoint, client)

    def _path(self, key: str) -> str:
        return _sigv4.uri_encode(f"/{self._ep.bucket}/{key}", keep_slash=True)

    async def _request(
        self,
        method: str,
        key: str,
        query: dict[str, str],
        *,
        headers: dict[str, str] | None = None,
        content: bytes | AsyncIterator[bytes] = b"",
        payload_sha256: str = _sigv4.EMPTY_SHA256,
    ) -> httpx.Response:
        path = self._path(key)
        signed = _sigv4.sign(
            method=method,
            host=self._host,
            path=path,
            query=query,
            headers=headers or {},
            payload_sha256=payload_sha256,
            credentials=self._ep.credentials,
            region=self._ep.region,
        )
        qs = _sigv4.canonical_query(query)
        url = f"{self._base}{path}" + (f"?{qs}" if qs else "")
        try:
            response = await self._client.request(method, url, headers=signed, content=content)
        except httpx.HTTPError as e:
            raise S3RequestError(f"{method} {key}: {e}") from e
        problem = _error_of(response.content) if response.status_code < 300 else None
        if response.status_code >= 300 or problem:
            detail = problem or _error_of(response.content) or f"HTTP {response.status_code}"
            raise S3RequestError(f"{method} {key}: {detail}")
        return response

    async def create(self, key: str) -> str:
        response = await self._request("POST", key, {"uploads": ""})
        upload_id = _find(ET.fromstring(response.content), "UploadId")
        if not upload_id:
            raise S3RequestError(f"CreateMultipartUpload {key}: no UploadId in the answer")
        return upload_id

    async def copy_part(
        self, key: str, upload_id: str, number: int, source: str, start: int, end: int
    ) -> str:
        """Part `number` of the upload is bytes [start, end) of the object `source`."""
        source_path = _sigv4.uri_encode(f"{self._ep.bucket}/{source}", keep_slash=True)
        headers = {
            "x-amz-copy-source": f"/{source_path}",
            "x-amz-copy-source-range": f"bytes={start}-{end - 1}",
        }
        query = {"partNumber": str(number), "uploadId": upload_id}
        response = await self._request("PUT", key, query, headers=headers)
        etag = _find(ET.fromstring(response.content), "ETag")
        if not etag:
            raise S3RequestError(f"UploadPartCopy {key}: no ETag in the answer")
        return etag

    async def upload_part(
        self, key: str, upload_id: str, number: int, body: AsyncIterator[bytes], length: int
    ) -> str:
        """Part `number` streamed from `body` (exactly `length` bytes), never held whole."""
        query = {"partNumber": str(number), "uploadId": upload_id}
        headers = {"content-length": str(length)}
        response = await self._request(
            "PUT", key, query, headers=headers, content=body, payload_sha256=_sigv4.UNSIGNED_PAYLOAD
        )
        etag: str | None = response.headers.get("etag")
        if not etag:
            raise S3RequestError(f"UploadPart {key}: no ETag in the answer")
        return etag

    async def complete(self, key: str, upload_id: str, etags: list[str]) -> None:
        parts = "".join(
            f"<Part><PartNumber>{n}</PartNumber><ETag>{escape(etag)}</ETag></Part>"
            for n, etag in enumerate(etags, start=1)
        )
        body = f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()
        digest = hashlib.sha256(body).hexdigest()
        await self._request(
            "POST",
            key,
            {"uploadId": upload_id},
            headers={"content-type": "application/xml"},
            content=body,
            payload_sha256=digest,
        )

    async def abort(self, key: str, upload_id: str) -> None:
        await self._request("DELETE", key, {"uploadId": upload_id})

    async def pending(self, prefix: str) -> list[tuple[str, str]]:
        """(key, upload id) of the multipart uploads begun under `prefix` and neither completed nor
        aborted."""
        return [(u.key, u.upload_id) async for u in self.incomplete(prefix)]

    async def incomplete(self, prefix: str) -> AsyncIterator[PendingUpload]:
        """The multipart uploads begun under `prefix` and neither completed nor aborted, page by page."""
        query = {"uploads": "", "prefix": prefix}
        while True:
            response = await self._request("GET", "", query)
            root = ET.fromstring(response.content)
            for upload in [*root.iter(f"{_NS}Upload"), *root.iter("Upload")]:
                key, upload_id = _find(upload, "Key"), _find(upload, "UploadId")
                if key is not None and upload_id is not None:
                    yield PendingUpload(key, upload_id, _timestamp(_find(upload, "Initiated")))
            key_marker, id_marker = _find(root, "NextKeyMarker"), _find(root, "NextUploadIdMarker")
            if _find(root, "IsTruncated") != "true" or not key_marker:
                return
            query = {**query, "key-marker": key_marker, "upload-id-marker": id_marker or ""}


def _timestamp(text: str | None) -> float | None:
    """An S3 time (ISO 8601, `2024-05-01T12:00:00.000Z`) in seconds since the epoch."""
    if not text:
        return None
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return None
