"""Pipeline cache speed: a fully cached re-run of a 10-step pipeline of trivial steps.

Figures (SQLite metadata store and local artifacts in a scratch project):

- per step, in-process: a cached re-run of the pipeline (run once before,
  so every step hits), best of 5, divided by the 10 steps. It includes the
  pipeline run and each step's child run, cache key, lookup, output
  verification, artifacts and lineage records.
- the whole ``loopml run`` command (a fresh interpreter, imports included)
  for the same cached pipeline, best of 7; and, for scale, ``loopml --help``
  in the same environment (the floor any command pays).

Interpreters run with bytecode caching on, in a scratch folder
(``PYTHONPYCACHEPREFIX``), as in any installed environment.

Usage: python benchmarks/bench_pipeline_cache.py
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_of, figure, scratch

STEPS = 10

PIPELINE = (
    "import loopml\n\n\n@loopml.step\ndef start(n: int) -> int:\n    return n\n"
    + "".join(
        f"\n\n@loopml.step\ndef step{i}(x: int) -> int:\n    return x + {i}\n"
        for i in range(1, STEPS)
    )
    + "\n\n@loopml.pipeline\ndef chain(n: int = 1):\n    x = start(n)\n"
    + "".join(f"    x = step{i}(x)\n" for i in range(1, STEPS))
    + "    return x\n"
)


def main() -> None:
    loopml_bin = str(Path(sys.executable).parent / "loopml")
    with scratch() as root:
        (root / "loopml.toml").write_text('[pipeline]\nentry = "pipeline:chain"\n')
        (root / "pipeline.py").write_text(PIPELINE)
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("LOOPML_") and k != "PYTHONDONTWRITEBYTECODE"
        }
        env["PYTHONPYCACHEPREFIX"] = str(root / "pycache")

        def cli(*args: str) -> None:
            subprocess.run([loopml_bin, *args], cwd=root, env=env, check=True, capture_output=True)

        cli("run")  # fills the cache (and the bytecode cache)
        cli("--help")

        def cached_in_process() -> None:
            run = chain()
            assert all(s.cached for s in run.steps), run.explain

        os.chdir(root)
        sys.path.insert(0, str(root))
        import loopml.config

        loopml.config.reset()
        from pipeline import chain  # type: ignore[import-not-found]

        cached_in_process()  # warm: imports, engine, source hashes
        per_step = best_of(cached_in_process, repeat=5) / STEPS
        command = best_of(lambda: cli("run"), repeat=7)
        floor = best_of(lambda: cli("--help"), repeat=7)

    figure("loopml --help (floor of any command)", floor * 1000, "ms")
    figure("cached loopml run, 10 steps, whole command", command * 1000, "ms", "<= 500 ms")
    figure("cached step, in-process", per_step * 1000, "ms", "<= 10 ms")


if __name__ == "__main__":
    main()
