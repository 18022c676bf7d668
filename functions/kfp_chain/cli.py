"""`kfp-chain`: the command line for people and CI, on the same code the function runs.

Where it sits: beside the function, never in its request path. It reads RunConfigurations from
the cluster (`--runconfigurations kubernetes`, kubeconfig or in-cluster) or from a folder of YAML
files, and answers the questions nothing else answers before it happens:

    explain  EVENT.json | NS/RC   dry run of `chain.plan`, the very function the handler calls
    graph                         trigger and parameter edges, namespaces, refused cycles
    validate                      dangling references, undeclared artifacts, cycles (exit 1 on errors)
    send     URL                  post a run-completion CloudEvent (binary or structured mode)
    run      NS/RC                start one run by hand: on KFP_HOST's KFP, else on the local runner
    reconcile [--dry-run]         start every pending trigger now (what the on_reconcile function does)
    poll [--dry-run]              one poll pass of plain KFP (what the on_kfp_poll function does)

Each command here parses its options (the shared ones are declared once, in `cli_options`) and
calls one function of the module named for the job: `explain`, `graph`, `findings` (validate),
`sending`, `pending` (reconcile) and `run_on_kfp` or the local runner (run); `inventory` loads what
they read.

Text output is for people (rich); `--output json` is for machines. Every option can also come from
the environment: `--runconfigurations` from RUNCONFIGURATIONS, `--output` from KFP_CHAIN_OUTPUT, and
any other from KFP_CHAIN_<COMMAND>_<OPTION> (e.g. KFP_CHAIN_SEND_MODE=structured).
`explain`, `graph`, `validate` and `reconcile --dry-run` never write: not to the cluster, not to the
state store.

Exit status, for every command: 0 ok; 1 findings or a failure of what was asked (validate found
errors, send got no 2xx answer, the cluster or the URL could not be reached); 2 usage or
configuration (a bad option or argument, a setting that is missing or wrong, a file that does not
exist). Every failure is one line on stderr, never a traceback (KFP_CHAIN_DEBUG=1 shows it).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import click

from .errors import ConfigurationError, KfpChainError
from .intake import RunStatus
from .runconfiguration import Artifact, RcKey
from .settings import Settings
from .tools.explain import DRY_RUN_ID, show_explanation
from .tools.findings import show_validation
from .tools.graph import GRAPH_FORMATS, show_graph
from .tools.inventory import first_line
from .tools.options import (
    artifacts_option,
    output_option,
    parse_key,
    run_id_option,
    runconfigurations_option,
    source_argument,
    status_option,
)
from .tools.pending import reconcile_now
from .tools.polling import poll_now
from .tools.sending import send_event

__all__ = ["main"]


class OneLineErrors(click.Group):
    """The one error path every command goes through: each failure is one line on stderr.

    click's own usage errors, our `ClickException`s, kfp-chain's own errors (a backend down, a
    setting wrong) and anything unexpected (a bug, an OSError nobody caught) end here; exit status
    2 for usage and configuration, 1 otherwise (see the module docstring). A command returns its
    exit status. KFP_CHAIN_DEBUG=1 re-raises the unexpected ones with their traceback.
    """

    def main(self, *args: Any, **kwargs: Any) -> Any:
        kwargs["standalone_mode"] = False
        try:
            result = super().main(*args, **kwargs)
        except click.UsageError as exc:
            hint = f" (see {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
            _fail(f"{exc.format_message()}{hint}", exc.exit_code)
        except click.ClickException as exc:
            _fail(exc.format_message(), exc.exit_code)
        except click.Abort:
            _fail("aborted", 1)
        except KfpChainError as exc:
            _fail(str(exc), 2 if isinstance(exc, ConfigurationError) else 1)
        except OSError as exc:  # a file that cannot be read or written: say which, and why
            _fail(f"{exc.filename + ': ' if exc.filename else ''}{exc.strerror or exc}", 2)
        except Exception as exc:
            if os.environ.get("KFP_CHAIN_DEBUG"):
                raise
            _fail(
                f"internal error: {type(exc).__name__}: {first_line(exc)} (KFP_CHAIN_DEBUG=1 shows where)", 1
            )
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int) -> None:
    click.echo(f"kfp-chain: error: {' '.join(message.split())}", err=True)
    sys.exit(code)


@click.group(
    cls=OneLineErrors,
    context_settings={"auto_envvar_prefix": "KFP_CHAIN", "help_option_names": ["-h", "--help"]},
)
@click.version_option(package_name="kfp-chain")
def main() -> None:
    """Chain Kubeflow Pipelines: explain, draw and check RunConfiguration triggers; send events."""


@main.command()
@click.argument("target", metavar="EVENT.json|NAMESPACE/NAME")
@artifacts_option("An artifact of the upstream run (repeatable).")
@run_id_option(f"The upstream run id [default: the event's, or {DRY_RUN_ID}].")
@status_option(None, "The upstream run's status [default: succeeded].")
@output_option
@runconfigurations_option()
def explain(
    target: str,
    artifacts: tuple[Artifact, ...],
    run_id: str | None,
    status: RunStatus | None,
    settings: Settings,
    output: str,
) -> None:
    """What would start if this run completed now, with which parameters, and why not the others.

    A dry run through the function's own planning code; nothing is written anywhere. Without
    --artifact, an NS/NAME stands for a run producing the artifacts its RunConfiguration declares,
    shown as <ns/name:artifact> placeholders.
    """
    show_explanation(settings, target, artifacts, run_id, status, output)


@main.command()
@click.option("--format", "fmt", type=click.Choice(GRAPH_FORMATS), default="mermaid", show_default=True)
@click.option(
    "--out", "out_path", type=click.Path(dir_okay=False, path_type=Path), help="Write here instead of stdout."
)
@source_argument
@runconfigurations_option()
def graph(fmt: Any, out_path: Path | None, settings: Settings) -> None:
    """The RunConfiguration dependency graph.

    Trigger edges are solid, parameter edges (valueFrom.runConfigurationRef) dashed, namespaces
    are boxes, trigger edges inside a cycle are orange and the ones the function refuses (so the
    loop cannot spin) red, and referenced RunConfigurations that do not exist are dashed red nodes.
    """
    show_graph(settings, fmt, out_path)


@main.command()
@click.option("--strict", is_flag=True, help="Warnings fail too.")
@output_option
@source_argument
@runconfigurations_option()
def validate(strict: bool, settings: Settings, output: str) -> int:
    """Check RunConfigurations before `kubectl apply`; exit 1 when there are errors.

    Errors: references to RunConfigurations that do not exist, outputArtifact names the upstream
    does not declare in spec.run.artifacts, trigger cycles, value and valueFrom both set,
    unreadable or duplicate objects. References marked optional only warn.
    """
    return show_validation(settings, strict, output)


@main.command()
@click.argument("url")
@status_option(RunStatus.SUCCEEDED)
@click.option(
    "--rc", "rc", required=True, metavar="NAMESPACE/NAME", help="The RunConfiguration whose run completed."
)
@artifacts_option("An output artifact (repeatable).")
@click.option("--mode", type=click.Choice(["binary", "structured"]), default="binary", show_default=True)
@run_id_option("The completed run's id [default: a new UUID].")
@click.option("--run-name", help="The completed run's name.")
@click.option("--pipeline", help="pipelineName, NAMESPACE/NAME.")
@click.option(
    "--source", "ce_source", default="kfp-chain-cli", show_default=True, help="The CloudEvent source."
)
@click.option("--traceparent", help="A W3C traceparent to carry as a CloudEvents extension.")
@click.option(
    "--timeout", type=float, default=30.0, show_default=True, help="Seconds to wait for the answer."
)
@output_option
def send(
    url: str,
    status: RunStatus,
    rc: str,
    artifacts: tuple[Artifact, ...],
    mode: Any,
    run_id: str | None,
    run_name: str | None,
    pipeline: str | None,
    ce_source: str,
    traceparent: str | None,
    timeout: float,
    output: str,
) -> int:
    """Post a run-completion CloudEvent to URL, as kfp-operator's event source would.

    Exits 1 when the answer is not 2xx (4xx: the event is unusable; 5xx: a broker would retry).
    """
    return send_event(
        url,
        status=status,
        rc=rc,
        artifacts=artifacts,
        mode=mode,
        run_id=run_id,
        run_name=run_name,
        pipeline=pipeline,
        source=ce_source,
        traceparent=traceparent,
        timeout=timeout,
        output=output,
    )


@main.command()
@click.option("--dry-run", is_flag=True, help="List pending triggers and what would start; write nothing.")
@output_option
@runconfigurations_option()
def reconcile(dry_run: bool, settings: Settings, output: str) -> int:
    """Start every pending trigger now: each upstream's latest success its dependents have not consumed.

    Reads the same environment as the function (RUNCONFIGURATIONS, KFP_HOST, KUBECONFIG, ...) and
    runs one pass of `on_reconcile`. Exit 0 when the pass finished, whether or not it started runs;
    1 when a fault stopped it (a backend down, or refusing kfp-chain's credentials); 2 on usage.
    """
    return reconcile_now(settings, dry_run, output)


@main.command()
@click.option("--dry-run", is_flag=True, help="List finished runs and their owners; write nothing.")
@output_option
@runconfigurations_option()
def poll(dry_run: bool, settings: Settings, output: str) -> int:
    """One poll pass of plain KFP: hand every run finished since the mark to its dependents.

    Reads the same environment as the function (RUNCONFIGURATIONS, KFP_HOST, KUBECONFIG, ...) and
    runs one pass of `on_kfp_poll`. Exit 0 when the pass finished, whether or not runs wait for the
    next one; 1 when a fault stopped it (KFP or the mark's store down); 2 on usage.
    """
    return poll_now(settings, dry_run, output)


@main.command("run")
@click.argument("target", metavar="NAMESPACE/NAME", callback=lambda _ctx, _param, value: parse_key(value))
@click.option(
    "--wait/--no-wait",
    default=None,
    help="Return once the run finished [default: wait on the local runner, not on KFP]. On KFP, "
    "exit 0 only when the run SUCCEEDED.",
)
@click.option(
    "--poll-seconds",
    type=float,
    default=5.0,
    show_default=True,
    help="With KFP_HOST and --wait: how often to ask.",
)
@runconfigurations_option()
def run_command(target: RcKey, wait: bool | None, poll_seconds: float, settings: Settings) -> int:
    """Start one run of a RunConfiguration now (its schedule, by hand).

    With KFP_HOST: on that KFP, marked as the RunConfiguration's run, printing the run id (and a link
    with KFP_UI_HOST). Without: on the local runner, from a folder of YAML files.
    """
    if settings.kfp_host:
        from .tools.run_on_kfp import start_on_kfp

        return start_on_kfp(settings, target, wait=bool(wait), poll_seconds=poll_seconds)
    from .adapters.local.runner import start_by_hand

    click.echo(start_by_hand(settings, target, wait=True if wait is None else wait))
    return 0
