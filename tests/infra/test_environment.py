"""Every environment variable in the manifests is one the code documents, and the trigger Service sets
every setting that applies in a cluster.

The documented list is `kfp_chain.settings.ENVIRONMENT_VARIABLES`; names read by functions-framework
(not our code) and names that only make sense outside a cluster are listed here with the reason.
"""

from __future__ import annotations

import pytest
from kfp_chain.settings import ENVIRONMENT_VARIABLES

from .manifests import ALL_OVERLAYS, INFRA, build, env_names, find

# Read by functions-framework's CLI/gunicorn, not by kfp_chain.
FRAMEWORK_VARIABLES = {"FUNCTION_TARGET", "THREADS", "WORKERS"}
# Documented settings that do not belong in the cluster manifests.
NOT_IN_CLUSTER = {
    "PORT": "reserved: Knative sets it",
    "KUBECONFIG": "in-cluster config is used",
    "KFP_CHAIN_STATE_DB": "local runner only",
    "KFP_CHAIN_LOCAL_DIR": "local runner only",
    "KFP_CHAIN_PIPELINES_DIR": "local runner only",
    "KFP_CHAIN_EVENT_SINK": "local runner only",
    "KFP_UI_HOST": "links printed by the CLI only",
}
DEAD_LETTER_VARIABLES = {"RUNCONFIGURATIONS", "KFP_CHAIN_MAX_BODY_BYTES", "LOG_LEVEL", "LOG_FORMAT"}


def test_the_exemptions_name_documented_variables() -> None:
    assert set(NOT_IN_CLUSTER) <= set(ENVIRONMENT_VARIABLES)
    assert not FRAMEWORK_VARIABLES & set(ENVIRONMENT_VARIABLES)


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_every_env_name_in_the_manifests_is_documented(overlay: str) -> None:
    for service in find(build(INFRA / "overlays" / overlay), "Service"):
        names = env_names(service)
        assert len(names) == len(set(names)), f"duplicate env in {service['metadata']['name']}"
        unknown = set(names) - set(ENVIRONMENT_VARIABLES) - FRAMEWORK_VARIABLES
        assert not unknown, f"{service['metadata']['name']} sets undocumented {sorted(unknown)}"
        assert not set(names) & set(NOT_IN_CLUSTER), f"{service['metadata']['name']} sets a local-only name"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_the_trigger_service_sets_every_setting_that_applies_in_a_cluster(overlay: str) -> None:
    (service,) = find(build(INFRA / "overlays" / overlay), "Service", "kfp-chain-trigger")
    missing = set(ENVIRONMENT_VARIABLES) - set(NOT_IN_CLUSTER) - set(env_names(service))
    assert not missing, f"kfp-chain-trigger does not set {sorted(missing)}"


@pytest.mark.parametrize("overlay", ALL_OVERLAYS)
def test_the_dead_letter_service_reads_runconfigurations_from_kubernetes(overlay: str) -> None:
    (service,) = find(build(INFRA / "overlays" / overlay), "Service", "kfp-chain-dead-letter")
    assert set(env_names(service)) >= DEAD_LETTER_VARIABLES
    (container,) = service["spec"]["template"]["spec"]["containers"]
    values = {e["name"]: e.get("value") for e in container["env"]}
    assert values["RUNCONFIGURATIONS"] == "kubernetes"


def test_every_env_entry_in_the_base_services_carries_a_comment_or_is_self_explanatory() -> None:
    """The manifests are documentation too: settings whose meaning is not obvious have a comment."""
    for name in ("service-trigger.yaml",):
        lines = (INFRA / "base" / name).read_text().splitlines()
        obvious = {"LOG_LEVEL", "WORKERS"}
        for index, line in enumerate(lines):
            stripped = line.strip()
            if stripped.startswith("- name: ") and stripped[8:].isupper():
                variable = stripped[8:]
                if variable not in obvious:
                    assert lines[index - 1].strip().startswith("#"), f"{name}: {variable} has no comment"
