"""Encryption of secrets that must be shown again (robot tokens), with a key outside the database.

The key is `DATABASE_SECRET_KEY` from the configuration (as in Quay; every node of a cluster must
share it), or else a key generated once into DATA_DIR/keys/database-secret.key.

cryptography (~9 MiB with its Rust extension and OpenSSL) is imported on the first seal or open, not
with this module: a server that has not yet needed a secret does not hold it (docs/performance.md).
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.fernet import Fernet


class SecretBox:
    def __init__(self, key_material: str) -> None:
        # Any string the operator chose becomes a valid Fernet key.
        self._key = base64.urlsafe_b64encode(hashlib.sha256(key_material.encode()).digest())
        self._built: Fernet | None = None

    @property
    def _fernet(self) -> Fernet:
        """The Fernet of the key, made on first use (that imports cryptography). Two threads may
        both make one: the same key, so no harm."""
        if self._built is None:
            from cryptography.fernet import Fernet

            self._built = Fernet(self._key)
        return self._built

    @classmethod
    def from_settings(cls, configured: str | None, key_file: Path) -> SecretBox:
        if configured:
            return cls(configured)
        if not key_file.exists():
            key_file.parent.mkdir(parents=True, exist_ok=True)
            tmp = key_file.with_suffix(f".{os.getpid()}.tmp")
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(base64.urlsafe_b64encode(os.urandom(32)).decode())
            try:
                os.link(tmp, key_file)  # the first process to get here wins
            except FileExistsError:
                pass
            finally:
                tmp.unlink(missing_ok=True)
        return cls(key_file.read_text().strip())

    def seal(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def open(self, ciphertext: str) -> str | None:
        fernet = self._fernet
        from cryptography.fernet import InvalidToken  # loaded by now: a lookup in sys.modules

        try:
            return fernet.decrypt(ciphertext.encode()).decode()
        except (InvalidToken, ValueError):
            return None
