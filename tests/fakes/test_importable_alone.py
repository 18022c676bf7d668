"""The fakes are a package of their own (`kfp_fakes`): the bench imports them without the tests.

`make bench` runs `bench.fakes` with PYTHONPATH=<repo>:<repo>/tests/fakes; nothing it imports may pull in
the `tests` package (whose conftests set up pytest fixtures) or pytest itself. And inside pytest, which
finds the package through `pythonpath` in pyproject.toml, every file of it is loaded once, as
`kfp_fakes...`, never a second time under another name (`tests.fakes.kfp_fakes...`).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import kfp_fakes

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = Path(kfp_fakes.__file__).resolve().parent

_IMPORT_EVERYTHING = """
import pkgutil, sys
import kfp_fakes
modules = [m.name for m in pkgutil.walk_packages(kfp_fakes.__path__, "kfp_fakes.")]
for name in modules:
    __import__(name)
import bench.fakes
leaked = sorted(m for m in sys.modules if m == "pytest" or m == "tests" or m.startswith(("tests.", "_pytest")))
print(len(modules), leaked)
"""


def test_the_bench_imports_every_fake_without_the_tests_or_pytest() -> None:
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'tests' / 'fakes'}"}  # as bench/run.py
    done = subprocess.run(
        [sys.executable, "-c", _IMPORT_EVERYTHING],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    count, leaked = done.stdout.split(" ", 1)
    assert int(count) >= 10  # every module of the package was imported, not just its __init__
    assert leaked.strip() == "[]"


def test_the_package_lives_in_tests_fakes_and_is_loaded_under_one_name_only() -> None:
    assert PACKAGE == ROOT / "tests" / "fakes" / "kfp_fakes"
    names_by_file: dict[str, list[str]] = defaultdict(list)
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and Path(path).resolve().is_relative_to(PACKAGE):
            names_by_file[str(Path(path).resolve())].append(name)
    assert names_by_file, "the tests import the fakes, so some are loaded"
    twice = {path: names for path, names in names_by_file.items() if len(names) > 1}
    assert twice == {}
    assert all(name.startswith("kfp_fakes") for names in names_by_file.values() for name in names)
