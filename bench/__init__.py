"""Wharf next to CNCF distribution on loopback: `python -m bench`."""
