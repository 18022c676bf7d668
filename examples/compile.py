"""Compiles the example pipelines into the local pipeline store: `<out>/<pipeline-name>.yaml`.

The local runner (and `make demo`) look pipelines up by name in that folder, as a KFP server looks
them up by display name; these packages are build output (`make compile-examples`), never edited
by hand or committed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from kfp import compiler

sys.path.insert(0, str(Path(__file__).resolve().parent))

from penguin_ensemble.pipeline import PIPELINE_NAME as ENSEMBLE_NAME
from penguin_ensemble.pipeline import penguin_ensemble
from penguin_examples.pipeline import PIPELINE_NAME as EXAMPLES_NAME
from penguin_examples.pipeline import penguin_examples
from penguin_training.pipeline import PIPELINE_NAME as TRAINING_NAME
from penguin_training.pipeline import penguin_training
from penguin_training_logreg.pipeline import PIPELINE_NAME as TRAINING_LOGREG_NAME
from penguin_training_logreg.pipeline import penguin_training_logreg

__all__ = ["PIPELINES", "compile_all", "main"]

DEFAULT_OUT = Path(".local/kfp-chain/pipelines")

PIPELINES: dict[str, Callable[..., Any]] = {
    EXAMPLES_NAME: penguin_examples,
    TRAINING_NAME: penguin_training,
    # The ensemble example (examples/ensemble): a second trainer and the fan-in pipeline.
    TRAINING_LOGREG_NAME: penguin_training_logreg,
    ENSEMBLE_NAME: penguin_ensemble,
}


def compile_all(out: Path) -> list[Path]:
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, pipeline in PIPELINES.items():
        target = out / f"{name}.yaml"
        compiler.Compiler().compile(pipeline_func=pipeline, package_path=str(target))
        written.append(target)
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--out", type=Path, default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})"
    )
    args = parser.parse_args(argv)
    for path in compile_all(args.out):
        print(f"compiled {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
