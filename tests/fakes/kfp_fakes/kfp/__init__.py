"""The Kubeflow Pipelines v2beta1 API server fake: `FakeKfp` (server.py), its records (store.py) and
how it reads list queries and answers errors (query.py)."""

from kfp_fakes.kfp.server import API, RUN_STATES, TERMINAL_STATES, FakeKfp

__all__ = ["API", "RUN_STATES", "TERMINAL_STATES", "FakeKfp"]
