"""`kfp-chain run NS/NAME` with KFP_HOST: one run of a RunConfiguration on a cluster's KFP, by hand.

What the command does apart from parsing options (without KFP_HOST it keeps the local runner,
`adapters/local/runner.start_by_hand`). The RunConfiguration is read from where RUNCONFIGURATIONS
says (the cluster or a folder), its `valueFrom` parameters from the upstreams' `latestRuns`, and the
run is started through `KfpLauncher`, the launcher the function uses: the same pipeline, version
and experiment lookups, and the ownership marker in the run's description, so the poll pass of
plain KFP recognises the run as this RunConfiguration's and its completion feeds its dependents.
`--wait` follows the run to its end; the exit status is 0 only when it SUCCEEDED.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import click

from ..adapters.ports import TERMINAL_STATES, RunConfigurationSource, RunRequest
from ..errors import ConfigurationError, PermanentError
from ..parameters import resolve_latest
from ..runconfiguration import RcKey
from ..settings import Settings

__all__ = ["run_link", "start_on_kfp"]


def run_link(ui_host: str, run_id: str) -> str:
    """The KFP UI's page of a run (the address `kfp.Client` prints too)."""
    return f"{ui_host.rstrip('/')}/#/runs/details/{run_id}"


def _source(settings: Settings) -> RunConfigurationSource:
    if settings.from_kubernetes:
        from ..adapters.kubernetes.client import kubernetes_api_client
        from ..adapters.kubernetes.source import KubernetesSource

        return KubernetesSource(
            kubernetes_api_client(), settings.group, settings.version, settings.namespaces
        )
    from pathlib import Path

    from ..adapters.folder.source import FolderSource

    return FolderSource(
        Path(settings.runconfigurations), settings.state_db, settings.namespaces, settings.group
    )


def start_on_kfp(
    settings: Settings,
    key: RcKey,
    wait: bool,
    poll_seconds: float = 5.0,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Starts the run, prints its id (and a link with KFP_UI_HOST); the exit status."""
    from ..adapters.kfp.launcher import KfpLauncher
    from ..service.app import build_launcher

    source = _source(settings)
    rc = source.get(key)
    if rc is None:
        raise PermanentError(f"RunConfiguration {key} does not exist ({settings.runconfigurations})")
    if not rc.pipeline:
        raise PermanentError(f"RunConfiguration {key} names no pipeline")
    parameters = resolve_latest(rc, source.get).values
    launcher = build_launcher(settings, [])
    if not isinstance(launcher, KfpLauncher):  # pragma: no cover - KFP_HOST makes it one
        raise ConfigurationError("kfp-chain run on a cluster needs KFP_HOST")
    request = RunRequest(
        runconfiguration=key,
        display_name=f"{key} by hand {uuid.uuid4()}",
        pipeline=rc.pipeline,
        experiment=rc.experiment or settings.default_experiment,
        parameters=parameters,
        artifacts=rc.artifacts,
        labels={"kfp-chain/trigger": "by-hand"},
    )
    run_id = launcher.start_run(request)
    click.echo(f"started KFP run {run_id} ({request.display_name})")
    if settings.kfp_ui_host:
        click.echo(run_link(settings.kfp_ui_host, run_id))
    if not wait:
        return 0
    while True:
        state = launcher.run_state(run_id)
        if state is None:
            raise PermanentError(f"KFP no longer knows run {run_id}")
        if state in TERMINAL_STATES:
            click.echo(f"KFP run {run_id} ended {state}")
            return 0 if state == "SUCCEEDED" else 1
        sleep(poll_seconds)
