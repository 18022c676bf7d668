"""The ceiling: a functions-framework CloudEvent handler that does nothing.

Served exactly like the trigger function (same gunicorn, same WORKERS/THREADS), so the ratio
kfp-chain / no-op isolates what kfp-chain itself costs per event.
"""

from __future__ import annotations

from typing import Any

import functions_framework


@functions_framework.cloud_event  # type: ignore[untyped-decorator]
def noop(event: Any) -> None:
    return None
