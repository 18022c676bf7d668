"""`make demo-ensemble`: the fan-in example, examples -> two trainers -> one ensemble, locally.

Same machinery as `make demo` (`kfp_chain.demo.chain.Demo`): the real function under functions-framework
on the folder source and the local runner, the examples RunConfiguration started by hand, and from
then on only the function acts. The folder is `examples/` as a whole, so the tutorial's training
RunConfiguration (`examples/resources`) is trainer A, and `examples/ensemble` adds trainer B and
the ensemble, whose `kfp-chain.io/trigger-policy: all` makes it wait for both trainers.

It plays `--rounds` rounds (default 2), each one examples run and everything it sets off. Round 1
is the cold start: neither trainer has a model yet. Round 2 is what fan-in is for: fresh examples,
both trainers retrain, one after the other; with the default policy `any` the first retrained
model would start an ensemble beside the other trainer's previous model, and the second would
start another. Each round is judged on its own and must show exactly one ensemble run, succeeded,
with that round's examples and both trainers' models as parameters, and all three scored on one eval
split: the digest of the eval rows (`eval_split`, in each metrics file) is the same in the three,
and each trainer's reported accuracy is what the ensemble recomputes for its model.

    python -m kfp_chain.demo.ensemble [--pipelines-dir DIR] [--resources DIR] [--state-dir DIR]
                                      [--rounds N] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..adapters.local.runs import FINISHED, LocalRun, LocalRunStatus
from ..runconfiguration import RcKey
from .chain import Demo, read_metrics, run_demo

__all__ = ["ENSEMBLE_RC", "PIPELINES", "RoundResult", "judge", "main"]

EXAMPLES_RC = RcKey("base-namespace", "penguin-pipeline-examples-rc")
TRAINER_A_RC = RcKey("dependant-namespace", "penguin-pipeline-training-rc")
TRAINER_B_RC = RcKey("dependant-namespace", "penguin-pipeline-training-logreg-rc")
ENSEMBLE_RC = RcKey("dependant-namespace", "penguin-pipeline-ensemble-rc")
PIPELINES = (
    "penguin-pipeline-examples",
    "penguin-pipeline-training",
    "penguin-pipeline-training-logreg",
    "penguin-pipeline-ensemble",
)
SETTLE_SECONDS = 1.5  # once every run of a round has reported: time for a (wrong) extra run to show
SAME_SPLIT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class RoundResult:
    """One round judged: the problems found (none means it worked) and the accuracies to print."""

    problems: tuple[str, ...]
    ensemble_runs: int
    accuracies: dict[str, float] = field(default_factory=dict)
    models: dict[str, str] = field(default_factory=dict)
    eval_rows: int | None = None

    @property
    def ok(self) -> bool:
        return not self.problems


def _artifact(run: LocalRun, name: str) -> str | None:
    return next((a.location for a in run.artifacts if a.name == name), None)


def judge(runs: Sequence[LocalRun]) -> RoundResult:
    """Pure: what one round's runs (those its examples run set off, and it) say about fan-in."""
    by_rc: dict[RcKey, list[LocalRun]] = {}
    for run in runs:
        by_rc.setdefault(RcKey.parse(run.runconfiguration), []).append(run)
    ensembles = by_rc.get(ENSEMBLE_RC, [])
    problems: list[str] = []
    single: dict[RcKey, LocalRun] = {}
    for key, role in ((EXAMPLES_RC, "examples"), (TRAINER_A_RC, "trainer A"), (TRAINER_B_RC, "trainer B")):
        found = by_rc.get(key, [])
        if len(found) != 1:
            problems.append(f"expected one {role} run ({key}), found {len(found)}")
        elif found[0].status != LocalRunStatus.SUCCEEDED:
            problems.append(f"the {role} run {found[0].status}: {found[0].error or 'no error recorded'}")
        else:
            single[key] = found[0]
    if len(ensembles) != 1:
        problems.append(f"expected exactly one ensemble run, found {len(ensembles)}")
        return RoundResult(tuple(problems), len(ensembles))
    (ensemble,) = ensembles
    if ensemble.status != LocalRunStatus.SUCCEEDED:
        problems.append(f"the ensemble run {ensemble.status}: {ensemble.error or 'no error recorded'}")
        return RoundResult(tuple(problems), 1)
    if len(single) == 3:
        expected = {
            "examples_location": _artifact(single[EXAMPLES_RC], "examples"),
            "model_a_location": _artifact(single[TRAINER_A_RC], "model"),
            "model_b_location": _artifact(single[TRAINER_B_RC], "model"),
        }
        for name, location in expected.items():
            if ensemble.parameters.get(name) != location:
                problems.append(
                    f"the ensemble's {name} is {ensemble.parameters.get(name)}, not this round's {location}"
                )
    scores = read_metrics(ensemble)
    if scores is None:
        problems.append("the ensemble's metrics are unreadable")
        return RoundResult(tuple(problems), 1)
    try:
        accuracies = {
            "A": float(scores["model_a_accuracy"]),
            "B": float(scores["model_b_accuracy"]),
            "ensemble": float(scores["accuracy"]),
        }
    except (KeyError, TypeError, ValueError):
        problems.append(f"the ensemble's metrics lack the three accuracies: {sorted(scores)}")
        return RoundResult(tuple(problems), 1)
    for key, label in ((TRAINER_A_RC, "A"), (TRAINER_B_RC, "B")):
        own = read_metrics(single[key]) if key in single else None
        reported = own.get("accuracy") if own else None
        if own is None or not isinstance(reported, int | float):
            problems.append(f"trainer {label}'s own metrics are unreadable")
        elif own.get("eval_split") is None or own.get("eval_split") != scores.get("eval_split"):
            problems.append(
                f"trainer {label} scored eval rows {own.get('eval_split')}, the ensemble"
                f" {scores.get('eval_split')}: the splits differ"
            )
        elif abs(float(reported) - accuracies[label]) > SAME_SPLIT_TOLERANCE:
            problems.append(
                f"trainer {label} reported accuracy {reported:.4f} but scores {accuracies[label]:.4f} on the"
                " ensemble's eval split: the splits differ"
            )
    models = {"A": str(scores.get("model_a", "?")), "B": str(scores.get("model_b", "?"))}
    rows = scores.get("eval_rows")
    return RoundResult(tuple(problems), 1, accuracies, models, int(rows) if isinstance(rows, int) else None)


