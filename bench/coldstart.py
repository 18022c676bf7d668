"""Cold start, as Knative sees it from scale-from-zero: import the function, build it, fill the index.

    python -m bench.coldstart   (environment as for the function: RUNCONFIGURATIONS, KUBECONFIG, ...)

Prints one JSON line as soon as the index is ready: seconds to import functions/main.py, to build the app (which imports the
kubernetes and kfp clients), and from then until the watch index answers ready (the first,
paginated list). Interpreter start-up is the parent's part of the total.
"""

from __future__ import annotations

import time

started = time.perf_counter()

import json  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402


def main() -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "functions"))
    import main as function  # the deployable entry point itself

    imported = time.perf_counter()
    app = function.get_app()
    built = time.perf_counter()
    deadline = built + 120
    while not app.ready() and time.perf_counter() < deadline:
        time.sleep(0.005)
    ready = time.perf_counter()
    size = len(app.index.current())
    status = dict(
        line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines() if ":" in line
    )
    print(
        json.dumps(
            {
                "import_s": imported - started,
                "build_s": built - imported,
                "list_s": ready - built,
                "total_s": ready - started,
                "size": size,
                "rss_bytes": int(status["VmRSS"].split()[0]) * 1024,
                "hwm_bytes": int(status["VmHWM"].split()[0]) * 1024,
            }
        ),
        flush=True,  # the parent times spawn to this line
    )
    app.close()


if __name__ == "__main__":
    main()
