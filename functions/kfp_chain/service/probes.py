"""What the probes and start-up of the served targets may know beyond `App`: whether the function can serve.

Beside `app` in `service/`: `functions/main.py` calls `check_start_up` at import, so an unusable
configuration stops the process (exit 2, one line) instead of answering 500s, and the reconcile
target's `/readyz` reads its source here.
"""

from __future__ import annotations

from typing import Any

from ..errors import KfpChainError
from ..settings import Settings
from .app import App

__all__ = ["check_start_up", "reconcile_readiness"]


def check_start_up(settings: Settings) -> None:
    """A kubeconfig that cannot be loaded stops the process (exit 2), not 500s per request; unreachable is /readyz's."""
    if settings.from_kubernetes:
        from ..adapters.kubernetes.client import kubernetes_api_client

        kubernetes_api_client().close()


def reconcile_readiness(app: App) -> tuple[bool, dict[str, Any]]:
    """The reconcile target's `/readyz`: its source read now (which also sets the index-size gauge)."""
    try:
        size = len(app.index.current())  # the MeasuredIndex records the size
    except KfpChainError as exc:
        return False, {"ready": False, "reason": str(exc)}
    ready, body = app.readiness()
    return ready, {**body, "runConfigurations": size}
