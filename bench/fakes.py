"""The fakes of `make bench` in a process of their own, so they do not take the GIL from the function.

    PYTHONPATH=.:tests/fakes python -m bench.fakes ADDRESS_FILE

Starts the Kubernetes fake and an instant KFP fake on loopback, writes their URLs to ADDRESS_FILE
as JSON, and serves until stdin closes (the parent's end). The bench drives it over HTTP through
a few extra routes on the Kubernetes fake (they are left out of its own request counts):

- POST /bench/seed?count=N   grow the RunConfigurations to N (bench/cluster.py says which)
- GET  /bench/stats          requests seen since the last reset, by kind, on both fakes (with the
                             409s among them), and the KFP runs created since then: a triggering
                             event that answered 200 without starting a run would show here
- POST /bench/reset          forget both request logs and take the KFP runs as the new baseline
- POST /bench/fresh-kfp      empty the KFP fake but for the pipeline (new ids: a function's cached
                             ones go stale and are looked up again, as after a re-upload)
- POST /bench/finished-runs?count=N  N runs kfp-chain started for the upstreams, finished now, and no
                             more instant runs (the poll row: the runs it starts stay PENDING); answers
                             their ids, for the poll row to record their outputs in ML Metadata
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from kfp_fakes.http import Request, Response
from kfp_fakes.kfp import FakeKfp
from kfp_fakes.kubernetes import FakeKubernetes

from bench.cluster import NAMESPACE, PAIRS, PIPELINE, objects


class BenchKubernetes(FakeKubernetes):
    def __init__(self, kfp: FakeKfp) -> None:
        super().__init__(bookmark_interval=30.0)
        self.kfp = kfp
        self.runs_before = 0
        self.seeded = 0
        self.route("POST", "/bench/seed", self._seed)
        self.route("GET", "/bench/stats", self._stats)
        self.route("POST", "/bench/reset", self._reset)
        self.route("POST", "/bench/fresh-kfp", self._fresh_kfp)
        self.route("POST", "/bench/finished-runs", self._finished_runs)

    def _seed(self, request: Request) -> Response:
        count = int(request.arg("count") or 0)
        for obj in objects(count)[self.seeded :]:
            self.put(obj, validate=False)
        self.seeded = max(self.seeded, count)
        return Response(200, {"count": self.seeded, "resourceVersion": self.resource_version})

    def _stats(self, request: Request) -> Response:
        by: dict[str, int] = {}
        for r in self.calls():
            if r.path.startswith("/bench/"):
                continue
            if r.method == "GET" and r.path.endswith("/runconfigurations"):
                kind = "watch" if (r.query.get("watch") or [""])[0].lower() in ("true", "1") else "list"
            elif r.path.endswith("/status"):
                kind = f"{r.method} status"
            elif "/events" in r.path:
                kind = f"{r.method} event"
            else:
                kind = f"{r.method} object"
            by[kind] = by.get(kind, 0) + 1
            if r.status == 409:
                by["409"] = by.get("409", 0) + 1
        kfp: dict[str, int] = {}
        for r in self.kfp.calls():
            kind = f"{r.method} {r.path.rsplit('/', 1)[-1]}"  # GET runs, POST runs, GET pipelines, ...
            kfp[kind] = kfp.get(kind, 0) + 1
        runs = len(self.kfp.runs()) - self.runs_before
        total = sum(v for k, v in by.items() if k != "409")
        return Response(200, {"total": total, "by": by, "kfp": kfp, "runs_started": runs})

    def _reset(self, request: Request) -> Response:
        self.reset_log()
        self.kfp.reset_log()
        self.runs_before = len(self.kfp.runs())
        return Response(200, {})

    def _fresh_kfp(self, request: Request) -> Response:
        """An empty KFP store but for the pipeline: this fake finds a run by name by scanning every
        run, where KFP asks its database (an index), so thousands of runs from earlier rows would
        slow the later ones down for a reason no real KFP has."""
        self.kfp.reset()
        self.kfp.add_pipeline(PIPELINE)
        self.runs_before = 0
        return Response(200, {})

    def _finished_runs(self, request: Request) -> Response:
        count = int(request.arg("count") or 0)
        self.kfp.instant = False
        pid, (vid,) = self.kfp.add_pipeline(f"upstream-{len(self.kfp.runs())}")
        ids = []
        for i in range(count):
            owner = f"kfp-chain.io/runconfiguration: {NAMESPACE}/upstream-{i % PAIRS:02d}"
            ids.append(self.kfp.add_run(f"upstream run {i}", pid, vid, description=owner))
            self.kfp.finish_run(ids[-1])
        return Response(200, {"runs": count, "runIds": ids})


def main() -> None:
    kfp = FakeKfp(instant=True)
    kfp.start()
    kfp.add_pipeline(PIPELINE)
    kube = BenchKubernetes(kfp).start()
    Path(sys.argv[1]).write_text(json.dumps({"kube": kube.url, "kfp": kfp.url}))
    sys.stdin.read()  # until the parent goes away
    kfp.stop()
    kube.stop()


if __name__ == "__main__":
    main()
