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
        try:
            config.load_kube_config(
                config_file=os.environ.get("KUBECONFIG") or None, client_configuration=configuration
            )
        except (config.ConfigException, OSError) as exc:
            raise ConfigurationError(
                f"RUNCONFIGURATIONS=kubernetes but there is no in-cluster config and no usable KUBECONFIG: {exc}"
            ) from exc
    return k8s.ApiClient(configuration)
