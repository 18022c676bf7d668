"""The child process that runs one compiled pipeline package with `kfp.local`.

    python -m kfp_chain.adapters.local.child --package P --pipeline-root R --workspace W \
        --parameters JSON --result FILE

Its own process because `kfp.local` is process-global and takes over the root logger and stdout
while a task runs (see `runner`). It writes `{"status": "succeeded"}` or `{"status": "failed",
"error": ...}` to FILE and exits 0 or 1.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .runs import LocalRunStatus

__all__ = ["main"]


def _typed(parameters: Mapping[str, str], inputs: Mapping[str, Any]) -> dict[str, Any]:
    """RunConfiguration parameters are strings; the pipeline's declared input types decide the rest."""
    typed: dict[str, Any] = {}
    for name, value in parameters.items():
        spec = inputs.get(name)
        kind = str(getattr(spec, "type", "String"))
        if kind == "Integer":
            typed[name] = int(value)
        elif kind == "Float":
            typed[name] = float(value)
        elif kind == "Boolean":
            typed[name] = value.strip().lower() in ("1", "true", "yes", "on")
        elif kind in ("List", "Struct") or kind.startswith(("typing.List", "typing.Dict")):
            typed[name] = json.loads(value)
        else:
            typed[name] = value
    return typed


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run one compiled pipeline package with kfp.local")
    parser.add_argument("--package", required=True, type=Path)
    parser.add_argument("--pipeline-root", required=True, type=Path)
    parser.add_argument("--workspace", required=True, type=Path)
    parser.add_argument("--parameters", default="{}")
    parser.add_argument("--result", required=True, type=Path)
    args = parser.parse_args(argv)

    outcome: dict[str, Any] = {"status": LocalRunStatus.FAILED}
    try:
        from kfp import components, local

        args.workspace.mkdir(parents=True, exist_ok=True)
        local.init(
            runner=local.SubprocessRunner(use_venv=False),
            pipeline_root=str(args.pipeline_root),
            workspace_root=str(args.workspace),
            raise_on_error=True,
        )
        pipeline = components.load_component_from_file(str(args.package))
        inputs = pipeline.component_spec.inputs or {}
        pipeline(**_typed(json.loads(args.parameters), inputs))
        outcome = {"status": LocalRunStatus.SUCCEEDED}
    except Exception as exc:
        outcome = {"status": LocalRunStatus.FAILED, "error": _plain(f"{type(exc).__name__}: {exc}")}
        print(outcome["error"], file=sys.stderr)
    args.result.write_text(json.dumps(outcome))
    return 0 if outcome["status"] == LocalRunStatus.SUCCEEDED else 1


def _plain(text: str) -> str:
    """kfp.local colours its messages for terminals; the state store wants plain text."""
    return re.sub(r"\x1b\[[0-9;]*m", "", text)[:2000]


if __name__ == "__main__":
    raise SystemExit(main())
