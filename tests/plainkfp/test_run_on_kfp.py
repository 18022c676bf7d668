"""`kfp-chain run NS/NAME` with KFP_HOST: one run on that KFP, marked, with its valueFrom resolved.

The command as a person runs it (click's runner on this process), against the Kubernetes and KFP
fakes; `--wait` follows the run to its end and the exit status says whether it SUCCEEDED.
"""

from __future__ import annotations

import threading

from click.testing import CliRunner
from kfp_chain.cli import main

from tests.builders import ref, succeeded
from tests.plainkfp.on_kfp import kfp_env, scheduled
from tests.support import eventually

__all__ = ["kfp_env"]  # fixtures this file uses


def seed(kube) -> None:
    kube.put(scheduled("a", "up", status=succeeded("r7", model="gs://b/r7/model")))
    kube.put(
        scheduled("a", "down", parameters=[ref("up", "model", param="model"), {"name": "lr", "value": "0.1"}])
    )


def run(env, *args: str):
    return CliRunner().invoke(main, ["run", *args], env=env)


def test_it_starts_one_marked_run_and_prints_its_id_and_link(kube, kfp, kfp_env):
    seed(kube)

    result = run({**kfp_env, "KFP_UI_HOST": "https://kfp.example.org/"}, "a/down")

    assert result.exit_code == 0, result.output
    [started] = kfp.runs()
    assert started["state"] == "PENDING"  # not waited for unless asked
    assert started["runtime_config"]["parameters"] == {"model": "gs://b/r7/model", "lr": "0.1"}
    assert started["description"].splitlines()[0] == "kfp-chain.io/runconfiguration: a/down"
    assert started["run_id"] in result.output
    assert f"https://kfp.example.org/#/runs/details/{started['run_id']}" in result.output


def test_wait_exits_0_when_the_run_succeeded(kube, kfp, kfp_env):
    seed(kube)
    kfp.instant = True  # runs succeed as soon as they are created

    result = run(kfp_env, "a/down", "--wait", "--poll-seconds", "0.05")

    assert result.exit_code == 0, result.output
    assert "ended SUCCEEDED" in result.output


def test_wait_exits_1_when_the_run_failed(kube, kfp, kfp_env):
    seed(kube)

    def fail_it() -> None:
        if eventually(lambda: bool(kfp.runs()), timeout=30):
            kfp.set_run_state(kfp.runs()[0]["run_id"], "FAILED")

    failer = threading.Thread(target=fail_it)
    failer.start()
    result = run(kfp_env, "a/down", "--wait", "--poll-seconds", "0.05")
    failer.join(timeout=30)

    assert result.exit_code == 1, result.output
    assert "ended FAILED" in result.output


def test_a_missing_artifact_starts_nothing_and_says_which(kube, kfp, kfp_env):
    kube.put(scheduled("a", "up"))
    kube.put(scheduled("a", "down", parameters=[ref("up", "model", param="model")]))

    result = run(kfp_env, "a/down")

    assert result.exit_code == 1
    assert "a/up has no succeeded run yet" in result.output
    assert kfp.runs() == []
