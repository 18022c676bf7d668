"""The ML Metadata gRPC fake: `FakeMlmd` (server.py), what it holds and how KFP writes it
(store.py), and its own declaration of MLMD's messages (wire.py)."""

from kfp_fakes.mlmd.server import FakeMlmd, LoggedCall
from kfp_fakes.mlmd.store import DEFAULT_PIPELINE_ROOT, RecordedRun, Task, kfp_value

__all__ = ["DEFAULT_PIPELINE_ROOT", "FakeMlmd", "LoggedCall", "RecordedRun", "Task", "kfp_value"]
