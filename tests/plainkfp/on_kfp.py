"""Fixtures and builders for the plain-KFP tests of schedules, onChange and `kfp-chain run`.

The function's own code over real HTTP: the Kubernetes fake holds the RunConfigurations, the KFP
fake the pipelines, runs and recurring runs; reconcile runs as `kfp-chain reconcile` or as the App
the `on_reconcile` function builds. Test files import the fixtures they use from here.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import yaml
from click.testing import CliRunner
from kfp_chain.cli import main
from kfp_chain.service.app import App, build_reconcile_app
from kfp_chain.settings import Settings
from kfp_fakes.kfp import FakeKfp

from tests.builders import rc
from tests.support import ROOT

Reconcile = Callable[..., tuple[int, dict[str, Any]]]


@pytest.fixture
def kfp_env(cluster_env: dict[str, str]) -> dict[str, str]:
    """What a plain-KFP deployment gives reconcile: the cluster, KFP, and schedules on."""
    return {**cluster_env, "KFP_CHAIN_SCHEDULES": "true"}


@pytest.fixture
def reconcile(kfp_env: dict[str, str]) -> Reconcile:
    """`kfp-chain reconcile -o json` in this process; returns (exit code, JSON output)."""

    def run(**env: str) -> tuple[int, dict[str, Any]]:
        result = CliRunner().invoke(main, ["reconcile", "-o", "json"], env={**kfp_env, **env})
        assert result.exception is None or isinstance(result.exception, SystemExit), result.output
        return result.exit_code, json.loads(result.stdout) if result.stdout.strip() else {}

    return run


@pytest.fixture
def reconcile_apps(kfp_env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], App]]:
    """Builds the App `on_reconcile` runs on (one per replica); all are closed afterwards."""
    for key, value in kfp_env.items():
        monkeypatch.setenv(key, value)
    made: list[App] = []

    def make() -> App:
        app = build_reconcile_app(Settings.from_env(kfp_env))
        made.append(app)
        return app

    yield make
    for app in made:
        app.close()


def scheduled(
    namespace: str,
    name: str,
    *schedules: dict[str, str],
    pipeline: str = "pipe",
    parameters: list[dict[str, Any]] | None = None,
    on_change: list[str] | None = None,
    **kwargs: Any,
) -> dict[str, Any]:
    """A RunConfiguration with `triggers.schedules` (and onChange), as kubectl would apply it."""
    obj = rc(namespace, name, pipeline=pipeline, parameters=parameters, **kwargs)
    if schedules:
        obj["spec"]["triggers"]["schedules"] = list(schedules)
    if on_change:
        obj["spec"]["triggers"]["onChange"] = on_change
    return obj


def cron(expression: str, start: str | None = None, end: str | None = None) -> dict[str, str]:
    entry = {"cronExpression": expression}
    if start:
        entry["startTime"] = start
    if end:
        entry["endTime"] = end
    return entry


def apply_examples(kube: Any) -> None:
    """The seed tutorial's RunConfigurations as `kubectl apply -f examples/resources` leaves them."""
    for path in sorted((ROOT / "examples" / "resources").glob("runconfiguration_*.yaml")):
        kube.put(yaml.safe_load(path.read_text()))


def owned_by(kfp: FakeKfp, key: str) -> list[dict[str, Any]]:
    """The recurring runs whose description names RunConfiguration `key` as owner."""
    return [r for r in kfp.recurring_runs() if f"kfp-chain.io/runconfiguration: {key}\n" in r["description"]]
