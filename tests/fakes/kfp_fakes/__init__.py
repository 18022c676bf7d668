"""Test doubles of the APIs kfp-chain calls, as real servers on loopback (moto-style).

`kfp_fakes.kubernetes.FakeKubernetes` plays kube-apiserver for the real `kubernetes` client,
`kfp_fakes.kfp.FakeKfp` plays the KFP API server for the real `kfp.Client`; both share the HTTP
plumbing of `http.py` and the fault injection of `faults.py`. `kfp_fakes.mlmd.FakeMlmd` plays ML
Metadata's gRPC server for `MlmdArtifactResolver` (real gRPC, the same fault injection).

A package of its own, not part of the `tests` package: it imports nothing from tests/ and not pytest,
so `make bench` runs it (PYTHONPATH=tests/fakes) without any conftest; pytest finds it through
`pythonpath` in pyproject.toml. Import it only as `kfp_fakes` (tests/fakes/test_importable_alone.py
checks both).
"""
