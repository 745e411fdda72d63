"""The key that signs the provenance of built images: ECDSA P-256 with SHA-256, the kind of key
`cosign generate-key-pair` makes, so cosign verifies with the public key as it is published.

It is generated on first use into a file beside the database secret key (DATA_DIR/keys), mode
0600, and the private key in it is sealed with the secret box (core/secretbox.py): a copy of the
file alone does not sign. Builders on several machines share it as they share the secret box's
key (the same DATA_DIR/keys, or the file copied with DATABASE_SECRET_KEY set alike).

cryptography is imported on the first signature or verification, not with this module.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from wharf.core.build_provenance import ProvenanceInvalid, pae
from wharf.core.secretbox import SecretBox

KEY_FILE_NAME = "build-signing.key"


@dataclass(frozen=True, slots=True)
class SigningKey:
    private_pem: str
    public_pem: str

    @property
    def keyid(self) -> str:
        """The hint that names the key in envelopes and bundles: the SHA-256 of its public PEM."""
        return keyid_of(self.public_pem)

    def sign(self, payload_type: str, payload: bytes) -> bytes:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec

        key = serialization.load_pem_private_key(self.private_pem.encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))


def keyid_of(public_pem: str) -> str:
    return hashlib.sha256(public_pem.strip().encode()).hexdigest()


def _generate() -> SigningKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    public = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return SigningKey(private, public)


def load_or_create(key_file: Path, box: SecretBox) -> SigningKey:
    """The signing key of this installation, made on first use. The first process to write the
    file wins; a file the secret box cannot open is an error, never silently replaced (what was
    signed with it would no longer verify)."""
    if not key_file.exists():
        made = _generate()
        record = {"public": made.public_pem, "sealed_private": box.seal(made.private_pem)}
        key_file.parent.mkdir(parents=True, exist_ok=True)
        tmp = key_file.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(record, f)
        try:
            os.link(tmp, key_file)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    stored: dict[str, Any] = json.loads(key_file.read_text())
    private = box.open(str(stored.get("sealed_private", "")))
    if private is None:
        raise RuntimeError(f"{key_file} was sealed with another secret key (DATABASE_SECRET_KEY)")
    return SigningKey(private, str(stored["public"]))


def public_key(key_file: Path) -> str | None:
    """The public key's PEM, None before the first build signed anything."""
    if not key_file.exists():
        return None
    return str(json.loads(key_file.read_text())["public"])


def verify(public_pem: str, payload_type: str, payload: bytes, signatures: list[bytes]) -> None:
    """Raise ProvenanceInvalid unless one of `signatures` is the key's over the payload."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    try:
        key = serialization.load_pem_public_key(public_pem.encode())
    except ValueError:
        raise ProvenanceInvalid("the public key is not a PEM public key") from None
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ProvenanceInvalid("the public key is not an ECDSA key")
    signed = pae(payload_type, payload)
    for signature in signatures:
        try:
            key.verify(signature, signed, ec.ECDSA(hashes.SHA256()))
            return
        except InvalidSignature:
            continue
    raise ProvenanceInvalid("no signature of the envelope verifies with the key")
