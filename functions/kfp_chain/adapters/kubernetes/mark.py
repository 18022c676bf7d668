"""The poll's watermark in a ConfigMap (`MarkStore` when RunConfigurations live in the cluster).

Where it sits: `service/poll.py` loads it at the start of a pass and saves it at the end; every
replica and the CLI share it. `KFP_CHAIN_POLL_MARK` names it (`namespace/name`); it is created on
first use. A write replaces the ConfigMap with the resourceVersion it read (a PUT precondition):
409 means another poller wrote first, so the store reads theirs, `watermark.merge`s and tries again.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from kubernetes import client as k8s

from ...errors import BackendUnavailable
from ...watermark import Mark, from_json, merge, to_json
from .errors import Conflict, NotFound, kubernetes_errors

__all__ = ["ConfigMapMarkStore"]

KEY = "mark.json"
ATTEMPTS = 20


class ConfigMapMarkStore:
    def __init__(
        self,
        api_client: k8s.ApiClient,
        mark: str,
        lookback: timedelta,
        timeout: tuple[float, float] = (5.0, 15.0),
    ) -> None:
        self.namespace, _, self.name = mark.partition("/")
        self.api = k8s.CoreV1Api(api_client)
        self.lookback, self.timeout = lookback, timeout

    def _read(self) -> tuple[str | None, Mark]:
        try:
            with kubernetes_errors(f"read ConfigMap {self.namespace}/{self.name}"):
                found: Any = self.api.read_namespaced_config_map(
                    self.name, self.namespace, _request_timeout=self.timeout
                )
        except NotFound:
            return None, Mark()
        text = (found.data or {}).get(KEY) or "{}"
        try:
            data = json.loads(text)
        except ValueError:
            data = None
        return str(found.metadata.resource_version), from_json(data)

    def load(self) -> Mark:
        return self._read()[1]

    def save(self, mark: Mark) -> Mark:
        for _ in range(ATTEMPTS):
            version, stored = self._read()
            merged = merge(mark, stored, self.lookback)
            body = k8s.V1ConfigMap(
                metadata=k8s.V1ObjectMeta(
                    name=self.name,
                    namespace=self.namespace,
                    resource_version=version,
                    labels={"app.kubernetes.io/name": "kfp-chain", "app.kubernetes.io/component": "poll"},
                ),
                data={KEY: json.dumps(to_json(merged), separators=(",", ":"))},
            )
            try:
                if version is None:
                    with kubernetes_errors(f"create ConfigMap {self.namespace}/{self.name}"):
                        self.api.create_namespaced_config_map(
                            self.namespace, body, _request_timeout=self.timeout
                        )
                else:
                    with kubernetes_errors(f"replace ConfigMap {self.namespace}/{self.name}"):
                        self.api.replace_namespaced_config_map(
                            self.name, self.namespace, body, _request_timeout=self.timeout
                        )
            except Conflict:  # another poller wrote (or created) first: merge with theirs
                continue
            return merged
        raise BackendUnavailable(
            f"poll mark {self.namespace}/{self.name}: {ATTEMPTS} writers in a row wrote first"
        )
