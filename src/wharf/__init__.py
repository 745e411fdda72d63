"""Wharf: a container image registry."""

__version__ = "0.1.0"
