"""Where the mark lives: a ConfigMap (resourceVersion precondition, 409 -> merge, retry) or SQLite.

And the function target `on_kfp_poll`, one pass per POST, with its metrics, on the folder mode.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import yaml
from kfp_chain.adapters.folder.mark import SqliteMarkStore
from kfp_chain.adapters.kubernetes.mark import ConfigMapMarkStore
from kfp_chain.ownership import marker_line
from kfp_chain.runconfiguration import RcKey
from kfp_chain.watermark import Mark

from tests.builders import rc
from tests.support import function_app

LOOKBACK = timedelta(seconds=900)
T = datetime(2026, 12, 1, 12, tzinfo=UTC)


def handled(*runs: str) -> Mark:
    return Mark(T, frozenset((r, T) for r in runs))


def test_a_configmap_write_that_lost_a_race_merges_with_the_winner(kube):
    stores = [ConfigMapMarkStore(kube.api_client(), "kfp-chain/mark", LOOKBACK) for _ in range(2)]
    stores[0].save(Mark())  # created on first use
    held = kube.faults.add(method="PUT", path="/configmaps/mark$", mode="hold", delay=30)
    slow = threading.Thread(target=stores[0].save, args=(handled("r1"),))
    slow.start()
    try:
        assert held.wait_arrived(1, timeout=30)
        stores[1].save(handled("r2"))  # wins: the slow writer's resourceVersion is now stale
    finally:
        held.release()
    slow.join(timeout=30)

    assert stores[0].load() == handled("r1", "r2")
    conflicts = [c for c in kube.calls("PUT", "/configmaps/mark$") if c.status == 409]
    assert len(conflicts) == 1


def test_the_sqlite_mark_keeps_what_every_writer_saved(tmp_path):
    db = tmp_path / "state.db"
    one, two = SqliteMarkStore(db, LOOKBACK), SqliteMarkStore(db, LOOKBACK)

    assert one.load() == Mark()
    one.save(handled("r1"))
    two.save(handled("r2"))

    assert one.load() == two.load() == handled("r1", "r2")


def test_on_kfp_poll_runs_one_pass_per_post_on_the_folder_mode(kfp, tmp_path, monkeypatch):
    folder = tmp_path / "rcs"
    folder.mkdir()
    (folder / "rcs.yaml").write_text(
        yaml.safe_dump_all([rc("a", "up", pipeline="upstream"), rc("a", "down", triggers=["up"])])
    )
    env = {
        "RUNCONFIGURATIONS": str(folder),
        "KFP_HOST": kfp.url,
        "KFP_CHAIN_STATE_DB": str(tmp_path / "state.db"),
        "KFP_CHAIN_RETRY_BUDGET_SECONDS": "1",
        "HOME": str(tmp_path),
    }
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    pid, (vid,) = kfp.add_pipeline("upstream")
    run_id = kfp.add_run("up-1", pid, vid, description=marker_line(RcKey("a", "up")))
    kfp.finish_run(run_id, "SUCCEEDED")
    client = function_app("on_kfp_poll").test_client()

    first = client.post("/", data=b"")
    second = client.post("/", data=b"")
    metrics = client.get("/metrics").get_data(as_text=True)

    assert first.status_code == 200 and first.get_json()["started"] == 1, first.get_json()
    assert second.status_code == 200 and second.get_json()["results"] == {"already-handled": 1}
    assert [r["display_name"] for r in kfp.runs()] == ["up-1", f"a/down <- a/up run {run_id}"]
    assert SqliteMarkStore(tmp_path / "state.db", LOOKBACK).load().handled
    assert 'kfp_chain_poll_runs_total{reason="",result="handled"} 1.0' in metrics
    assert 'kfp_chain_poll_passes_total{result="clean"} 2.0' in metrics
