"""Use cases: what a surface asks Wharf to do, written once, async.

A service function owns the whole of one use case: its database transactions (each run through
`core` functions, which do the state change and write its audit entry), its reads and writes of
the blob store, and its outbound calls. Surfaces (`registry` for /v2, `api` for /api/v1, `web`)
and workers (`jobs`) call services and stay thin: they parse the request, check what the caller
may do, and turn domain errors into their own wire format. Services import `core`, `storage`,
`oci` and `integrations`, never a surface.
"""
