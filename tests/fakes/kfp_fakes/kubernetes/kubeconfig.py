"""A kubeconfig that points the `kubernetes` client at a fake API server: what tests and the bench hand the code."""

from __future__ import annotations

import json
from pathlib import Path

__all__ = ["write_kubeconfig"]


def write_kubeconfig(path: Path, server: str, token: str = "test-token") -> Path:
    """Writes it to `path` (JSON is YAML, so the client reads it) and returns `path`."""
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "fake", "cluster": {"server": server}}],
        "users": [{"name": "fake", "user": {"token": token}}],
        "contexts": [{"name": "fake", "context": {"cluster": "fake", "user": "fake"}}],
        "current-context": "fake",
    }
    path.write_text(json.dumps(config))
    return path
