"""The fan-in of the ensemble example: combine both trainers' models, score all three on one split.

Its RunConfiguration is triggered by both trainers with `kfp-chain.io/trigger-policy: all`, so a
run starts once per pair of fresh models rather than once per trainer. Each location is the whole
URI of an upstream artifact (an f-string around a parameter would compile but never resolve in
`dsl.importer`), imported with the artifact class its producer declared.

Soft voting: the class probabilities of both models, averaged; both are scikit-learn estimators
with `predict_proba` and must agree on the class order. The eval split is rebuilt exactly as the
trainers build it (same rows dropped, same stratified split, same defaults), and each model is
scored on it here as well, so the three accuracies in the output are measured on the same rows;
a trainer's `eval_split` digest differing from the ensemble's, or its own `accuracy` from
`model_a_accuracy`/`model_b_accuracy`, would mean the splits diverged (`make demo-ensemble` checks).
"""

# No `from __future__ import annotations` here: KFP reads the component signatures at
# decoration time and cannot resolve string annotations such as "dsl.Output[dsl.Dataset]".

import os

from kfp import dsl

__all__ = ["IMAGE", "PIPELINE_NAME", "ensemble", "penguin_ensemble"]

PIPELINE_NAME = "penguin-pipeline-ensemble"
# The image built from ./Dockerfile; override at compile time to point at your registry.
IMAGE = os.environ.get("PENGUIN_ENSEMBLE_IMAGE", "penguin-ensemble:v1")


@dsl.component(base_image=IMAGE, install_kfp_package=False, packages_to_install=[])
def ensemble(
    examples: dsl.Input[dsl.Dataset],
    model_a: dsl.Input[dsl.Model],
    model_b: dsl.Input[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    eval_fraction: float = 0.25,
    seed: int = 42,
) -> None:
    """Averages both models' class probabilities on the trainers' eval split and scores all three."""
    import hashlib
    import json
    import pickle
    from typing import Any
    from urllib.parse import unquote, urlparse

    import numpy as np
    import pandas as pd
    from sklearn.model_selection import train_test_split

    def local(path: str) -> str:
        # Mounted paths on a cluster (gs:// -> /gcs/); still the file:// URI under the local runner.
        return unquote(urlparse(path).path) if path.startswith("file://") else path

    def load(artifact: dsl.Model) -> Any:  # an unpickled scikit-learn estimator
        with open(local(artifact.path), "rb") as handle:
            return pickle.load(handle)

    frame = pd.read_csv(local(examples.path))
    features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    frame = frame.dropna(subset=[*features, "species"])
    _, evaluation = train_test_split(
        frame, test_size=eval_fraction, random_state=seed, stratify=frame["species"]
    )
    x, truth = evaluation[features], evaluation["species"].to_numpy()

    first, second = load(model_a), load(model_b)
    classes = list(first.classes_)
    if list(second.classes_) != classes:
        raise ValueError(f"the models disagree on the classes: {classes} vs {list(second.classes_)}")
    probabilities = (first.predict_proba(x) + second.predict_proba(x)) / 2
    voted = np.asarray(classes)[probabilities.argmax(axis=1)]

    def name(model: Any) -> str:
        steps = getattr(model, "steps", None)  # a scikit-learn Pipeline: name its final estimator
        return type(steps[-1][1] if steps else model).__name__

    scores = {
        "accuracy": float((voted == truth).mean()),
        "model_a_accuracy": float(first.score(x, truth)),
        "model_b_accuracy": float(second.score(x, truth)),
        "eval_rows": len(evaluation),
    }
    for key, value in scores.items():
        metrics.log_metric(key, value)
    # The trainers write the same digest of the rows they scored (make demo-ensemble compares them).
    digest = hashlib.sha256(",".join(map(str, sorted(evaluation.index))).encode()).hexdigest()[:16]
    with open(metrics.path, "w") as handle:
        json.dump({**scores, "model_a": name(first), "model_b": name(second), "eval_split": digest}, handle)


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="Soft-votes two penguin classifiers and reports its accuracy beside each model's.",
)
def penguin_ensemble(examples_location: str, model_a_location: str, model_b_location: str) -> None:
    examples = dsl.importer(
        artifact_uri=examples_location, artifact_class=dsl.Dataset, reimport=False
    ).set_display_name("import-examples")
    model_a = dsl.importer(
        artifact_uri=model_a_location, artifact_class=dsl.Model, reimport=False
    ).set_display_name("import-model-a")
    model_b = dsl.importer(
        artifact_uri=model_b_location, artifact_class=dsl.Model, reimport=False
    ).set_display_name("import-model-b")
    ensemble(examples=examples.output, model_a=model_a.output, model_b=model_b.output)
