"""Provenance of built images (issue 20, "beyond Quay"): an in-toto Statement v1 with an SLSA
Provenance v1 predicate, signed in a DSSE envelope and wrapped in a Sigstore bundle (v0.3), the
form `cosign attest --new-bundle-format` pushes as an OCI 1.1 referrer and `cosign
verify-attestation --new-bundle-format --key` reads back. No transparency log: the key Wharf
manages (core/build_signing.py) is the trust root, so cosign needs `--insecure-ignore-tlog`.

Everything here is a pure function of its arguments: the builder collects the facts, services
push the results.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Final

from wharf.oci.digest import Digest

STATEMENT_TYPE: Final = "https://in-toto.io/Statement/v1"
SLSA_PROVENANCE_V1: Final = "https://slsa.dev/provenance/v1"
BUILD_TYPE: Final = "urn:wharf:build-type:dockerfile:v1"
"""What the external parameters mean: a Dockerfile built by buildah (the same on every install)."""
INTOTO_PAYLOAD_TYPE: Final = "application/vnd.in-toto+json"
DSSE_MEDIA_TYPE: Final = "application/vnd.dsse.envelope.v1+json"
BUNDLE_MEDIA_TYPE: Final = "application/vnd.dev.sigstore.bundle.v0.3+json"
# The annotations cosign writes on a bundle referrer, so its discovery finds ours alike.
BUNDLE_CONTENT_ANNOTATION: Final = "dev.sigstore.bundle.content"
BUNDLE_PREDICATE_ANNOTATION: Final = "dev.sigstore.bundle.predicateType"
CREATED_ANNOTATION: Final = "org.opencontainers.image.created"
BUILD_ANNOTATION: Final = "dev.wharf.build.uuid"


class ProvenanceInvalid(Exception):
    """An envelope or bundle that does not verify: `reason` says what failed."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class BaseImage:
    """An image a FROM line names, with its manifest digest when Wharf knows it."""

    reference: str
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class BuildFacts:
    """What the provenance says about one successful build."""

    builder_id: str
    """The build platform: this Wharf's builders, by the registry's public address."""
    wharf_version: str
    build_uuid: str
    image: str
    """host/namespace/name of the pushed image (the statement's subject name)."""
    digest: str
    """The pushed manifest's digest."""
    dockerfile_path: str
    context: str
    subdirectory: str
    tags: Sequence[str]
    source: dict[str, Any]
    """Where the input came from: {"upload": ...} or {"archive_url": ...}."""
    started_ms: int | None
    finished_ms: int
    base_images: Sequence[BaseImage] = ()
    input_digest: str | None = None
    """The digest of the build's input (the uploaded file or the fetched archive)."""
    trigger: dict[str, Any] | None = None
    """The build trigger (service, ref, commit) when a trigger started the build."""
    extra: dict[str, Any] = field(default_factory=dict)


def _time(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _resource(base: BaseImage) -> dict[str, Any]:
    out: dict[str, Any] = {"uri": f"docker://{base.reference}"}
    if base.digest:
        algorithm, _, hexa = base.digest.partition(":")
        out["digest"] = {algorithm: hexa}
    return out


def _dependencies(facts: BuildFacts) -> list[dict[str, Any]]:
    found = [_resource(b) for b in facts.base_images]
    if facts.input_digest:
        algorithm, _, hexa = facts.input_digest.partition(":")
        source: dict[str, Any] = {"name": "build-input", "digest": {algorithm: hexa}}
        if isinstance(facts.source.get("archive_url"), str):
            source["uri"] = facts.source["archive_url"]
        found.append(source)
    return found


def statement(facts: BuildFacts) -> dict[str, Any]:
    """The in-toto Statement v1 with the SLSA Provenance v1 predicate of a build."""
    algorithm, _, hexa = facts.digest.partition(":")
    external: dict[str, Any] = {
        "dockerfile": facts.dockerfile_path,
        "context": facts.context,
        "subdirectory": facts.subdirectory,
        "tags": list(facts.tags),
        "source": facts.source,
    }
    if facts.trigger is not None:
        external["trigger"] = facts.trigger
    metadata: dict[str, Any] = {"invocationId": facts.build_uuid, "finishedOn": _time(facts.finished_ms)}
    if facts.started_ms is not None:
        metadata["startedOn"] = _time(facts.started_ms)
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": facts.image, "digest": {algorithm: hexa}}],
        "predicateType": SLSA_PROVENANCE_V1,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": external,
                "internalParameters": {"isolation": "chroot", **facts.extra},
                "resolvedDependencies": _dependencies(facts),
            },
            "runDetails": {
                "builder": {"id": facts.builder_id, "version": {"wharf": facts.wharf_version}},
                "metadata": metadata,
            },
        },
    }


