"""The same commands against the cluster: RunConfigurations and their status from the Kubernetes fake."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner
from kfp_chain.cli import main
from kfp_fakes.kubernetes import FakeKubernetes

from tests.builders import write_kubeconfig
from tests.cli.support import EXAMPLES_RC, PROBLEMS, SEED, TRAINING_RC


def _apply(kube: FakeKubernetes, folder: Path) -> None:
    for path in sorted(folder.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                kube.put(doc)


def _kfp_chain(kube: FakeKubernetes, tmp_path: Path, *args: str) -> tuple[int, str]:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", kube.url)
    env = {"RUNCONFIGURATIONS": "kubernetes", "KUBECONFIG": str(kubeconfig)}
    result = CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)
    return result.exit_code, result.output


def test_validate_reads_the_cluster_and_fails_on_its_problems(kube: FakeKubernetes, tmp_path: Path) -> None:
    _apply(kube, PROBLEMS)

    code, output = _kfp_chain(kube, tmp_path, "validate", "-o", "json")

    assert code == 1
    assert sorted({f["code"] for f in json.loads(output)["findings"]}) == [
        "cycle",
        "missing-reference",
        "missing-trigger",
        "undeclared-artifact",
        "value-and-valuefrom",
    ]
    assert all(r.method == "GET" for r in kube.requests)


def test_explain_reads_consumed_triggers_from_the_dependents_status(
    kube: FakeKubernetes, tmp_path: Path
) -> None:
    _apply(kube, SEED)
    training = kube.get("dependant-namespace", "penguin-pipeline-training-rc")
    assert training is not None
    training["status"] = {"triggers": {"runConfigurations": {EXAMPLES_RC: {"providerId": "run-9"}}}}
    kube.put(training)

    _, consumed = _kfp_chain(kube, tmp_path, "explain", EXAMPLES_RC, "--run-id", "run-9", "-o", "json")
    _, fresh = _kfp_chain(kube, tmp_path, "explain", EXAMPLES_RC, "--run-id", "run-10", "-o", "json")

    assert [(d["dependent"], d["outcome"]) for d in json.loads(consumed)["dependents"]] == [
        (TRAINING_RC, "duplicate")
    ]
    assert [(d["dependent"], d["outcome"]) for d in json.loads(fresh)["dependents"]] == [
        (TRAINING_RC, "would-start")
    ]
    assert all(r.method == "GET" for r in kube.requests)


def test_an_unreachable_cluster_is_a_clear_error(tmp_path: Path) -> None:
    kubeconfig = write_kubeconfig(tmp_path / "kubeconfig", "http://127.0.0.1:9")
    env = {"RUNCONFIGURATIONS": "kubernetes", "KUBECONFIG": str(kubeconfig)}

    result = CliRunner().invoke(main, ["validate"], env=env)

    assert result.exit_code == 1
    assert "Kubernetes API list runconfigurations" in result.output
