"""The commands and examples README.md and docs/ show a newcomer, run as written.

The deploy guide's test events are posted, byte for byte as its curl lines send them, to the function
served by functions-framework the way `make serve` serves it (on the examples' folder, with the KFP fake
as KFP), and must start the training run. The console blocks of docs/operability.md are compared with
what the installed `kfp-chain` prints. The shell lines that cannot run here (kubectl) are checked for
naming what `infra/` really holds.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import pytest
import yaml

from tests.support import ROOT, installed_cli, wait_until_serving

README = (ROOT / "README.md").read_text()
DEPLOY = (ROOT / "docs" / "deploy.md").read_text()
OPERABILITY = (ROOT / "docs" / "operability.md").read_text()
TRAINING = "dependant-namespace/penguin-pipeline-training-rc"


def blocks(text: str, language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", text, re.S)


def curl_requests(text: str) -> list[tuple[dict[str, str], str]]:
    """Each `curl` of the guide's shell blocks: its -H headers (with $(uuidgen) made real) and its -d body."""
    found = []
    for block in blocks(text, "sh"):
        for command in re.findall(r"^curl .*?(?=^\S|\Z)", block, re.S | re.M):
            words = shlex.split(command.replace("\\\n", " ").replace("$(uuidgen)", str(uuid.uuid4())))
            headers = dict(
                w.split(": ", 1) for w, flag in zip(words[1:], words, strict=False) if flag == "-H"
            )
            body = next(w for w, flag in zip(words[1:], words, strict=False) if flag == "-d")
            found.append(({k: v for k, v in headers.items() if k != "Host"}, body))
    return found


@pytest.fixture
def served(tmp_path: Path, kfp):
    """The function as `make serve` runs it (functions-framework on 127.0.0.1), on the examples' folder."""
    from tests.security.test_served_process import free_port

    port = free_port()
    resources = tmp_path / "resources"
    shutil.copytree(ROOT / "examples" / "resources", resources)
    env = {
        **os.environ,
        "HOME": str(tmp_path),
        "RUNCONFIGURATIONS": str(resources),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_STATE_DB": str(tmp_path / "state.db"),
        "LOG_LEVEL": "ERROR",
    }
    command = [str(Path(sys.executable).parent / "functions-framework"), "--source", "functions/main.py",
               "--target", "on_run_completion", "--host", "127.0.0.1", "--port", str(port)]  # fmt: skip
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        wait_until_serving(process, f"http://127.0.0.1:{port}/readyz")
        yield f"http://127.0.0.1:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=30)


def post(url: str, headers: dict[str, str], body: str) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(url, data=body.encode(), headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return int(response.status), json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return int(exc.code), json.loads(exc.read())


def test_the_deploy_guides_test_events_start_the_training_run(served: str, kfp) -> None:
    requests = curl_requests(DEPLOY)
    assert len(requests) == 2, "the Broker example and the direct one"

    answers = [post(served, headers, body) for headers, body in requests]

    assert [status for status, _ in answers] == [200, 200], answers
    for _, answer in answers:
        [dependent] = answer["dependents"]
        assert (dependent["dependent"], dependent["outcome"]) == (TRAINING, "started"), answer
    assert sorted(r["display_name"].split(" run ")[1] for r in kfp.runs()) == [
        "test-run-0001",
        "test-run-0002",
    ]


def console_example(text: str, command: str) -> str:
    """The output printed under `$ command` in a console block."""
    for block in blocks(text, "console"):
        if block.startswith(f"$ {command}\n"):
            return block.split("\n", 1)[1]
    raise AssertionError(f"no console example of {command!r}")


@pytest.mark.parametrize(
    "command",
    [
        "kfp-chain explain base-namespace/penguin-pipeline-examples-rc --artifact examples=gs://penguins/run-7/examples --run-id run-7",
        "kfp-chain explain examples/events/examples-succeeded.json",
    ],
)
def test_operability_shows_what_explain_really_prints(tmp_path: Path, command: str) -> None:
    env = {"RUNCONFIGURATIONS": "examples/resources", "KFP_CHAIN_STATE_DB": str(tmp_path / "none.db")}

    done = installed_cli(env, *shlex.split(command)[1:])

    assert done.returncode == 0, done.stderr
    assert done.stdout == console_example(OPERABILITY, command)


def test_the_readme_points_at_the_sample_event_and_its_commands_run() -> None:
    assert "kfp-chain explain examples/events/examples-succeeded.json" in README
    env = {"RUNCONFIGURATIONS": ""}
    assert installed_cli(env, "validate", "examples/resources").returncode == 0
    graph = installed_cli(env, "graph", "examples/resources", "--format", "json")
    assert graph.returncode == 0 and TRAINING in graph.stdout


def test_the_readmes_by_hand_lines_use_the_venv_and_bind_localhost() -> None:
    serve = next(b for b in blocks(README, "sh") if "make serve" in b)
    by_hand = [line for line in serve.splitlines() if "functions-framework" in line]
    assert len(by_hand) >= 3
    assert all(".venv/bin/functions-framework" in line and "--host 127.0.0.1" in line for line in by_hand)
    # Under `make test` this is a sub-make, which prints "Entering/Leaving directory" lines around it.
    make = subprocess.run(
        ["make", "--no-print-directory", "-n", "serve"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    (serve_line,) = [line for line in make.stdout.splitlines() if "functions-framework" in line]
    assert "--host 127.0.0.1" in serve_line


def test_the_deploy_guide_waits_for_every_service_and_names_every_component() -> None:
    services = [
        yaml.safe_load(path.read_text())["metadata"]["name"]
        for path in sorted((ROOT / "infra" / "base").glob("service-*.yaml"))
    ]
    assert len(services) == 3
    wait = next(
        line
        for line in DEPLOY.splitlines()
        if line.startswith("kubectl -n kfp-chain wait") and "ksvc/" in line
    )
    assert all(f"ksvc/{name}" in wait for name in services), wait
    for component in (ROOT / "infra" / "components").iterdir():
        assert f"`infra/components/{component.name}`" in DEPLOY, component.name
    assert f"the {len(services)} Knative Services".replace("the 3", "the three") in DEPLOY
