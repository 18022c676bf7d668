"""The dependent pipeline of the seed tutorial: train on the examples another pipeline published.

`examples_location` is the whole URI of the upstream `examples` artifact, as kfp-chain resolves it
from the examples RunConfiguration (an f-string around a parameter would compile but never
resolve in `dsl.importer`). The importer hands the step a `dsl.Dataset` whose `path` is the
mounted file on a cluster (`gs://` -> `/gcs/`), but still the `file://` URI under the local runner:
the step accepts both.
"""

# No `from __future__ import annotations` here: KFP reads the component signatures at
# decoration time and cannot resolve string annotations such as "dsl.Output[dsl.Dataset]".

import os

from kfp import dsl

__all__ = ["IMAGE", "PIPELINE_NAME", "penguin_training", "trainer"]

PIPELINE_NAME = "penguin-pipeline-training"
# The image built from ./Dockerfile; override at compile time to point at your registry.
IMAGE = os.environ.get("PENGUIN_TRAINING_IMAGE", "penguin-training:v1")


@dsl.component(base_image=IMAGE, install_kfp_package=False, packages_to_install=[])
def trainer(
    examples: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    eval_fraction: float = 0.25,
    seed: int = 42,
) -> None:
    """Fits a small random forest on a stratified train split and scores it on the eval split."""
    import hashlib
    import json
    import pickle
    from urllib.parse import unquote, urlparse

    import pandas as pd
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.model_selection import train_test_split

    path = examples.path
    if path.startswith("file://"):
        path = unquote(urlparse(path).path)
    frame = pd.read_csv(path)
    features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    frame = frame.dropna(subset=[*features, "species"])
    train, evaluation = train_test_split(
        frame, test_size=eval_fraction, random_state=seed, stratify=frame["species"]
    )
    classifier = RandomForestClassifier(n_estimators=50, random_state=seed, n_jobs=1)
    classifier.fit(train[features], train["species"])
    accuracy = float(classifier.score(evaluation[features], evaluation["species"]))

    with open(model.path, "wb") as handle:
        pickle.dump(classifier, handle)
    model.metadata["framework"] = "scikit-learn"
    scores = {"accuracy": accuracy, "train_rows": len(train), "eval_rows": len(evaluation)}
    for name, value in scores.items():
        metrics.log_metric(name, value)
    # Which rows were scored, as a short digest: the ensemble example checks that both trainers
    # and the ensemble evaluated the very same rows.
    digest = hashlib.sha256(",".join(map(str, sorted(evaluation.index))).encode()).hexdigest()[:16]
    # KFP keeps metrics as artifact metadata; the file makes them readable from the artifact's
    # location too, which is all a downstream RunConfiguration (or `make demo`) is handed.
    with open(metrics.path, "w") as handle:
        json.dump({**scores, "eval_split": digest}, handle)


@dsl.pipeline(name=PIPELINE_NAME, description="Trains a penguin species classifier on imported examples.")
def penguin_training(examples_location: str) -> None:
    examples = dsl.importer(artifact_uri=examples_location, artifact_class=dsl.Dataset, reimport=False)
    trainer(examples=examples.output)