# DSSE ------------------------------------------------------------------------------------------


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what is signed, binding the type to the payload."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def envelope(payload: bytes, signature: bytes, keyid: str) -> dict[str, Any]:
    return {
        "payloadType": INTOTO_PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": keyid, "sig": base64.b64encode(signature).decode()}],
    }


def bundle(dsse: dict[str, Any], keyid: str) -> dict[str, Any]:
    """A Sigstore bundle v0.3 holding the envelope, naming the key by its hint (no certificate,
    no log entry: a key-verified bundle)."""
    return {
        "mediaType": BUNDLE_MEDIA_TYPE,
        "verificationMaterial": {"publicKey": {"hint": keyid}},
        "dsseEnvelope": dsse,
    }


def _b64(value: Any, what: str) -> bytes:
    if not isinstance(value, str):
        raise ProvenanceInvalid(f"the envelope's {what} is not a string")
    try:
        return base64.b64decode(value, validate=True)
    except ValueError:
        raise ProvenanceInvalid(f"the envelope's {what} is not base64") from None


def envelope_parts(dsse: Any) -> tuple[bytes, list[bytes]]:
    """The payload of an in-toto DSSE envelope and its signatures, or ProvenanceInvalid."""
    if not isinstance(dsse, dict):
        raise ProvenanceInvalid("the envelope is not a JSON object")
    if dsse.get("payloadType") != INTOTO_PAYLOAD_TYPE:
        raise ProvenanceInvalid(f"the envelope's payloadType is not {INTOTO_PAYLOAD_TYPE}")
    payload = _b64(dsse.get("payload"), "payload")
    signatures = dsse.get("signatures")
    if not isinstance(signatures, list) or not signatures:
        raise ProvenanceInvalid("the envelope has no signature")
    return payload, [_b64(s.get("sig") if isinstance(s, dict) else None, "signature") for s in signatures]


def read_statement(payload: bytes, digest: str) -> dict[str, Any]:
    """The statement of a verified payload, checked to be SLSA provenance about `digest`."""
    try:
        found = json.loads(payload)
    except ValueError:
        raise ProvenanceInvalid("the payload is not JSON") from None
    if not isinstance(found, dict) or found.get("_type") != STATEMENT_TYPE:
        raise ProvenanceInvalid("the payload is not an in-toto Statement v1")
    if found.get("predicateType") != SLSA_PROVENANCE_V1:
        raise ProvenanceInvalid("the statement is not SLSA Provenance v1")
    algorithm, _, hexa = digest.partition(":")
    subjects = found.get("subject")
    if not isinstance(subjects, list) or not any(
        isinstance(s, dict) and isinstance(s.get("digest"), dict) and s["digest"].get(algorithm) == hexa
        for s in subjects
    ):
        raise ProvenanceInvalid(f"the statement is not about {digest}")
    return found


# The referrer ----------------------------------------------------------------------------------

EMPTY_CONFIG: Final = b"{}"
EMPTY_MEDIA_TYPE: Final = "application/vnd.oci.empty.v1+json"
OCI_MANIFEST: Final = "application/vnd.oci.image.manifest.v1+json"


def referrer(
    artifact_type: str,
    layer: bytes,
    subject_type: str,
    subject_size: int,
    digest: str,
    annotations: dict[str, str],
    layer_annotations: dict[str, str] | None = None,
) -> bytes:
    """An OCI 1.1 artifact manifest: the empty config, `layer` as its one layer, `subject` the
    built image; the bytes are deterministic for the same arguments."""
    described: dict[str, Any] = {
        "mediaType": artifact_type,
        "digest": str(Digest.of(layer)),
        "size": len(layer),
    }
    if layer_annotations:
        described["annotations"] = layer_annotations
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": artifact_type,
        "config": {"mediaType": EMPTY_MEDIA_TYPE, "digest": str(Digest.of(EMPTY_CONFIG)), "size": 2},
        "layers": [described],
        "subject": {"mediaType": subject_type, "digest": digest, "size": subject_size},
        "annotations": annotations,
    }
    return json.dumps(manifest, separators=(",", ":")).encode()


def created(ms: int) -> str:
    return _time(ms)
