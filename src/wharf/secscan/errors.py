"""The errors of scanning, each carrying the reason a report shows (Quay's `failed` status)."""


class IndexingError(Exception):
    """A layer that cannot be indexed: corrupt, hostile (absolute paths, `..`, huge headers,
    decompression bombs) or over a limit. `reason` is one sentence for the report and the log."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
