"""Output artifacts of a finished run from ML Metadata over gRPC (plain KFP up to 2.18).

`MlmdArtifactResolver` implements `ports.ArtifactResolver`; `messages` declares the ML Metadata
messages it needs from their field numbers (no `ml-metadata` wheel: it needs protobuf 4, kfp 2.17
needs 6), and `errors.mlmd_errors` is where gRPC statuses become kfp-chain's errors.
"""

from .resolver import MlmdArtifactResolver

__all__ = ["MlmdArtifactResolver"]
