"""The upstream pipeline of the seed tutorial: publish the Palmer penguins CSV as an artifact.

kfp-operator's "Pipeline Dependencies" tutorial splits the penguin pipeline in two; this is the
first half. Its one step is named like the tutorial's TFX component (`CsvExampleGen`), so the
RunConfiguration's artifact path `CsvExampleGen:examples` reads the same here as there. The CSV
ships inside the `palmerpenguins` package, so a run needs no network.
"""

# No `from __future__ import annotations` here: KFP reads the component signatures at
# decoration time and cannot resolve string annotations such as "dsl.Output[dsl.Dataset]".

import os

from kfp import dsl

__all__ = ["IMAGE", "PIPELINE_NAME", "csv_example_gen", "penguin_examples"]

PIPELINE_NAME = "penguin-pipeline-examples"
# The image built from ./Dockerfile; override at compile time to point at your registry.
IMAGE = os.environ.get("PENGUIN_EXAMPLES_IMAGE", "penguin-examples:v1")


@dsl.component(base_image=IMAGE, install_kfp_package=False, packages_to_install=[])
def csv_example_gen(examples: dsl.Output[dsl.Dataset]) -> None:
    """Copies the bundled CSV into the output artifact, dropping rows with missing measurements."""
    import pandas as pd
    from palmerpenguins import load_penguins

    frame: pd.DataFrame = load_penguins().dropna()
    frame.to_csv(examples.path, index=False)
    examples.metadata["rows"] = len(frame)


@dsl.pipeline(name=PIPELINE_NAME, description="Publishes the Palmer penguins examples as a Dataset.")
def penguin_examples() -> None:
    csv_example_gen()
