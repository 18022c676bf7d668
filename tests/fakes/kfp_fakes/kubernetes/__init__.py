"""The Kubernetes API server fake: `FakeKubernetes` (server.py) and what tests configure on it.

Modules, one job each: server.py (the test-side API and routes), custom.py (reads and writes of
namespaced resources), schema.py (pruning and validation by the CRD's schema), meta.py (ObjectMeta
rules), storage.py (objects, resourceVersion, history, paging snapshots), watch.py (watch streams),
core.py (Event rules, TokenReview), errors.py (Status bodies), resources.py (CRD loading).
"""

from kfp_fakes.kubernetes.core import API_SERVER_AUDIENCE, TokenTable
from kfp_fakes.kubernetes.resources import DEFAULT_CRD_DIR, ResourceType
from kfp_fakes.kubernetes.server import FakeKubernetes

__all__ = ["API_SERVER_AUDIENCE", "DEFAULT_CRD_DIR", "FakeKubernetes", "ResourceType", "TokenTable"]
