"""The Quay-compatible REST surface (/api/v1): same paths, fields and operation names as Quay."""
