"""The fault suite's broker follows Knative's dispatcher: which answers it retries, when, and what it dead-letters.

The suite's claims about production rest on this model, so it is held to the delivery rules here
against a scripted subscriber, with a scaled-down policy (the suite itself uses the shipped one).
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from kfp_chain.delivery import DeliveryPolicy

from tests.builders import event_data
from tests.reliability.broker import Broker, Message
from tests.reliability.graph import Event, Node
from tests.reliability.processes import Pod
from tests.reliability.shipped import delivery_policy, rendered, service_environment

POLICY = DeliveryPolicy(retry=3, backoff_policy="exponential", backoff_delay=0.1, timeout=1.0)


class Scripted:
    """A subscriber answering each POST with the next status of `script` (the last one repeats)."""

    def __init__(self, script: list[int]) -> None:
        self.script = script
        self.seen: list[tuple[float, dict[str, str], bytes]] = []
        scripted = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                scripted.seen.append(
                    (time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body)
                )
                status = scripted.script[min(len(scripted.seen) - 1, len(scripted.script) - 1)]
                payload = json.dumps({"answer": status}).encode()
                self.send_response(status)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        ).start()

    def pod(self, name: str, tmp: Path) -> Pod:
        return Pod(name, "scripted", {}, tmp, port=int(self.server.server_address[1]))


@pytest.fixture
def servers() -> Iterator[list[Scripted]]:
    made: list[Scripted] = []
    yield made
    for server in made:
        server.server.shutdown()
        server.server.server_close()  # the listening socket: shutdown() only stops the loop


def deliver(subscriber: Scripted, sink: Scripted, tmp_path: Path) -> Broker:
    broker = Broker(
        POLICY, lambda: [subscriber.pod("sub", tmp_path)], lambda: [sink.pod("dls", tmp_path)], 2, 1
    )
    event = Event(Node("ns", "up"), "run-1", event_data("ns/up", run_id="run-1"))
    broker.publish(Message.of(event, 0))
    broker.close_intake()
    assert broker.wait_settled(timeout=10)
    broker.stop()
    return broker


@pytest.mark.parametrize("status", [500, 503, 404, 408, 409, 429])
def test_a_retryable_answer_is_retried_with_the_policys_backoff_then_dead_lettered(status, servers, tmp_path):
    subscriber, sink = Scripted([status]), Scripted([200])
    servers += [subscriber, sink]
    broker = deliver(subscriber, sink, tmp_path)

    assert len(subscriber.seen) == 1 + POLICY.retry
    gaps = [b[0] - a[0] for a, b in zip(subscriber.seen, subscriber.seen[1:], strict=False)]
    assert all(gap >= wait for gap, wait in zip(gaps, POLICY.waits(), strict=True)), (gaps, POLICY.waits())
    assert len(broker.tally.dead_lettered) == 1 and broker.tally.dead_letters_received == 1
    (_, headers, body), *_ = sink.seen
    assert headers["ce-knativeerrorcode"] == str(status)
    assert json.loads(base64.b64decode(headers["ce-knativeerrordata"])) == {"answer": status}
    assert headers["ce-knativeerrordest"].startswith("http://127.0.0.1:")
    assert headers["ce-id"] == "ce-run-1" and json.loads(body)["runId"] == "run-1"


@pytest.mark.parametrize("status", [400, 413, 415])
def test_another_4xx_is_dead_lettered_at_once(status, servers, tmp_path):
    subscriber, sink = Scripted([status]), Scripted([200])
    servers += [subscriber, sink]
    broker = deliver(subscriber, sink, tmp_path)

    assert len(subscriber.seen) == 1
    assert broker.tally.dead_letters_received == 1


def test_a_2xx_after_retries_acknowledges_and_nothing_is_dead_lettered(servers, tmp_path):
    subscriber, sink = Scripted([503, 503, 200]), Scripted([200])
    servers += [subscriber, sink]
    broker = deliver(subscriber, sink, tmp_path)

    assert len(subscriber.seen) == 3
    assert broker.tally.redeliveries == 2 and broker.tally.dead_lettered == [] and sink.seen == []


def test_no_answer_within_the_timeout_is_retried(servers, tmp_path):
    subscriber, sink = Scripted([200]), Scripted([200])
    servers += [subscriber, sink]
    dead = Pod("gone", "none", {}, tmp_path)  # nothing listens on its port: refused
    broker = Broker(POLICY, lambda: [dead], lambda: [sink.pod("dls", tmp_path)], 1, 1)
    event = Event(Node("ns", "up"), "run-2", event_data("ns/up", run_id="run-2"))
    broker.publish(Message.of(event, 0))
    broker.close_intake()
    assert broker.wait_settled(timeout=10)
    broker.stop()
    assert broker.tally.answers["none"] == 1 + POLICY.retry
    (_, headers, _), *_ = sink.seen
    assert headers["ce-knativeerrorcode"] == "0" and "ce-knativeerrordata" not in headers


def test_the_suite_reads_the_shipped_trigger_and_environment():
    (trigger,) = [r for r in rendered() if r["kind"] == "Trigger"]
    assert delivery_policy() == DeliveryPolicy.from_spec(trigger["spec"]["delivery"])
    env = service_environment("kfp-chain-trigger")
    # ConfigMap keys resolved, the pod-only values (fieldRef holder, optional Secret) left unset.
    assert env["RUNCONFIGURATIONS"] == "kubernetes" and env["KFP_HOST"].startswith("http")
    assert "KFP_CHAIN_HOLDER" not in env and "KFP_TOKEN" not in env
