"""The browser-facing pages."""
