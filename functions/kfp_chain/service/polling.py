"""Wiring of the poll of plain KFP: KFP's runs, the artifact resolver and the mark, on an App's chain.

Where it sits: `app.build_poll_app` (the `on_kfp_poll` function, `kfp-chain poll`) and the trigger
function's first Workflow nudge (`nudge.py`) build their `Poller` here, so both hear runs through the
same lister, resolver and mark. Every plain-KFP adapter is imported on use: a deployment that never
polls loads none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ..errors import ConfigurationError
from ..settings import Settings

if TYPE_CHECKING:
    from .app import App

__all__ = ["build_poller"]


def build_poller(settings: Settings, app: App) -> Any:
    """A `service.poll.Poller` on `app`'s chain: the poll's, or the trigger function's for nudges."""
    if not settings.kfp_host:
        raise ConfigurationError("the poll of plain KFP needs KFP_HOST")
    from ..adapters.kfp.launcher import kfp_client, pipeline_display_name
    from ..adapters.kfp.runs import KfpRunLister
    from ..observability.metrics import PollMetrics
    from .poll import Poller, PollOptions

    host, s = settings.kfp_host, settings

    def client() -> Any:
        return kfp_client(host, s.kfp_token, s.kfp_token_file, s.kfp_namespace, s.request_timeout)

    runs = KfpRunLister(client)
    options = PollOptions(
        lookback=timedelta(seconds=settings.poll_lookback_seconds),
        give_up=timedelta(seconds=settings.poll_give_up_seconds),
        multi_user=settings.multi_user,
        namespaces=settings.namespaces,
        kfp_namespace=settings.kfp_namespace,
        default_experiment=settings.default_experiment,
        pipeline_of=lambda rc: pipeline_display_name(rc.pipeline, rc.key.namespace, settings.pipeline_naming)[
            0
        ],
    )
    metrics = PollMetrics(app.metrics.registry)
    resolver = _resolver(settings, client, app.closers)
    return Poller(app.chain, runs, _mark_store(settings), resolver, options, metrics.observe)


def _mark_store(settings: Settings) -> Any:
    lookback = timedelta(seconds=settings.poll_lookback_seconds)
    if settings.from_kubernetes:
        from ..adapters.kubernetes.client import kubernetes_api_client
        from ..adapters.kubernetes.mark import ConfigMapMarkStore

        return ConfigMapMarkStore(
            kubernetes_api_client(), settings.poll_mark, lookback, settings.request_timeout
        )
    from ..adapters.folder.mark import SqliteMarkStore

    return SqliteMarkStore(settings.state_db, lookback)


def _resolver(
    settings: Settings, client_factory: Callable[[], Any], closers: list[Callable[[], None]]
) -> Callable[[], Any]:
    """The ArtifactResolver KFP_CHAIN_ARTIFACT_SOURCE names, made when a run first needs its outputs."""

    def make() -> Any:
        if settings.artifact_source == "kfp":  # KFP's native task API (the line after 2.18)
            from ..adapters.kfp.artifacts import KfpArtifactResolver

            return KfpArtifactResolver(client_factory)
        from ..adapters.mlmd import MlmdArtifactResolver  # ML Metadata over gRPC (KFP <= 2.18)

        resolver = MlmdArtifactResolver(settings.mlmd_address, sum(settings.request_timeout))
        closers.append(resolver.close)
        return resolver

    return make
