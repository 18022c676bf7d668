"""`/readyz` and `/metrics` tell the truth on the dead-letter and reconcile targets too.

The dead-letter target counts what it receives and refuses on its own `/metrics`; the reconcile
target is ready when its source can be read, and says how many RunConfigurations that read found,
in its `/readyz` and in `kfp_chain_index_runconfigurations`, before its first pass.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from tests.builders import event_data
from tests.core.test_dead_letter import dead_letter, dead_letter_function
from tests.support import ROOT, function_app

EXAMPLES = ROOT / "examples" / "resources"


def sample(text: str, name: str) -> float:
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def test_the_dead_letter_target_counts_letters_and_refusals_on_its_metrics(monkeypatch, tmp_path):
    client = dead_letter_function(monkeypatch, RUNCONFIGURATIONS=str(tmp_path))
    headers, body = dead_letter(event_data())

    assert client.post("/", headers=headers, data=body).status_code == 200
    assert client.post("/", headers={"Content-Type": "application/json"}, data=b"{").status_code == 400
    metrics = client.get("/metrics").get_data(as_text=True)

    assert sample(metrics, 'kfp_chain_events_received_total{outcome="handled",status="unknown"}') == 1
    assert sample(metrics, 'kfp_chain_events_rejected_total{code="400"}') == 1
    assert client.get("/readyz").get_json() == {"ready": True}


@pytest.fixture
def reconcile_target(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    folder = tmp_path / "rcs"
    shutil.copytree(EXAMPLES, folder)
    for key, value in {
        "RUNCONFIGURATIONS": str(folder),
        "KFP_CHAIN_LOCAL_DIR": str(tmp_path / "local"),
        "LOG_LEVEL": "ERROR",
    }.items():
        monkeypatch.setenv(key, value)
    yield function_app("on_reconcile").test_client(), folder
    import sys

    app = getattr(sys.modules.get("main"), "_reconcile", None)
    if app is not None:
        app.close()


def test_the_reconcile_target_reports_the_runconfigurations_its_source_holds(reconcile_target):
    client, _ = reconcile_target

    ready = client.get("/readyz")
    metrics = client.get("/metrics").get_data(as_text=True)

    assert ready.status_code == 200 and ready.get_json()["runConfigurations"] == 2, ready.get_json()
    assert sample(metrics, "kfp_chain_index_runconfigurations") == 2


def test_the_reconcile_target_is_not_ready_when_its_folder_is_gone(reconcile_target):
    client, folder = reconcile_target
    assert client.get("/readyz").status_code == 200
    shutil.rmtree(folder)

    ready = client.get("/readyz")

    assert ready.status_code == 503 and ready.get_json()["ready"] is False, ready.get_json()
    assert str(folder) in ready.get_json()["reason"]
