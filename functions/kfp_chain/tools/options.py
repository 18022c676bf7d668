"""The options the `kfp-chain` commands share, declared once, and the parsing behind them.

Each decorator here declares one option for every command that takes it, with its environment
variable, and turns what was typed into a value the work modules use: `--runconfigurations`
becomes the `Settings` the function itself would run with, `--artifact` a tuple of `Artifact`s,
NAMESPACE/NAME an `RcKey`. A bad value is a usage error (exit 2) naming the option.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any, Literal, TypeVar

import click

from ..errors import ConfigurationError
from ..intake import RunStatus
from ..runconfiguration import Artifact, RcKey
from ..settings import Settings

__all__ = [
    "Misconfigured",
    "Output",
    "artifacts_option",
    "output_option",
    "parse_artifacts",
    "parse_key",
    "run_id_option",
    "runconfigurations_option",
    "settings_for",
    "source_argument",
    "status_option",
]

F = TypeVar("F", bound=Callable[..., Any])
SOURCE = "kfp_chain.source"  # where `source_argument` leaves a positional FOLDER for `--runconfigurations`
Output = Literal["text", "json"]


class Misconfigured(click.ClickException):
    """Usage or configuration: exit status 2, like click's own usage errors."""

    exit_code = 2


def settings_for(runconfigurations: str | None) -> Settings:
    """The function's own settings from the environment, `--runconfigurations` taking precedence."""
    env = dict(os.environ)
    if runconfigurations:
        env["RUNCONFIGURATIONS"] = runconfigurations
    try:
        return Settings.from_env(env)
    except ConfigurationError as exc:
        raise Misconfigured(str(exc)) from exc


def parse_artifacts(values: Iterable[str]) -> tuple[Artifact, ...]:
    result: dict[str, Artifact] = {}
    for value in values:
        name, sep, location = value.partition("=")
        if not sep or not name or not location:
            raise click.BadParameter(f"{value!r} is not name=uri", param_hint="--artifact")
        result[name] = Artifact(name, location)
    return tuple(result.values())


def parse_key(text: str) -> RcKey:
    try:
        return RcKey.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def runconfigurations_option(
    metavar: str = "kubernetes|FOLDER",
    help: str = "Where RunConfigurations come from: the cluster (kubeconfig) or a folder of YAML files.",
) -> Callable[[F], F]:
    """`--runconfigurations/-r` (or RUNCONFIGURATIONS), handed to the command as `settings`."""
    return click.option(
        "--runconfigurations",
        "-r",
        "settings",
        envvar="RUNCONFIGURATIONS",
        show_envvar=True,
        metavar=metavar,
        help=help,
        callback=lambda ctx, _param, value: settings_for(ctx.meta.get(SOURCE) or value),
    )


def source_argument(command: F) -> F:
    """`[FOLDER]`: the source as a positional argument, as `kubectl apply -f` and kubeconform take it.

    Eager, so that it is known before `--runconfigurations` turns the source into settings; when
    given, it wins over RUNCONFIGURATIONS and the option.
    """

    def remember(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
        if value:
            ctx.meta[SOURCE] = value

    return click.argument(
        "source", required=False, metavar="[FOLDER|kubernetes]", is_eager=True, expose_value=False,
        callback=remember,
    )(command)  # fmt: skip


def output_option(command: F) -> F:
    """`--output/-o text|json` (or KFP_CHAIN_OUTPUT)."""
    return click.option(
        "--output",
        "-o",
        type=click.Choice(["text", "json"]),
        default="text",
        envvar="KFP_CHAIN_OUTPUT",
        show_envvar=True,
        help="text for people, json for machines.",
    )(command)


def artifacts_option(help: str) -> Callable[[F], F]:
    """`--artifact/-a NAME=URI`, repeatable, handed over as a tuple of `Artifact`s (last one wins)."""
    return click.option(
        "--artifact",
        "-a",
        "artifacts",
        multiple=True,
        metavar="NAME=URI",
        help=help,
        callback=lambda _ctx, _param, values: parse_artifacts(values),
    )


def run_id_option(help: str) -> Callable[[F], F]:
    return click.option("--run-id", help=help)


def status_option(default: RunStatus | None, help: str | None = None) -> Callable[[F], F]:
    """`--status succeeded|failed`, the completed run's status, handed on as a `RunStatus`."""
    return click.option(
        "--status",
        type=click.Choice([status.value for status in RunStatus]),  # members would show their names
        default=None if default is None else default.value,
        show_default=default is not None,
        help=help,
        callback=lambda _ctx, _param, value: None if value is None else RunStatus(value),
    )
