"""Parsing and validation of image manifests, indexes and Docker schema 1, without I/O.

`parse_manifest` turns the bytes a client PUTs into a `ParsedManifest` that names everything the
registry must check exists (blobs, child manifests) and what it must index (subject, artifact type).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from wharf.oci import jsondoc
from wharf.oci import mediatypes as mt
from wharf.oci.digest import Digest, DigestError

MAX_MANIFEST_BYTES = 4 * 1024 * 1024
MAX_SIZE = 2**63 - 1
"""The largest descriptor `size` (a signed 64-bit integer, as the database keeps it)."""
MAX_MEDIA_TYPE = 255
"""The longest media or artifact type (RFC 6838: 127 characters each side of the slash)."""


class ManifestError(ValueError):
    """The manifest is malformed or inconsistent; the message says what is wrong."""


@dataclass(frozen=True, slots=True)
class Descriptor:
    media_type: str
    digest: Digest
    size: int
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None
    has_urls: bool = False
    platform: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class ParsedManifest:
    media_type: str
    blobs: tuple[Descriptor, ...] = ()
    """Config and layers: blobs the repository must hold (layers with `urls` excepted)."""
    children: tuple[Descriptor, ...] = ()
    """Manifests an index points at; they must already be in the repository."""
    subject: Descriptor | None = None
    artifact_type: str | None = None
    config_media_type: str | None = None
    annotations: dict[str, str] = field(default_factory=dict)

    @property
    def is_index(self) -> bool:
        return self.media_type in mt.INDEXES

    @property
    def required_blobs(self) -> tuple[Descriptor, ...]:
        return tuple(d for d in self.blobs if not d.has_urls)


def _require(cond: bool, message: str) -> None:
    if not cond:
        raise ManifestError(message)


def _descriptor(obj: Any, where: str) -> Descriptor:
    _require(isinstance(obj, dict), f"{where}: a descriptor must be an object")
    media_type = obj.get("mediaType")
    _require(isinstance(media_type, str) and bool(media_type), f"{where}: mediaType is required")
    _require(len(media_type) <= MAX_MEDIA_TYPE, f"{where}: mediaType is longer than {MAX_MEDIA_TYPE}")
    raw_digest = obj.get("digest")
    _require(isinstance(raw_digest, str), f"{where}: digest is required")
    try:
        digest = Digest.parse(raw_digest)
    except DigestError as e:
        raise ManifestError(f"{where}: {e}") from None
    size = obj.get("size")
    _require(
        isinstance(size, int) and not isinstance(size, bool) and 0 <= size <= MAX_SIZE,
        f"{where}: size must be a non-negative 64-bit integer",
    )
    artifact_type = obj.get("artifactType")
    _require(
        artifact_type is None or (isinstance(artifact_type, str) and len(artifact_type) <= MAX_MEDIA_TYPE),
        f"{where}: artifactType must be a string of at most {MAX_MEDIA_TYPE} characters",
    )
    annotations = _annotations(obj.get("annotations"), where)
    urls = obj.get("urls")
    _require(urls is None or isinstance(urls, list), f"{where}: urls must be an array")
    platform = obj.get("platform")
    _require(platform is None or isinstance(platform, dict), f"{where}: platform must be an object")
    return Descriptor(media_type, digest, size, artifact_type, annotations or None, bool(urls), platform)


def _annotations(obj: Any, where: str) -> dict[str, str]:
    if obj is None:
        return {}
    _require(isinstance(obj, dict), f"{where}: annotations must be an object")
    _require(
        all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()),
        f"{where}: annotation keys and values must be strings",
    )
    return dict(obj)


def _descriptor_list(obj: Any, where: str) -> tuple[Descriptor, ...]:
    _require(isinstance(obj, list), f"{where} must be an array")
    return tuple(_descriptor(d, f"{where}[{i}]") for i, d in enumerate(obj))


def detect_media_type(doc: dict[str, Any]) -> str | None:
    """The media type a manifest declares, or that its shape implies when it declares none."""
    declared = doc.get("mediaType")
    if isinstance(declared, str):
        return declared
    if doc.get("schemaVersion") == 1:
        return mt.DOCKER_SCHEMA1_SIGNED if "signatures" in doc else mt.DOCKER_SCHEMA1
    if "manifests" in doc:
        return mt.OCI_INDEX
    if "config" in doc:
        return mt.OCI_MANIFEST
    return None


def parse_manifest(body: bytes, content_type: str | None) -> ParsedManifest:
    """Validate `body` as the manifest type the client declared (or that the body declares)."""
    if len(body) > MAX_MANIFEST_BYTES:
        raise ManifestError("manifest is larger than 4 MiB")
    try:
        doc = jsondoc.loads(body)
    except jsondoc.JsonError as e:
        raise ManifestError(f"manifest is {e}") from None
    _require(isinstance(doc, dict), "manifest must be a JSON object")

    declared = doc.get("mediaType")
    _require(declared is None or isinstance(declared, str), "mediaType must be a string")
    header = (content_type or "").split(";", 1)[0].strip().lower() or None
    if header in (None, "application/json", "application/octet-stream"):
        header = None
    media_type = header or detect_media_type(doc)
    _require(
        media_type is not None, "cannot tell the manifest type: send a Content-Type or a mediaType field"
    )
    assert media_type is not None
    if declared is not None and header is not None and declared != header:
        raise ManifestError(f"Content-Type {header} does not match the manifest's mediaType {declared}")
    if media_type in mt.SCHEMA1:
        return _parse_schema1(doc, media_type)
    _require(doc.get("schemaVersion") == 2, "schemaVersion must be 2")
    if media_type in mt.INDEXES:
        return _parse_index(doc, media_type)
    if media_type in mt.IMAGE_MANIFESTS:
        return _parse_image(doc, media_type)
    raise ManifestError(f"unsupported manifest media type {media_type}")


def _subject_and_type(doc: dict[str, Any]) -> tuple[Descriptor | None, str | None]:
    subject = _descriptor(doc["subject"], "subject") if doc.get("subject") is not None else None
    artifact_type = doc.get("artifactType")
    _require(
        artifact_type is None or (isinstance(artifact_type, str) and len(artifact_type) <= MAX_MEDIA_TYPE),
        f"artifactType must be a string of at most {MAX_MEDIA_TYPE} characters",
    )
    return subject, artifact_type


def _parse_image(doc: dict[str, Any], media_type: str) -> ParsedManifest:
    _require("config" in doc, "an image manifest needs a config descriptor")
    config = _descriptor(doc["config"], "config")
    layers = _descriptor_list(doc.get("layers", []), "layers")
    if media_type == mt.DOCKER_MANIFEST:
        _require(
            doc.get("mediaType") == mt.DOCKER_MANIFEST, "a Docker schema 2 manifest must declare mediaType"
        )
    subject, artifact_type = _subject_and_type(doc)
    return ParsedManifest(
        media_type=media_type,
        blobs=(config, *layers),
        subject=subject,
        artifact_type=artifact_type or (config.media_type if subject or artifact_type else None),
        config_media_type=config.media_type,
        annotations=_annotations(doc.get("annotations"), "annotations"),
    )


def _parse_index(doc: dict[str, Any], media_type: str) -> ParsedManifest:
    _require("manifests" in doc, "an index needs a manifests array")
    children = _descriptor_list(doc["manifests"], "manifests")
    subject, artifact_type = _subject_and_type(doc)
    return ParsedManifest(
        media_type=media_type,
        children=children,
        subject=subject,
        artifact_type=artifact_type,
        annotations=_annotations(doc.get("annotations"), "annotations"),
    )


def _parse_schema1(doc: dict[str, Any], media_type: str) -> ParsedManifest:
    _require(doc.get("schemaVersion") == 1, "a schema 1 manifest must have schemaVersion 1")
    _require(
        isinstance(doc.get("name"), str) and isinstance(doc.get("tag"), str), "schema 1 needs name and tag"
    )
    layers = doc.get("fsLayers")
    if not isinstance(layers, list) or not layers:
        raise ManifestError("schema 1 needs fsLayers")
    blobs: list[Descriptor] = []
    for i, layer in enumerate(layers):
        _require(
            isinstance(layer, dict) and isinstance(layer.get("blobSum"), str), f"fsLayers[{i}] needs blobSum"
        )
        try:
            digest = Digest.parse(layer["blobSum"])
        except DigestError as e:
            raise ManifestError(f"fsLayers[{i}]: {e}") from None
        blobs.append(Descriptor("application/octet-stream", digest, 0))
    history = doc.get("history")
    _require(
        isinstance(history, list) and len(history) == len(layers), "schema 1 history must match fsLayers"
    )
    if media_type == mt.DOCKER_SCHEMA1_SIGNED:
        _require(isinstance(doc.get("signatures"), list), "a signed schema 1 manifest needs signatures")
    unique = {d.digest: d for d in blobs}
    return ParsedManifest(media_type=media_type, blobs=tuple(unique.values()))


def default_platform_child(
    index: bytes, os: str = "linux", architecture: str = "amd64", fallback: bool = True
) -> str | None:
    """The digest of the index entry a client that cannot read indexes should get: the linux/amd64
    image, else (with `fallback`, as Docker Hub and distribution choose) the first entry. None if
    there is none."""
    try:
        doc = jsondoc.loads(index)
        entries = [
            m for m in doc.get("manifests", []) if isinstance(m, dict) and isinstance(m.get("digest"), str)
        ]
    except (ValueError, AttributeError):
        return None
    for entry in entries:
        platform = entry.get("platform") or {}
        if platform.get("os") == os and platform.get("architecture") == architecture:
            return str(entry["digest"])
    return str(entries[0]["digest"]) if entries and fallback else None


def accepts(accept_header: str | None, media_type: str) -> bool:
    """Whether an Accept header admits `media_type`; no header, or a wildcard, admits everything."""
    if not accept_header:
        return True
    for part in accept_header.split(","):
        kind = part.split(";", 1)[0].strip().lower()
        if kind in ("*/*", "application/*", "application/json", "", media_type):
            return True
    return False
