"""Where perfpilot keeps files it makes or fetches, written atomically and checksummed.

``files``: cache folder, atomic writes, hashing, locks; ``store``: the content-addressed
store; ``download``: fetching into it; ``maintenance``: verify and gc; ``derived``: the
one builder of artifacts made here (models, compiled modules, preprocessed arrays).
"""

from perfpilot.artifacts.files import (
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
