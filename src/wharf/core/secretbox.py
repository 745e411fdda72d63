"""Encryption of secrets that must be shown again (robot tokens), with a key outside the database.

The key is `DATABASE_SECRET_KEY` from the configuration (as in Quay; every node of a cluster must
share it), or else a key generated once into DATA_DIR/keys/database-secret.key.
"""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken


class SecretBox:
    def __init__(self, key_material: str) -> None:
        # Any string the operator chose becomes a valid Fernet key.
        key = base64.urlsafe_b64encode(hashlib.sha256(key_material.encode()).digest())
        self._fernet = Fernet(key)

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
        try:
            return self._fernet.decrypt(ciphertext.encode()).decode()
        except (InvalidToken, ValueError):
            return None
