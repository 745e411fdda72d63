"""An OSV record's severity on Quay's scale, by the Clair severity mapping tables that Quay's
documentation publishes (the seed's "Clair severity mapping"), followed exactly:

- a distribution's own rating, by that distribution's table (Debian's is shifted one step up:
  its "low" is Clair's Medium; Alpine's SecDB has no ratings, so Alpine's are all Unknown);
- otherwise a CVSS vector's base score, by the OSV tables: v3 (and v4, whose qualitative bands
  are v3's) 0.0 Negligible, 0.1-3.9 Low, 4.0-6.9 Medium, 7.0-8.9 High, 9.0-10.0 Critical; v2
  0.0-3.9 Low, 4.0-6.9 Medium, 7.0-10.0 High;
- otherwise a rating word the source gives in `database_specific.severity` (GitHub's advisories:
  LOW, MODERATE, HIGH, CRITICAL), read as Clair's OSV updater reads it;
- otherwise Unknown.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError


class Severity(enum.Enum):
    """Quay's (Clair's) levels, lowest first; `.value` is the string Quay's API shows."""

    UNKNOWN = "Unknown"
    NEGLIGIBLE = "Negligible"
    LOW = "Low"
    MEDIUM = "Medium"
    HIGH = "High"
    CRITICAL = "Critical"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {s: i for i, s in enumerate(Severity)}

U, N, L, M, H, C = (
    Severity.UNKNOWN,
    Severity.NEGLIGIBLE,
    Severity.LOW,
    Severity.MEDIUM,
    Severity.HIGH,
    Severity.CRITICAL,
)

# The distributions' tables, keyed by the lowercased rating; a rating a table lacks is Unknown
# (the tables' "*", "N/A", "None", "Untriaged" rows).
_DEBIAN = {"unimportant": L, "low": M, "medium": H, "high": C}
_UBUNTU = {"untriaged": U, "negligible": N, "low": L, "medium": M, "high": H, "critical": C}
_RHEL = {"none": U, "low": L, "moderate": M, "important": H, "critical": C}
_ORACLE = {"n/a": U, "low": L, "moderate": M, "important": H, "critical": C}
_AWS = {"low": L, "medium": M, "important": H, "critical": C}
_ALPINE: dict[str, Severity] = {}

_DISTRIBUTIONS: dict[str, dict[str, Severity]] = {
    "Debian": _DEBIAN,
    "Ubuntu": _UBUNTU,
    "Red Hat": _RHEL,
    # Rebuilds of RHEL publish Red Hat's own ratings.
    "AlmaLinux": _RHEL,
    "Rocky Linux": _RHEL,
    "SUSE": _RHEL,  # SUSE's table is RHEL's, row for row
    "openSUSE": _RHEL,
    "Oracle Linux": _ORACLE,
    "Amazon Linux": _AWS,
    "Alpine": _ALPINE,
}

# Clair's OSV updater reading a source's rating word (GitHub: LOW, MODERATE, HIGH, CRITICAL).
_WORDS = {"none": N, "negligible": N, "low": L, "moderate": M, "medium": M, "high": H, "critical": C}


def from_score(score: float, cvss_version: int) -> Severity:
    """A CVSS base score on Quay's scale, by the OSV tables (v2 has its own)."""
    if cvss_version == 2:
        return L if score < 4.0 else M if score < 7.0 else H
    if score == 0.0:
        return N
    return L if score < 4.0 else M if score < 7.0 else H if score < 9.0 else C


@dataclass(frozen=True, slots=True)
class Rating:
    severity: Severity
    score: float | None = None
    """The CVSS base score the severity came from, if it came from one."""
    vector: str | None = None


def from_vector(vector: str) -> Rating | None:
    """A CVSS vector's rating (v2 without a prefix, "CVSS:3.x/...", "CVSS:4.0/..."), or None if
    the vector is malformed."""
    try:
        if vector.startswith("CVSS:4."):
            score, version = float(CVSS4(vector).base_score), 4
        elif vector.startswith("CVSS:3."):
            score, version = float(CVSS3(vector).base_score), 3
        else:
            score, version = float(CVSS2(vector).base_score), 2
    except (CVSSError, ValueError, KeyError, TypeError):
        return None
    return Rating(from_score(score, version), score, vector)


def _severities(record: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    entries = list(_dicts(record.get("severity")))
    for affected in _dicts(record.get("affected")):
        entries.extend(_dicts(affected.get("severity")))
    return entries


def _dicts(value: Any) -> Iterable[Mapping[str, Any]]:
    return (v for v in value if isinstance(v, Mapping)) if isinstance(value, list) else ()


def _ecosystem(record: Mapping[str, Any]) -> str:
    for affected in _dicts(record.get("affected")):
        package = affected.get("package")
        if isinstance(package, Mapping) and isinstance(package.get("ecosystem"), str):
            return str(package["ecosystem"]).split(":", 1)[0]
    return ""


def _distribution_rating(record: Mapping[str, Any], table: dict[str, Severity]) -> Severity | None:
    """The distribution's own word: a severity entry of its own type (OSV's "Ubuntu"), or the
    `severity` or `urgency` (Debian's tracker) its source writes in the specific fields."""
    words = [
        str(s.get("score", "")) for s in _severities(record) if not str(s.get("type", "")).startswith("CVSS")
    ]
    for holder in [record, *_dicts(record.get("affected"))]:
        for key in ("database_specific", "ecosystem_specific"):
            extra = holder.get(key)
            if isinstance(extra, Mapping):
                words += [str(extra[k]) for k in ("severity", "urgency") if isinstance(extra.get(k), str)]
    if not words:
        return None
    # Debian's tracker marks guesses with "**" ("low**"); the rating is the word.
    return table.get(words[0].strip().rstrip("*").strip().lower(), U)


_CVSS_PREFERENCE = ("CVSS_V3", "CVSS_V4", "CVSS_V2")


def _cvss_rating(record: Mapping[str, Any]) -> Rating | None:
    entries = _severities(record)
    for kind in _CVSS_PREFERENCE:
        for entry in entries:
            if entry.get("type") == kind and isinstance(entry.get("score"), str):
                rating = from_vector(entry["score"])
                if rating is not None:
                    return rating
    return None


def rate(record: Mapping[str, Any]) -> Rating:
    """The severity of one OSV record (see the module's docstring for the order of sources).
    CVSS v3 is preferred to v4 and v2 when a record has several, as the seed's first table is.
    The CVSS score and vector are kept even when a distribution's word decides the severity:
    Quay's report shows them too (`BaseScores`, `Metadata`)."""
    cvss = _cvss_rating(record)
    score, vector = (cvss.score, cvss.vector) if cvss is not None else (None, None)
    table = _DISTRIBUTIONS.get(_ecosystem(record))
    if table is _ALPINE:
        return Rating(U, score, vector)
    if table is not None:
        own = _distribution_rating(record, table)
        if own is not None:
            return Rating(own, score, vector)
    if cvss is not None:
        return cvss
    extra = record.get("database_specific")
    word = extra.get("severity") if isinstance(extra, Mapping) else None
    if isinstance(word, str) and word.strip().lower() in _WORDS:
        return Rating(_WORDS[word.strip().lower()])
    return Rating(U)
