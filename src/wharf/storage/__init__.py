"""Blob storage: a narrow driver protocol and its implementations."""

from wharf.storage.base import BlobStore, FileWriter, StorageError, StoragePathError, blob_path

__all__ = ["BlobStore", "FileWriter", "StorageError", "StoragePathError", "blob_path"]
