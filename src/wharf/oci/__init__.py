"""Pure OCI/Docker format code: digests, names, media types, manifests. No I/O, no imports of ours."""
