"""The `kubernetes` API client kfp-chain's Kubernetes adapters share."""

from __future__ import annotations

import os

from kubernetes import client as k8s

from ...errors import ConfigurationError

__all__ = ["kubernetes_api_client"]


def kubernetes_api_client() -> k8s.ApiClient:
    """In-cluster config when running in a pod, else KUBECONFIG / ~/.kube/config.

    KUBECONFIG is read here rather than by the client, which reads it once at import time.
    """
    from kubernetes import config

    configuration = k8s.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)
    except config.ConfigException:
        path = os.environ.get("KUBECONFIG") or None
        try:
            config.load_kube_config(config_file=path, client_configuration=configuration)
        except Exception as exc:  # a malformed file fails in yaml, or deep in the loader (TypeError...)
            where = path or os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)
            raise ConfigurationError(
                "RUNCONFIGURATIONS=kubernetes but there is no in-cluster config and the kubeconfig "
                f"{where} is not usable: {_first_line(exc)}"
            ) from exc
    return k8s.ApiClient(configuration)


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{lines[0]} ({type(exc).__name__})" if lines else type(exc).__name__
