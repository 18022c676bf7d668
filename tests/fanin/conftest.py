"""Fan-in tests reuse reconcile's fixtures (the CLI on the cluster's environment)."""

from tests.reconcile.conftest import cluster_env, reconcile_cli

__all__ = ["cluster_env", "reconcile_cli"]
