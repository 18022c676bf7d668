"""Settings: every environment variable kfp-chain reads, in one place.

Read once at start-up into a frozen value; a bad value fails the start with a message naming the
variable, rather than the first event with a stack trace. `ENVIRONMENT_VARIABLES` is the list the
README, the Knative manifests and their tests are checked against.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, TypeVar, get_args

from .delivery import DeliveryPolicy, Timings, window_problems
from .errors import ConfigurationError

__all__ = [
    "ENVIRONMENT_VARIABLES",
    "ArtifactSource",
    "AuthMode",
    "IndexMode",
    "InitialTrigger",
    "LogFormat",
    "PipelineNaming",
    "Settings",
]

T = TypeVar("T", int, float)
C = TypeVar("C", bound=str)
Getter = Callable[[str], str | None]

ENVIRONMENT_VARIABLES: tuple[str, ...] = (
    "KFP_HOST",
    "KFP_TOKEN",
    "KFP_TOKEN_FILE",
    "KFP_NAMESPACE",
    "RUNCONFIGURATIONS",
    "RUNCONFIGURATION_API_VERSION",
    "RUNCONFIGURATION_NAMESPACES",
    "KFP_PIPELINE_NAME",
    "KFP_DEFAULT_EXPERIMENT",
    "RECORD_LATEST_RUNS",
    "KFP_CHAIN_CLAIM_LEASE_SECONDS",
    "KFP_CHAIN_RETRY_BUDGET_SECONDS",
    "KFP_CHAIN_REQUEST_TIMEOUT_SECONDS",
    "KFP_CHAIN_DELIVERY_RETRY",
    "KFP_CHAIN_DELIVERY_BACKOFF_POLICY",
    "KFP_CHAIN_DELIVERY_BACKOFF_DELAY",
    "KFP_CHAIN_DELIVERY_TIMEOUT",
    "KFP_CHAIN_INITIAL_TRIGGER",
    "KFP_CHAIN_INDEX",
    "KFP_CHAIN_RESYNC_SECONDS",
    "KFP_CHAIN_HOLDER",
    "KFP_CHAIN_MAX_BODY_BYTES",
    "KFP_CHAIN_STATE_DB",
    "KFP_CHAIN_LOCAL_DIR",
    "KFP_CHAIN_PIPELINES_DIR",
    "KFP_CHAIN_EVENT_SINK",
    "KFP_CHAIN_AUTH",
    "KFP_CHAIN_OIDC_AUDIENCE",
    "KFP_CHAIN_ALLOWED_SENDERS",
    "KFP_CHAIN_VERIFY_UPSTREAM",
    "KFP_CHAIN_ARTIFACT_SOURCE",
    "KFP_CHAIN_MLMD_ADDRESS",
    "KFP_CHAIN_MULTI_USER",
    "KFP_CHAIN_POLL_LOOKBACK_SECONDS",
    "KFP_CHAIN_POLL_GIVE_UP_SECONDS",
    "KFP_CHAIN_POLL_MARK",
    "KFP_CHAIN_SCHEDULES",
    "KFP_UI_HOST",
    "KUBECONFIG",
    "PORT",
    "LOG_LEVEL",
    "LOG_FORMAT",
)

# The closed sets a variable may name, as types: a value outside one is a mypy error wherever it is
# compared or passed on, not a branch that silently never matches.
PipelineNaming = Literal["plain", "kfp-operator"]
IndexMode = Literal["watch", "list"]
InitialTrigger = Literal["run", "skip"]  # reconcile, for an upstream success never consumed yet
AuthMode = Literal["none", "oidc"]
LogFormat = Literal["json", "text"]
# Where a plain-KFP run's output artifacts are read (docs/plain-kfp.md).
ArtifactSource = Literal["mlmd", "kfp"]
ARTIFACT_SOURCES: tuple[ArtifactSource, ...] = get_args(ArtifactSource)
PIPELINE_NAMINGS: tuple[PipelineNaming, ...] = get_args(PipelineNaming)
INDEX_MODES: tuple[IndexMode, ...] = get_args(IndexMode)
INITIAL_TRIGGERS: tuple[InitialTrigger, ...] = get_args(InitialTrigger)
# The shipped Knative Trigger's delivery spec (infra/components/knative-broker/trigger.yaml); a test
# keeps these, the Trigger and the Service's env in step.
SHIPPED_DELIVERY = DeliveryPolicy(retry=6, backoff_policy="exponential", backoff_delay=1.0, timeout=30.0)
AUTH_MODES: tuple[AuthMode, ...] = get_args(AuthMode)
CONNECT_TIMEOUT_SECONDS = 5.0
IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


@dataclass(frozen=True)
class Settings:
    runconfigurations: str  # "kubernetes" or a folder path
    kfp_host: str | None = None
    kfp_token: str | None = field(default=None, repr=False)  # a secret: never in a repr or a log
    kfp_token_file: str | None = None
    kfp_namespace: str | None = None
    api_version: str = "pipelines.kubeflow.org/v1beta1"
    namespaces: tuple[str, ...] = ()  # allow-list; empty = every namespace
    pipeline_naming: PipelineNaming = "plain"
    default_experiment: str = "Default"
    record_latest_runs: bool = True
    claim_lease_seconds: float = 20.0
    retry_budget_seconds: float = 10.0
    request_timeout: tuple[float, float] = (CONNECT_TIMEOUT_SECONDS, 10.0)  # connect, read: every API call
    delivery: DeliveryPolicy = SHIPPED_DELIVERY  # what the broker in front of us does; see delivery.py
    initial_trigger: InitialTrigger = (
        "run"  # reconcile, for an upstream success a dependent has never consumed
    )
    index_mode: IndexMode = "watch"
    resync_seconds: float = 300.0
    holder: str = "kfp-chain"
    max_body_bytes: int = 1 << 20
    state_db: Path = Path(".local/kfp-chain/state.db")
    local_dir: Path = Path(".local/kfp-chain")
    pipelines_dir: Path = Path(".local/kfp-chain/pipelines")
    event_sink: str | None = None
    port: int = 8080
    log_level: str = "INFO"
    log_format: LogFormat = "json"
    auth: AuthMode = "none"  # "oidc": every POST needs a sender token (auth.py)
    oidc_audience: str | None = None
    allowed_senders: tuple[str, ...] = ()
    verify_upstream: bool = False
    # Plain KFP (no kfp-operator): docs/plain-kfp.md. The poll hears runs end, an artifact source
    # reads their outputs, and reconcile keeps KFP recurring runs in step with triggers.schedules.
    artifact_source: ArtifactSource = "mlmd"
    mlmd_address: str = "metadata-grpc-service.kubeflow:8080"
    multi_user: bool = False  # list KFP runs per namespace (KFP multi-user mode)
    poll_lookback_seconds: float = 900.0  # how late KFP may learn a run's finished_at and still be heard
    poll_give_up_seconds: float = (
        86400.0  # a finished run the poll could not handle for this long is given up
    )
    poll_mark: str = "kfp-chain/kfp-chain-poll-mark"  # namespace/name of the ConfigMap holding the watermark
    schedules: bool = False  # reconcile creates/replaces/deletes KFP recurring runs for triggers.schedules
    kfp_ui_host: str | None = None  # for links printed by `kfp-chain run`

    @property
    def from_kubernetes(self) -> bool:
        return self.runconfigurations == "kubernetes"

    @property
    def version(self) -> str:
        return self.api_version.rpartition("/")[2]

    @property
    def group(self) -> str:
        return self.api_version.rpartition("/")[0]

    def allows(self, namespace: str) -> bool:
        return not self.namespaces or namespace in self.namespaces

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        values: Mapping[str, str] = os.environ if env is None else env

        def get(name: str) -> str | None:
            return (values.get(name) or "").strip() or None

        source = get("RUNCONFIGURATIONS")
        if source is None:
            if get("KUBERNETES_SERVICE_HOST") or get("KUBECONFIG") or IN_CLUSTER_TOKEN.exists():
                source = "kubernetes"
            else:
                raise ConfigurationError(
                    "RUNCONFIGURATIONS is not set: set it to 'kubernetes' (in-cluster config or KUBECONFIG) "
                    "or to a folder of RunConfiguration YAML files, e.g. RUNCONFIGURATIONS=examples/resources"
                )
        if source != "kubernetes" and not Path(source).is_dir():
            raise ConfigurationError(
                f"RUNCONFIGURATIONS={source!r} is neither 'kubernetes' nor an existing folder of YAML files"
            )
        api_version = get("RUNCONFIGURATION_API_VERSION") or "pipelines.kubeflow.org/v1beta1"
        if "/" not in api_version:
            raise ConfigurationError(f"RUNCONFIGURATION_API_VERSION={api_version!r} must be 'group/version'")
        naming = _one_of("KFP_PIPELINE_NAME", get("KFP_PIPELINE_NAME") or "plain", PIPELINE_NAMINGS)
        index_mode = _one_of("KFP_CHAIN_INDEX", get("KFP_CHAIN_INDEX") or "watch", INDEX_MODES)
        lease = _number(get, "KFP_CHAIN_CLAIM_LEASE_SECONDS", 20.0, float)
        budget = _number(get, "KFP_CHAIN_RETRY_BUDGET_SECONDS", 10.0, float)
        read_timeout = _number(get, "KFP_CHAIN_REQUEST_TIMEOUT_SECONDS", 10.0, float)
        connect_timeout = min(CONNECT_TIMEOUT_SECONDS, read_timeout)
        delivery = _delivery(get)
        problems = window_problems(delivery, Timings(lease, budget, connect_timeout, read_timeout))
        if problems:
            raise ConfigurationError(
                "KFP_CHAIN_CLAIM_LEASE_SECONDS, KFP_CHAIN_RETRY_BUDGET_SECONDS, KFP_CHAIN_REQUEST_TIMEOUT_SECONDS "
                "and KFP_CHAIN_DELIVERY_* do not fit together: " + "; ".join(problems)
            )
        initial = _one_of(
            "KFP_CHAIN_INITIAL_TRIGGER", get("KFP_CHAIN_INITIAL_TRIGGER") or "run", INITIAL_TRIGGERS
        )
        local_dir = Path(get("KFP_CHAIN_LOCAL_DIR") or ".local/kfp-chain")
        port = _number(get, "PORT", 8080, int)
        auth, audience, senders = _auth(get)
        verify_upstream = _flag(get, "KFP_CHAIN_VERIFY_UPSTREAM", False)
        if verify_upstream and not get("KFP_HOST"):
            raise ConfigurationError(
                "KFP_CHAIN_VERIFY_UPSTREAM=true needs KFP_HOST: upstream runs are confirmed with the KFP API"
            )
        if _flag(get, "KFP_CHAIN_SCHEDULES", False) and not get("KFP_HOST"):
            raise ConfigurationError(
                "KFP_CHAIN_SCHEDULES=true needs KFP_HOST: schedules become KFP recurring runs "
                "(the local runner has none)"
            )
        return cls(
            runconfigurations=source,
            kfp_host=get("KFP_HOST"),
            kfp_token=get("KFP_TOKEN"),
            kfp_token_file=get("KFP_TOKEN_FILE"),
            kfp_namespace=get("KFP_NAMESPACE"),
            api_version=api_version,
            namespaces=tuple(
                n.strip() for n in (get("RUNCONFIGURATION_NAMESPACES") or "").split(",") if n.strip()
            ),
            pipeline_naming=naming,
            default_experiment=get("KFP_DEFAULT_EXPERIMENT") or "Default",
            record_latest_runs=_flag(get, "RECORD_LATEST_RUNS", True),
            claim_lease_seconds=lease,
            retry_budget_seconds=budget,
            request_timeout=(connect_timeout, read_timeout),
            delivery=delivery,
            initial_trigger=initial,
            index_mode=index_mode,
            resync_seconds=_number(get, "KFP_CHAIN_RESYNC_SECONDS", 300.0, float),
            holder=get("KFP_CHAIN_HOLDER") or f"{socket.gethostname()}-{os.getpid()}",
            max_body_bytes=_number(get, "KFP_CHAIN_MAX_BODY_BYTES", 1 << 20, int),
            state_db=Path(get("KFP_CHAIN_STATE_DB") or local_dir / "state.db"),
            local_dir=local_dir,
            pipelines_dir=Path(get("KFP_CHAIN_PIPELINES_DIR") or local_dir / "pipelines"),
            event_sink=get("KFP_CHAIN_EVENT_SINK") or f"http://127.0.0.1:{port}/",
            port=port,
            log_level=(get("LOG_LEVEL") or "INFO").upper(),
            log_format="json"
            if (get("LOG_FORMAT") or "json") == "json"
            else "text",  # as ever: not json is text
            auth=auth,
            oidc_audience=audience,
            allowed_senders=senders,
            verify_upstream=verify_upstream,
            artifact_source=_one_of(
                "KFP_CHAIN_ARTIFACT_SOURCE",
                (get("KFP_CHAIN_ARTIFACT_SOURCE") or "mlmd").lower(),
                ARTIFACT_SOURCES,
            ),
            mlmd_address=get("KFP_CHAIN_MLMD_ADDRESS") or "metadata-grpc-service.kubeflow:8080",
            multi_user=_flag(get, "KFP_CHAIN_MULTI_USER", False),
            poll_lookback_seconds=_number(get, "KFP_CHAIN_POLL_LOOKBACK_SECONDS", 900.0, float),
            poll_give_up_seconds=_number(get, "KFP_CHAIN_POLL_GIVE_UP_SECONDS", 86400.0, float),
            poll_mark=_poll_mark(get("KFP_CHAIN_POLL_MARK") or "kfp-chain/kfp-chain-poll-mark"),
            schedules=_flag(get, "KFP_CHAIN_SCHEDULES", False),
            kfp_ui_host=get("KFP_UI_HOST"),
        )


def _poll_mark(value: str) -> str:
    namespace, _, name = value.partition("/")
    if not namespace or not name or "/" in name:
        raise ConfigurationError(f"KFP_CHAIN_POLL_MARK={value!r} must be 'namespace/name' of a ConfigMap")
    return value


def _delivery(get: Getter) -> DeliveryPolicy:
    """The broker's delivery spec as the deployment describes it (defaults: the shipped Trigger)."""
    spec = {
        "retry": get("KFP_CHAIN_DELIVERY_RETRY") or str(SHIPPED_DELIVERY.retry),
        "backoffPolicy": get("KFP_CHAIN_DELIVERY_BACKOFF_POLICY") or SHIPPED_DELIVERY.backoff_policy,
        "backoffDelay": get("KFP_CHAIN_DELIVERY_BACKOFF_DELAY") or "PT1S",
        "timeout": get("KFP_CHAIN_DELIVERY_TIMEOUT") or "PT30S",
    }
    try:
        return DeliveryPolicy.from_spec(spec)
    except ValueError as exc:
        raise ConfigurationError(f"KFP_CHAIN_DELIVERY_*: {exc}") from exc


