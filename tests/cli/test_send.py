"""`kfp-chain send`: a run-completion CloudEvent over real HTTP, in binary and structured mode."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result
from kfp_chain.cli import main
from kfp_chain.intake import parse_request
from kfp_chain.runconfiguration import Artifact, RcKey
from kfp_fakes.kfp import FakeKfp

from tests.cli.support import EXAMPLES_RC, SEED, TRAINING_RC
from tests.support import function_app

TRACEPARENT = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"


class Recorder:
    """A tiny HTTP server that keeps what it was sent and answers `status`."""

    def __init__(self, status: int = 202) -> None:
        self.status = status
        self.received: list[tuple[dict[str, str], bytes]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                recorder.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                answer = json.dumps({"recorded": len(recorder.received)}).encode()
                self.send_response(recorder.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorder() -> Iterator[Recorder]:
    server = Recorder()
    yield server
    server.close()


def send(*args: str, **env: str) -> Result:
    return CliRunner().invoke(main, ["send", *args], env=env, catch_exceptions=False)


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_both_modes_carry_an_event_the_function_can_read(recorder: Recorder, mode: str) -> None:
    result = send(
        recorder.url,
        "--rc",
        EXAMPLES_RC,
        "--artifact",
        "examples=gs://penguins/run-5/examples",
        "--run-id",
        "run-5",
        "--mode",
        mode,
        "--traceparent",
        TRACEPARENT,
    )

    assert result.exit_code == 0, result.output
    assert result.output.startswith("202 ")
    ((headers, body),) = recorder.received
    if mode == "binary":
        assert headers["ce-type"] == "org.kubeflow.pipelines.run-completion"
        assert headers["ce-source"] == "kfp-chain-cli"
        assert headers["content-type"] == "application/json"
        assert json.loads(body)["runId"] == "run-5"
    else:
        assert headers["content-type"] == "application/cloudevents+json"
        assert "ce-type" not in headers
        assert json.loads(body)["specversion"] == "1.0"
    event = parse_request(headers, body)
    assert event.run_configuration == RcKey("base-namespace", "penguin-pipeline-examples-rc")
    assert (event.status, event.run_id, event.traceparent) == ("succeeded", "run-5", TRACEPARENT)
    assert event.artifacts == (Artifact("examples", "gs://penguins/run-5/examples"),)


def test_the_mode_can_come_from_the_environment(recorder: Recorder) -> None:
    send(recorder.url, "--rc", EXAMPLES_RC, KFP_CHAIN_SEND_MODE="structured")

    assert recorder.received[0][0]["content-type"] == "application/cloudevents+json"


def test_an_answer_that_is_not_2xx_exits_1_and_shows_it(recorder: Recorder) -> None:
    recorder.status = 503

    result = send(recorder.url, "--rc", EXAMPLES_RC, "-o", "json")

    assert result.exit_code == 1
    assert json.loads(result.output)["status"] == 503


def test_an_event_the_function_would_refuse_is_not_sent(recorder: Recorder) -> None:
    result = send(recorder.url, "--rc", "no-namespace")

    assert result.exit_code == 2
    assert "runConfigurationName must be 'namespace/name'" in result.output
    assert recorder.received == []


def test_an_unreachable_url_is_a_clear_error() -> None:
    result = CliRunner().invoke(main, ["send", "http://127.0.0.1:9/", "--rc", EXAMPLES_RC])

    assert result.exit_code == 1
    assert "POST http://127.0.0.1:9/" in result.output


@pytest.fixture
def served_function(monkeypatch: pytest.MonkeyPatch, kfp: FakeKfp, tmp_path: Path) -> Iterator[str]:
    """The real function (functions/main.py) on a loopback werkzeug server, folder source, KFP fake."""
    from werkzeug.serving import make_server

    for key, value in {
        "RUNCONFIGURATIONS": str(SEED),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_STATE_DB": str(tmp_path / "state.db"),
        "KFP_CHAIN_INDEX": "list",
        "LOG_FORMAT": "text",
    }.items():
        monkeypatch.setenv(key, value)
    app = function_app("on_run_completion")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    module = sys.modules.get("main")
    if getattr(module, "_app", None) is not None:
        module._app.close()  # type: ignore[union-attr]


def test_sending_to_the_function_starts_the_dependent_once_per_run_in_either_mode(
    served_function: str, kfp: FakeKfp
) -> None:
    # The installed console script in its own process: the function in this process prints to stdout.
    common = ["--rc", EXAMPLES_RC, "--artifact", "examples=gs://penguins/run-1/examples", "-o", "json"]
    script = str(Path(sys.executable).with_name("kfp-chain"))
    answers = [
        subprocess.run([script, "send", served_function, *common, *more], capture_output=True, timeout=60)
        for more in (
            ["--run-id", "run-1", "--mode", "binary"],
            ["--run-id", "run-1", "--mode", "structured"],
            ["--run-id", "run-2", "--mode", "structured"],
        )
    ]

    assert [a.returncode for a in answers] == [0, 0, 0], [a.stderr for a in answers]
    outcomes = [json.loads(a.stdout)["body"]["dependents"][0]["outcome"] for a in answers]
    assert outcomes == ["started", "duplicate", "started"]
    runs = kfp.runs_named(f"{TRAINING_RC} <- {EXAMPLES_RC} run run-1")
    assert len(runs) == 1
    assert runs[0]["runtime_config"]["parameters"]["examples_location"] == "gs://penguins/run-1/examples"
    assert len(kfp.runs()) == 2
