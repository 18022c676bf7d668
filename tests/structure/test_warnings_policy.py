"""A warning raised by our own code fails the tests; a third-party deprecation does not.

The policy is pytest's `filterwarnings` in pyproject.toml. It cannot be checked from inside this
run (pytest resets the filters around each test), so these tests run pytest once more, with the
project's own pyproject.toml, on a small generated test file. Each generated test raises one
warning from a module of a chosen `__name__`: Python attributes a warning to the module whose code
raised it, and that attribution is what the filters match. A warning that should fail its test and
does not -- a filter removed or a module pattern that stopped matching -- turns a test here red.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# (generated test's name, module the warning is attributed to, category, whether the run must fail)
CASES = [
    ("package_user_warning", "kfp_chain.chain", "UserWarning", True),
    ("package_deprecation", "kfp_chain.adapters.kfp.launcher", "DeprecationWarning", True),
    ("package_root", "kfp_chain", "RuntimeWarning", True),
    ("entry_point", "main", "UserWarning", True),
    ("test_code", "tests.builders", "ResourceWarning", True),
    ("fakes_code", "kfp_fakes.kubernetes.watch", "ResourceWarning", True),
    ("bench_code", "bench.run", "FutureWarning", True),
    ("third_party_deprecation", "kfp.client.client", "DeprecationWarning", False),
    ("third_party_user_warning", "kubernetes.client", "UserWarning", False),
    ("kfp_client_notice", "kfp.client.client", "FutureWarning", False),
    ("a_package_that_only_starts_alike", "kfp_chainsaw", "UserWarning", False),
]

PROBE = '''
import types
import warnings


def warn_from(module_name, category, message="probe"):
    """Raises the warning from code whose module is `module_name`, as Python attributes it."""
    module = types.ModuleType(module_name)
    exec(
        "import warnings\\n"
        "def warn(message, category):\\n"
        "    warnings.warn(message, category, stacklevel=1)\\n",
        module.__dict__,
    )
    module.warn(message, category)
'''

MESSAGES = {"kfp_client_notice": "This client only works with Kubeflow Pipeline v2.0.0 and above"}


@dataclass(frozen=True)
class Run:
    failed: dict[str, bool]  # generated test's name -> whether it failed
    output: str  # what pytest printed, warnings summary included


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Runs the generated tests once, under the project's pytest config."""
    folder = tmp_path_factory.mktemp("warnings_policy")
    lines = [PROBE]
    for name, module, category, _ in CASES:
        message = MESSAGES.get(name, f"probe-{name}")
        lines.append(f"\ndef test_{name}():\n    warn_from({module!r}, {category}, {message!r})\n")
    probe = folder / "test_probe.py"
    probe.write_text("".join(lines))
    report = folder / "report.xml"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-c",
            str(ROOT / "pyproject.toml"),
            "--rootdir",
            str(folder),
            "-p",
            "no:cacheprovider",
            "-q",
            f"--junitxml={report}",
            str(probe),
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert report.exists(), result.stdout + result.stderr
    found = {
        case.attrib["name"].removeprefix("test_"): case.find("failure") is not None
        or case.find("error") is not None
        for case in ET.parse(report).getroot().iter("testcase")
    }
    assert set(found) == {name for name, *_ in CASES}, result.stdout + result.stderr
    return Run(found, result.stdout + result.stderr)


@pytest.mark.parametrize(
    ("name", "module", "category"),
    [(name, module, category) for name, module, category, fails in CASES if fails],
)
def test_a_warning_from_our_own_code_fails_the_test(run: Run, name: str, module: str, category: str) -> None:
    assert run.failed[name], f"a {category} attributed to {module} did not fail its test"


@pytest.mark.parametrize(
    ("name", "module", "category"),
    [(name, module, category) for name, module, category, fails in CASES if not fails],
)
def test_a_third_party_warning_stays_as_it_was(run: Run, name: str, module: str, category: str) -> None:
    assert not run.failed[name], f"a {category} attributed to {module} failed its test"


def test_third_party_deprecations_stay_silent_and_other_warnings_stay_reported(run: Run) -> None:
    """As before the policy: deprecations of libraries we cannot fix are not even listed."""
    assert "probe-third_party_deprecation" not in run.output
    assert "This client only works with Kubeflow Pipeline" not in run.output
    assert "UserWarning: probe-third_party_user_warning" in run.output
