"""The OCI Distribution HTTP surface (/v2): thin handlers over core, OCI error JSON."""
