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

# Alpine 3.19's openssl, fixed by 3.1.4-r6 (the sample apk database has libcrypto3 3.1.4-r5, built
# from openssl: affected). Alpine's secdb has no ratings: Unknown, whatever the CVSS says.
ALPINE_OPENSSL: dict[str, Any] = {
    "id": "ALPINE-CVE-2024-2511",
    "modified": "2024-06-07T10:00:00Z",
    "upstream": ["CVE-2024-2511"],
    "details": "Some non-default TLS server configurations can cause unbounded memory growth when "
    "processing TLSv1.3 sessions.",
    "affected": [
        {
            "package": {"name": "openssl", "ecosystem": "Alpine:v3.19"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.1.4-r6"}]}],
        }
    ],
    "references": [{"type": "ADVISORY", "url": "https://security.alpinelinux.org/vuln/CVE-2024-2511"}],
}

# GitHub's advisory for requests' Proxy-Authorization leak (CVE-2023-32681), fixed in 2.31.0.
REQUESTS_PROXY: dict[str, Any] = {
    "id": "GHSA-j8r2-6x86-q33q",
    "modified": "2024-06-21T21:33:27Z",
    "aliases": ["CVE-2023-32681", "PYSEC-2023-74"],
    "summary": "Unintended leak of Proxy-Authorization header in requests",
    "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:C/C:H/I:N/A:N"}],
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "requests"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "2.3.0"}, {"fixed": "2.31.0"}]}],
        }
    ],
    "references": [
        {"type": "WEB", "url": "https://github.com/psf/requests/security/advisories/GHSA-j8r2-6x86-q33q"},
        {"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2023-32681"},
    ],
    "database_specific": {"severity": "MODERATE"},
}


def write_zip(path: Path, records: list[dict[str, Any]]) -> Path:
    """A zip as osv.dev publishes one per ecosystem: one `<id>.json` per record."""
    with zipfile.ZipFile(path, "w") as z:
        for record in records:
            z.writestr(f"{record['id']}.json", json.dumps(record))
    return path
