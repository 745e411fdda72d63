"""Vulnerability scanning's pure parts: layer indexing, version comparison, severities.

Nothing here touches the database, the blob store, the network or the runtime: services and jobs
hand it streams and records and store what it returns (issue 16). It sits beside `auth` and
`integrations` in the layers of DESIGN.md and imports nothing of ours but `wharf.oci`.
"""
