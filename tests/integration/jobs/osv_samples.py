"""Real OSV records (Debian's, as osv.dev publishes them from the security tracker) for real
CVEs of the packages in tests/unit/secscan/samples.py, with their real fixed versions."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

# OpenSSL PKCS12 NULL dereference; fixed in bookworm by 3.0.13-1~deb12u1 (the image has
# 3.0.11-1~deb12u2: affected).
OPENSSL_PKCS12: dict[str, Any] = {
    "id": "DEBIAN-CVE-2024-0727",
    "modified": "2024-09-18T03:24:21Z",
    "published": "2024-01-26T09:15:07Z",
    "upstream": ["CVE-2024-0727"],
    "aliases": ["CVE-2024-0727"],
    "summary": "openssl: denial of service via null dereference in PKCS12 parsing",
    "details": "Processing a maliciously formatted PKCS12 file may lead OpenSSL to crash "
    "leading to a potential Denial of Service attack.",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:N/UI:R/S:U/C:N/I:N/A:H"}],
    "affected": [
        {
            "package": {"name": "openssl", "ecosystem": "Debian:12"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.13-1~deb12u1"}]}],
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-0727"}],
}

# OpenSSL X.400 type confusion; fixed in bookworm before its release (3.0.8-1): not affected.
OPENSSL_X400: dict[str, Any] = {
    "id": "DEBIAN-CVE-2023-0286",
    "modified": "2024-09-18T03:21:33Z",
    "aliases": ["CVE-2023-0286"],
    "details": "There is a type confusion vulnerability relating to X.400 address processing.",
    "affected": [
        {
            "package": {"name": "openssl", "ecosystem": "Debian:12"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.8-1"}]}],
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2023-0286"}],
}

# glibc iconv ISO-2022-CN-EXT overflow; fixed in bookworm by 2.36-9+deb12u7 (the image has
# 2.36-9+deb12u4: affected).
GLIBC_ICONV: dict[str, Any] = {
    "id": "DEBIAN-CVE-2024-2961",
    "modified": "2024-09-18T03:25:54Z",
    "aliases": ["CVE-2024-2961"],
    "details": "The iconv() function in the GNU C Library may overflow the output buffer passed "
    "to it when converting strings to the ISO-2022-CN-EXT character set.",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
    "affected": [
        {
            "package": {"name": "glibc", "ecosystem": "Debian:12"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u7"}]}],
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2024-2961"}],
}

RECORDS = [OPENSSL_PKCS12, OPENSSL_X400, GLIBC_ICONV]


def write_zip(path: Path, records: list[dict[str, Any]]) -> Path:
    """A zip as osv.dev publishes one per ecosystem: one `<id>.json` per record."""
    with zipfile.ZipFile(path, "w") as z:
        for record in records:
            z.writestr(f"{record['id']}.json", json.dumps(record))
    return path
