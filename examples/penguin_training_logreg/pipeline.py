"""Trainer B of the ensemble example: the same examples, the same split, a different model family.

A standardised logistic regression beside trainer A's random forest (`penguin_training`): a
linear model and a tree ensemble make different mistakes, which is what makes averaging them worth
it. The output shape is trainer A's (`Trainer:model`, a pickled scikit-learn estimator with
`predict_proba`; `Trainer:metrics`, with `accuracy` also written as JSON into the file), and the
eval split is trainer A's too (same drop of incomplete rows, same stratified split, same
`eval_fraction` and `seed` defaults), so the ensemble's accuracy and both trainers' are measured
on the very same rows. That is checked, not hoped for: each trainer and the ensemble write a digest
of the rows they scored (`eval_split`) into their metrics file, the ensemble recomputes each
trainer's accuracy on its copy of the split, and `make demo-ensemble` compares both.
"""

# No `from __future__ import annotations` here: KFP reads the component signatures at
# decoration time and cannot resolve string annotations such as "dsl.Output[dsl.Dataset]".

import os

from kfp import dsl

__all__ = ["IMAGE", "PIPELINE_NAME", "penguin_training_logreg", "trainer"]

PIPELINE_NAME = "penguin-pipeline-training-logreg"
# The image built from ./Dockerfile; override at compile time to point at your registry.
IMAGE = os.environ.get("PENGUIN_TRAINING_LOGREG_IMAGE", "penguin-training-logreg:v1")


@dsl.component(base_image=IMAGE, install_kfp_package=False, packages_to_install=[])
def trainer(
    examples: dsl.Input[dsl.Dataset],
    model: dsl.Output[dsl.Model],
    metrics: dsl.Output[dsl.Metrics],
    eval_fraction: float = 0.25,
    seed: int = 42,
) -> None:
    """Fits a scaled logistic regression on the stratified train split and scores it on the eval split."""
    import hashlib
    import json
    import pickle
    from urllib.parse import unquote, urlparse

    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import train_test_split
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    path = examples.path
    if path.startswith("file://"):
        path = unquote(urlparse(path).path)
    frame = pd.read_csv(path)
    features = ["bill_length_mm", "bill_depth_mm", "flipper_length_mm", "body_mass_g"]
    frame = frame.dropna(subset=[*features, "species"])
    train, evaluation = train_test_split(
        frame, test_size=eval_fraction, random_state=seed, stratify=frame["species"]
    )
    # The measurements span grams to millimetres: unscaled, the solver would mostly see body mass.
    classifier = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000))
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
    # As trainer A: the JSON file makes the metrics readable from the artifact's location alone.
    with open(metrics.path, "w") as handle:
        json.dump({**scores, "eval_split": digest}, handle)


@dsl.pipeline(
    name=PIPELINE_NAME,
    description="Trains a logistic-regression penguin classifier on imported examples (ensemble trainer B).",
)
def penguin_training_logreg(examples_location: str) -> None:
    examples = dsl.importer(artifact_uri=examples_location, artifact_class=dsl.Dataset, reimport=False)
    trainer(examples=examples.output)
