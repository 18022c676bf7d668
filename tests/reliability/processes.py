"""The function as the cluster runs it: functions-framework server processes, each its own pod.

`functions-framework --source functions/main.py --target T --port P`, in its own process group
(gunicorn's master and worker die together on SIGKILL, as a pod's containers do), with the shipped
container environment (`shipped.service_environment`) and only endpoints and identity overridden.
A process is used once GET its readiness path answers 200, as Knative routes only to ready pods.

`Pod.kill()` is SIGKILL to the group, mid-request or not: nothing in the process runs afterwards,
so a claim it held stays on the RunConfiguration until its lease runs out. `Deployment.restart`
starts the pod's successor under a new name (a new pod name is a new claim holder).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from kfp_chain.settings import ENVIRONMENT_VARIABLES

from tests.support import ROOT

__all__ = ["Deployment", "Pod", "free_port", "process_environment"]

FUNCTIONS_FRAMEWORK = str(Path(sys.executable).with_name("functions-framework"))
MAIN = str(ROOT / "functions" / "main.py")
# What ties a process to this machine; everything else comes from the manifests.
OVERRIDABLE = frozenset(
    {"RUNCONFIGURATIONS", "KUBECONFIG", "KFP_HOST", "PORT", "KFP_CHAIN_HOLDER", "KFP_TOKEN",
     "KFP_TOKEN_FILE", "LOG_LEVEL", "LOG_FORMAT", "RECORD_LATEST_RUNS", "HOME"}
)  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def process_environment(shipped: dict[str, str], overrides: dict[str, str | None]) -> dict[str, str]:
    """This interpreter's environment without any kfp-chain setting, then `shipped`, then `overrides`.

    An override of None removes the variable (e.g. KFP_TOKEN_FILE, a path only a pod has).
    """
    unknown = set(overrides) - OVERRIDABLE
    assert not unknown, f"only endpoints and identity may differ from the manifests, not {sorted(unknown)}"
    env = {k: v for k, v in os.environ.items() if k not in ENVIRONMENT_VARIABLES}
    env.update(shipped)
    for key, value in overrides.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return env


@dataclass
class Pod:
    """One functions-framework server process (group)."""

    name: str
    target: str
    env: dict[str, str]
    log_dir: Path
    ready_path: str = "/readyz"
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    killed_at: float | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None and self.killed_at is None

    @property
    def log(self) -> Path:
        return self.log_dir / f"{self.name}.log"

    def start(self) -> Pod:
        env = {**self.env, "PORT": str(self.port)}
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [FUNCTIONS_FRAMEWORK, "--source", MAIN, "--target", self.target, "--port", str(self.port)],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own process group: killpg reaches gunicorn's worker too
                cwd=str(ROOT),
            )
        return self

    def wait_ready(self, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"{self.name} exited with {self.process.returncode}:\n{self.tail()}")
            try:
                with urllib.request.urlopen(self.url.rstrip("/") + self.ready_path, timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} not ready after {timeout:.0f} s:\n{self.tail()}")
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the whole process group, at once."""
        assert self.process is not None
        self.killed_at = time.monotonic()
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            try:
                os.killpg(self.process.pid, signal.SIGTERM)
                self.process.wait(timeout=10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


class Deployment:
    """Pods of one Knative Service: which are ready, and their successors after a kill."""

    def __init__(self, name: str, make: PodMaker, count: int) -> None:
        self.name, self._make = name, make
        self._lock = threading.Lock()
        self.generation: dict[int, int] = dict.fromkeys(range(count), 0)
        self.pods: list[Pod] = [make(slot, 0) for slot in range(count)]
        self.everyone: list[Pod] = list(self.pods)  # every pod that ever ran, for logs
        self.restarts = 0
        self._stopped = False

    def start(self) -> Deployment:
        for pod in self.pods:
            pod.start()
        for pod in self.pods:
            pod.wait_ready()
        return self

    def ready(self) -> list[Pod]:
        with self._lock:
            return [p for p in self.pods if p.alive]

    def restart(self, slot: int) -> Pod | None:
        """The slot's successor (Knative's new pod): a new name and identity, used once ready.

        None once the Deployment is stopped: no process may outlive the test.
        """
        with self._lock:
            if self._stopped:
                return None
            self.generation[slot] += 1
            pod = self._make(slot, self.generation[slot])
            self.everyone.append(pod)
            self.restarts += 1
            pod.start()  # under the lock, so that stop() sees its process
        try:
            pod.wait_ready()
        except AssertionError:
            if self._stopped:  # stopped while it came up: nothing to report
                return None
            raise
        with self._lock:
            self.pods[slot] = pod
        return pod

    def stop(self) -> None:
        with self._lock:
            self._stopped = True
            everyone = list(self.everyone)
        for pod in everyone:
            pod.stop()


class PodMaker:
    """Builds the pod for (slot, generation): its name, holder and token follow from both."""

    def __init__(self, service: str, target: str, env: EnvFor, log_dir: Path, ready_path: str) -> None:
        self.service, self.target, self.env, self.log_dir, self.ready_path = (
            service,
            target,
            env,
            log_dir,
            ready_path,
        )

    def __call__(self, slot: int, generation: int) -> Pod:
        name = f"{self.service}-{slot}" + (f"-r{generation}" if generation else "")
        return Pod(name, self.target, self.env(name), self.log_dir, self.ready_path)


class EnvFor:
    """The environment of the pod called `name`: shipped env plus per-pod identity."""

    def __init__(self, shipped: dict[str, str], common: dict[str, str | None], home: Path) -> None:
        self.shipped, self.common, self.home = shipped, common, home

    def __call__(self, name: str) -> dict[str, str]:
        home = self.home / name
        home.mkdir(parents=True, exist_ok=True)
        identity: dict[str, str | None] = {"KFP_CHAIN_HOLDER": name, "KFP_TOKEN": name, "HOME": str(home)}
        return process_environment(self.shipped, {**self.common, **identity})
