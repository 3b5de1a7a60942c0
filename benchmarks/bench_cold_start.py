"""Cold start of ``loopml run``: from process start to the first step's first line.

A scratch project like a real one: its pipeline module imports pandas and
scikit-learn at the top, and its first step writes the wall-clock time it
starts to a file. ``loopml run --no-cache`` (so the step really runs) is
started in a fresh interpreter; the figure is the time from spawning the
command to that stamp, best of 5. For scale, two more figures: the
project's own imports alone (a fresh interpreter importing the same
modules, less a bare interpreter), and loopml's own cold start (the same
project without those imports): its imports, settings, the metadata store,
the pipeline's graph and run record and the step's cache key.

And the figure the target is about: ``loopml run --no-cache`` on
``examples/quickstart`` (its data versioned first), from spawning the
command to the start time its first step's run records, best of 5. That
project imports pandas and scikit-learn inside the steps that use them.

Interpreters run with bytecode caching on, in a scratch folder
(``PYTHONPYCACHEPREFIX``), as in any installed environment.

Usage: python benchmarks/bench_cold_start.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_of, figure, scratch

USER_IMPORTS = "import pandas, sklearn.ensemble, sklearn.model_selection"

PIPELINE = """\
import os
import time
from pathlib import Path

{imports}

import loopml


@loopml.step
def load(n: int) -> int:
    Path(os.environ["BENCH_STAMP"]).write_text(repr(time.time()))
    return n


@loopml.step
def double(x: int) -> int:
    return 2 * x


@loopml.pipeline
def train(n: int = 100):
    return double(load(n))
"""


EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "quickstart"

FIRST_STEP_START = """
import loopml
run = loopml.search_runs("kind = 'pipeline'", order_by=["start_time DESC"])[0]
first = loopml.load_pipeline_run(run.id).steps[0]
print(loopml.get_run(first.run_id).start_time.timestamp())
"""


def example_cold_start(base: Path, env: dict[str, str], loopml_bin: str) -> float:
    """Best of 5: spawn ``loopml run --no-cache`` on the quickstart, until its first step's
    run starts (read back from the run records)."""
    import shutil

    root = base / "quickstart"
    shutil.copytree(EXAMPLE, root, ignore=shutil.ignore_patterns("data", ".loopml", "loopml.lock"))

    def sh(*args: str) -> str:
        done = subprocess.run(args, cwd=root, env=env, check=True, capture_output=True, text=True)
        return done.stdout

    sh(sys.executable, "prepare.py")
    sh(loopml_bin, "data", "add", "data/digits.csv", "--name", "digits")
    times = []
    for _ in range(6):
        start = time.time()
        sh(loopml_bin, "run", "--no-cache")
        times.append(float(sh(sys.executable, "-c", FIRST_STEP_START).strip()) - start)
    return min(times[1:])  # the first run also fills the bytecode cache


def main() -> None:
    loopml_bin = str(Path(sys.executable).parent / "loopml")
    with scratch() as base:
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LOOPML_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["PYTHONPYCACHEPREFIX"] = str(base / "pycache")
        stamp = base / "stamp"
        env["BENCH_STAMP"] = str(stamp)

        def project(name: str, imports: str) -> Path:
            root = base / name
            root.mkdir()
            (root / "loopml.toml").write_text('[pipeline]\nentry = "pipeline:train"\n')
            (root / "pipeline.py").write_text(PIPELINE.format(imports=imports))
            return root

        def to_first_step(root: Path) -> float:
            stamp.unlink(missing_ok=True)
            start = time.time()
            subprocess.run(
                [loopml_bin, "run", "--no-cache"],
                cwd=root,
                env=env,
                check=True,
                capture_output=True,
            )
            return float(stamp.read_text()) - start

        def cold_start(root: Path) -> float:
            to_first_step(root)  # fills the bytecode cache and creates the store
            return min(to_first_step(root) for _ in range(5))

        def python(code: str) -> None:
            subprocess.run([sys.executable, "-c", code], cwd=base, env=env, check=True)

        real = cold_start(project("real", USER_IMPORTS))
        alone = cold_start(project("bare", ""))
        python(USER_IMPORTS)
        user = best_of(lambda: python(USER_IMPORTS), repeat=5) - best_of(
            lambda: python("pass"), repeat=5
        )
        example = example_cold_start(base, env, loopml_bin)

    figure("project's own imports (pandas, scikit-learn)", user * 1000, "ms")
    figure("loopml's own cold start, to the first step", alone * 1000, "ms")
    figure("same, a project importing pandas and scikit-learn at the top", real * 1000, "ms")
    figure(
        "cold start of loopml run on examples/quickstart, to the first step",
        example * 1000,
        "ms",
        "<= 1500 ms",
    )


if __name__ == "__main__":
    main()