def _one_of(name: str, value: str, choices: tuple[C, ...]) -> C:
    """`value` as the member of `choices` it names; the start fails on anything else, naming `name`."""
    for choice in choices:
        if value == choice:
            return choice
    raise ConfigurationError(f"{name}={value!r} must be one of {', '.join(choices)}")


def _auth(get: Getter) -> tuple[AuthMode, str | None, tuple[str, ...]]:
    """KFP_CHAIN_AUTH and what it needs; `oidc` without an audience or a sender would let nobody in."""
    mode = _one_of("KFP_CHAIN_AUTH", (get("KFP_CHAIN_AUTH") or "none").lower(), AUTH_MODES)
    audience = get("KFP_CHAIN_OIDC_AUDIENCE")
    senders = tuple(s.strip() for s in (get("KFP_CHAIN_ALLOWED_SENDERS") or "").split(",") if s.strip())
    if mode == "oidc" and (audience is None or not senders):
        missing = [
            name
            for name, value in (("KFP_CHAIN_OIDC_AUDIENCE", audience), ("KFP_CHAIN_ALLOWED_SENDERS", senders))
            if not value
        ]
        raise ConfigurationError(
            f"KFP_CHAIN_AUTH=oidc needs {' and '.join(missing)}: the token audience this function accepts "
            "and the comma-separated usernames allowed to send, e.g. "
            "system:serviceaccount:kfp-chain:kfp-chain-run-completion-oidc-eventing.knative.dev-trigger"
        )
    return mode, audience, senders


def _flag(get: Getter, name: str, default: bool) -> bool:
    value = get(name)
    if value is None:
        return default
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ConfigurationError(f"{name}={value!r} must be true or false")


def _number(get: Getter, name: str, default: T, kind: type[T]) -> T:
    value = get(name)
    if value is None:
        return default
    try:
        number = kind(value)
    except ValueError as exc:
        raise ConfigurationError(f"{name}={value!r} is not a number") from exc
    if number <= 0:
        raise ConfigurationError(f"{name}={value!r} must be positive")
    return number
