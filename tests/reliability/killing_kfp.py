"""The KFP fake, plus the hand that SIGKILLs a replica while its `POST /runs` is in flight.

Each function process sends its own bearer token (its pod name), so the server can tell who is
creating a run. An armed `KillOrder` names a token prefix (a Service's pods) and the how-many-th
create among that Service's pods to strike, and when:
- "before": the request has arrived, nothing is stored; the replica dies, the connection drops.
  The claim stays, no run exists: whoever takes the claim over after the lease must create it.
- "after": the run is stored, then the replica dies before the answer leaves. The claim stays and
  the run exists: whoever takes over must find it and not create a second one.
Creates whose display name `uncounted` matches (the fan-in joins) are not counted, so the kills
strike the same kind of trigger as before they existed. The subclass also remembers which token's create made each run (`creators`), so the suite can
count the runs reconcile recovered without asking reconcile.
"""

from __future__ import annotations

import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from kfp_fakes.http import DropConnection, Request, Response
from kfp_fakes.kfp import API, FakeKfp

__all__ = ["KillOrder", "KillingKfp"]


@dataclass
class KillOrder:
    prefix: str  # tokens (pod names) of the Service whose pods may be struck
    nth: int  # strike the Service's nth create (1-based)
    when: str  # "before" | "after" the run is stored
    kill: Callable[[str], None]  # called with the struck pod's token
    fired_at: float | None = None
    token: str | None = None  # the pod it struck
    display_name: str | None = None  # the trigger whose create it struck


class KillingKfp(FakeKfp):
    """`FakeKfp` whose `POST /runs` can kill the caller; see the module docstring."""

    def __init__(self, uncounted: Callable[[str], bool] = lambda _: False) -> None:
        self.uncounted = uncounted
        self.orders: list[KillOrder] = []
        self.creators: dict[str, list[str]] = {}  # run display name -> tokens of stored creates
        self.creates: Counter[str] = Counter()  # token prefix of an order -> creates that reached the handler
        self._orders_lock = threading.Lock()
        super().__init__()

    def add_succeeded_run(self, display_name: str, experiment_id: str) -> str:
        """Test side: an upstream run that already SUCCEEDED (what KFP_CHAIN_VERIFY_UPSTREAM looks up).

        Made by the create handler itself, so no injected fault, kill order or creator count sees it.
        """
        body = {"display_name": display_name, "experiment_id": experiment_id,
                "pipeline_spec": {"pipelineInfo": {"name": "upstream"}}}  # fmt: skip
        response = self._create_run(Request("POST", f"{API}/runs", {}, {}, json.dumps(body).encode()))
        assert response.status == 200, response.body
        run_id = str(response.body["run_id"])
        self.set_run_state(run_id, "SUCCEEDED")
        return run_id

    def arm(self, order: KillOrder) -> None:
        with self._orders_lock:
            self.orders.append(order)

    def dispatch(self, request: Request) -> Response:
        if request.method != "POST" or request.path != f"{API}/runs":
            return super().dispatch(request)
        token = (request.headers.get("authorization") or "").removeprefix("Bearer ")
        if self.uncounted(str((request.json() or {}).get("display_name", ""))):
            return self._remembered(token, super().dispatch(request))
        with self._orders_lock:
            for prefix in {o.prefix for o in self.orders if token.startswith(o.prefix)}:
                self.creates[prefix] += 1
            order = next(
                (
                    o
                    for o in self.orders
                    if token.startswith(o.prefix) and o.fired_at is None and o.nth == self.creates[o.prefix]
                ),
                None,
            )
            if order is not None:
                order.token, order.fired_at = token, time.monotonic()
        if order is not None:
            order.display_name = (request.json() or {}).get("display_name")
            if order.when == "before":
                self._strike(order)
        response = self._remembered(token, super().dispatch(request))
        if order is not None and order.when == "after":
            self._strike(order)
        return response

    def _remembered(self, token: str, response: Response) -> Response:
        if response.status == 200:
            with self._orders_lock:
                self.creators.setdefault(response.body["display_name"], []).append(token)
        return response

    @staticmethod
    def _strike(order: KillOrder) -> None:
        assert order.token is not None
        order.kill(order.token)
        raise DropConnection  # the caller is gone; its socket with it
