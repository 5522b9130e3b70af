"""Backends, registered by name with the extra that installs their runtime."""

from perfpilot.backends.base import Backend, BackendConfig
from perfpilot.backends.registry import BACKENDS, BackendEntry, create_backend, get_backend_entry

__all__ = [
    "BACKENDS",
    "Backend",
    "BackendConfig",
    "BackendEntry",
    "create_backend",
    "get_backend_entry",
]
