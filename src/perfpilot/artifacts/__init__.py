"""Where perfpilot keeps files it makes or fetches, written atomically and checksummed."""

from perfpilot.artifacts.store import (
    atomic_write_bytes,
    atomic_write_text,
    build_key,
    cache_dir,
    file_lock,
    sha256_file,
)

__all__ = [
    "atomic_write_bytes",
    "atomic_write_text",
    "build_key",
    "cache_dir",
    "file_lock",
    "sha256_file",
]
