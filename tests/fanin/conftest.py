"""Fan-in tests reuse reconcile's fixtures (the CLI on the cluster's environment, `cluster_env` of the root conftest)."""

from tests.reconcile.conftest import reconcile_cli

__all__ = ["reconcile_cli"]