class EnsembleDemo(Demo):
    pipelines = PIPELINES

    def play_round(self, number: int) -> list[LocalRun] | None:
        """Starts the examples by hand and waits until every run it set off has run and reported.

        Returns the round's runs, or None when the round could not be played (timeout, the
        function died, the examples could not be started).
        """
        before = {r.run_id for r in self.observe()}
        self.by_hand_error = None
        self.say(f"round {number} of {self.args.rounds}")
        self.start_by_hand(EXAMPLES_RC)
        deadline = time.monotonic() + self.args.timeout
        settled_at: float | None = None
        while time.monotonic() < deadline:
            runs = [r for r in self.observe() if r.run_id not in before]
            if self.by_hand_error is not None:
                self.say(f"could not start {EXAMPLES_RC}: {self.by_hand_error}")
                return None
            if self.server is not None and self.server.poll() is not None:
                self.say(f"the function exited unexpectedly with code {self.server.returncode}")
                return None
            # A run posts its completion event only after it finished, and the function has queued
            # its dependents by the time it answers: all reported means nothing more will start.
            if runs and all(r.status in FINISHED and r.event_status is not None for r in runs):
                settled_at = settled_at or time.monotonic()
                if time.monotonic() - settled_at >= SETTLE_SECONDS:
                    return runs
            else:
                settled_at = None
            time.sleep(0.1)
        self.say(f"round {number} timed out after {self.args.timeout:.0f} s")
        return None

    def report_round(self, number: int, result: RoundResult) -> None:
        if result.accuracies:
            rows = f"the same {result.eval_rows} eval rows" if result.eval_rows else "one eval split"
            self.say(f"round {number}: accuracy on {rows}")
            for label, who, model in (
                ("A", "trainer A", result.models.get("A", "?")),
                ("B", "trainer B", result.models.get("B", "?")),
                ("ensemble", "ensemble ", "soft vote of A and B"),
            ):
                print(f"         {who}  {model:<24} {result.accuracies[label]:.3f}", flush=True)
        for problem in result.problems:
            self.say(f"round {number}: {problem}")
        self.say(f"round {number}: ensemble runs started: {result.ensemble_runs}")

    def play(self) -> bool:
        ok = True
        for number in range(1, self.args.rounds + 1):
            runs = self.play_round(number)
            if runs is None:
                return False
            result = judge(runs)
            self.report_round(number, result)
            ok = ok and result.ok
        if ok:
            self.say(
                f"fan-in complete: {self.args.rounds} examples run(s), exactly one ensemble run each,"
                " started once both trainers had a new model"
            )
        return ok


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run the examples -> two trainers -> ensemble chain locally")
    parser.add_argument("--pipelines-dir", type=Path, default=Path(".local/kfp-chain/pipelines"))
    parser.add_argument(
        "--resources", type=Path, default=Path("examples"), help="both folders: resources/ and ensemble/"
    )
    parser.add_argument(
        "--state-dir", type=Path, default=Path(".local/demo-ensemble"), help="wiped at the start"
    )
    parser.add_argument(
        "--rounds", type=int, default=2, help="examples runs, one after the other (default 2)"
    )
    parser.add_argument("--timeout", type=float, default=180.0, help="seconds per round")
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    if not Path("functions/main.py").is_file() or not args.resources.is_dir():
        print("run the demo from the repository root (make demo-ensemble)", file=sys.stderr)
        return 2

    demo = EnsembleDemo(args)
    return run_demo(demo, demo.play)


if __name__ == "__main__":
    raise SystemExit(main())
