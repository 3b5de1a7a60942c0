"""Pipeline cache speed: a fully cached re-run of a 10-step pipeline of trivial steps.

Figures (SQLite metadata store and local artifacts in a scratch project):

- per step, in-process: a cached re-run of the pipeline (run once before,
  so every step hits), best of 5, divided by the 10 steps. It includes the
  pipeline run and each step's child run, cache key, lookup, output
  verification, artifacts and lineage records.
- the whole ``loopml run`` command (a fresh interpreter, imports included)
  for the same cached pipeline, best of 7; and, for scale, ``loopml --help``
  in the same environment (the floor any command pays).

Each step calls a helper from the project's ``helpers.py``, as real steps
call project code outside their own function.

``--peers`` also times DVC (its own virtualenv, ``dvc==3.*``) on the same
shape: a git + DVC repo whose ``dvc.yaml`` chains 10 stages, each
``python stepN.py`` reading the previous output and writing its own, its deps
its script and that input (not ``helpers.py``, which the scripts import).
The cached ``dvc repro`` whole command is timed (a fresh process, best of 5)
beside ``loopml run``. Then, for both tools, ``helpers.py`` alone is edited
(the helper returns a different value) and the pipeline run again: the tool
caught the edit if every step re-ran and the result is the new one.

Interpreters run with bytecode caching on, in a scratch folder
(``PYTHONPYCACHEPREFIX``), as in any installed environment.

Usage: python benchmarks/bench_pipeline_cache.py [--peers]
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import best_of, figure, peer_python, scratch

STEPS = 10
START = 1

HELPERS = "def bump(x: int, n: int) -> int:\n    return x + n\n"
EDITED_HELPERS = HELPERS.replace("x + n", "x + n + 1")
RESULT = START + sum(range(STEPS))
EDITED_RESULT = RESULT + STEPS

PIPELINE = (
    "import loopml\nfrom helpers import bump\n\n\n"
    "@loopml.step\ndef start(n: int) -> int:\n    return bump(n, 0)\n"
    + "".join(
        f"\n\n@loopml.step\ndef step{i}(x: int) -> int:\n    return bump(x, {i})\n"
        for i in range(1, STEPS)
    )
    + f"\n\n@loopml.pipeline\ndef chain(n: int = {START}):\n    x = start(n)\n"
    + "".join(f"    x = step{i}(x)\n" for i in range(1, STEPS))
    + "    return x\n"
)

DVC_STEP = """from helpers import bump

with open("{src}") as fh:
    x = int(fh.read())
with open("{out}", "w") as fh:
    fh.write(str(bump(x, {i})))
"""


@dataclass
class Rerun:
    """How a tool answered a run after an edit to ``helpers.py`` only."""

    reran: int
    before: int
    after: int

    @property
    def caught(self) -> bool:
        return self.reran == STEPS and self.after == EDITED_RESULT

    def line(self, tool: str) -> str:
        return (
            f"{tool}: edit to helpers.py caught: {'yes' if self.caught else 'no'} "
            f"({self.reran} of {STEPS} steps re-ran; result {self.before} -> {self.after}, "
            f"fresh result {EDITED_RESULT})"
        )


def loopml_rerun(root: Path, loopml_bin: str, env: dict[str, str], before: int) -> Rerun:
    """Edit ``helpers.py``, run ``loopml run`` again and read that run's steps."""
    import loopml

    (root / "helpers.py").write_text(EDITED_HELPERS)
    out = subprocess.run(
        [loopml_bin, "run"], cwd=root, env=env, check=True, capture_output=True, text=True
    ).stdout
    found = re.search(r"run (\S+): \d+ steps", out)
    if found is None:
        raise RuntimeError(f"no run id in the output of loopml run:\n{out}")
    run = loopml.load_pipeline_run(found.group(1))
    return Rerun(sum(not s.cached for s in run.steps), before, int(run.steps[-1].output))


def dvc_project(repo: Path) -> None:
    (repo / "helpers.py").write_text(HELPERS)
    (repo / "input.txt").write_text(str(START))
    stages = ["stages:"]
    for i in range(STEPS):
        src = "input.txt" if i == 0 else f"out{i - 1}.txt"
        out = f"out{i}.txt"
        (repo / f"step{i}.py").write_text(DVC_STEP.format(src=src, out=out, i=i))
        stages += [
            f"  step{i}:",
            f"    cmd: python step{i}.py",
            f"    deps: [step{i}.py, {src}]",
            f"    outs: [{out}]",
        ]
    (repo / "dvc.yaml").write_text("\n".join(stages) + "\n")


def dvc_figures() -> tuple[str, float, Rerun] | None:
    """DVC's version, its cached ``dvc repro`` whole command in seconds, and its answer
    to an edit of ``helpers.py``; None if DVC could not be installed."""
    py = peer_python("dvc", "dvc==3.*")
    if py is None:
        return None
    bin_dir = py.parent
    dvc = str(bin_dir / "dvc")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("LOOPML_", "PYTHONPATH", "VIRTUAL_ENV"))
    }
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
    env["DVC_NO_ANALYTICS"] = "1"
    for who in ("AUTHOR", "COMMITTER"):
        env[f"GIT_{who}_NAME"] = "bench"
        env[f"GIT_{who}_EMAIL"] = "bench@example.com"
    with scratch("loopml-bench-dvc-") as repo:

        def sh(*argv: str) -> str:
            result = subprocess.run(
                argv, cwd=repo, env=env, check=True, capture_output=True, text=True
            )
            return result.stdout + result.stderr

        version = sh(dvc, "--version").strip()
        sh("git", "init", "-q")
        sh(dvc, "init", "-q")
        sh(dvc, "config", "core.analytics", "false")
        sh(dvc, "config", "core.check_update", "false")
        dvc_project(repo)
        sh(dvc, "repro")  # fills the cache and dvc.lock
        sh("git", "add", "-A")
        sh("git", "commit", "-q", "-m", "pipeline")
        cached = sh(dvc, "repro")
        assert "Running stage" not in cached, cached
        command = best_of(lambda: sh(dvc, "repro"), repeat=5)

        last = repo / f"out{STEPS - 1}.txt"
        before = int(last.read_text())
        (repo / "helpers.py").write_text(EDITED_HELPERS)
        out = sh(dvc, "repro")
        reran = len(re.findall(r"Running stage '", out))
        return version, command, Rerun(reran, before, int(last.read_text()))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--peers",
        action="store_true",
        help="Also time DVC's cached dvc repro and check both tools against a helper edit.",
    )
    parser.add_argument("--no-peers", dest="peers", action="store_false")
    args = parser.parse_args()

    loopml_bin = str(Path(sys.executable).parent / "loopml")
    with scratch() as root:
        (root / "loopml.toml").write_text('[pipeline]\nentry = "pipeline:chain"\n')
        (root / "helpers.py").write_text(HELPERS)
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
        import loopml.context

        loopml.context.reset()
        from pipeline import chain  # type: ignore[import-not-found]

        cached_in_process()  # warm: imports, engine, source hashes
        per_step = best_of(cached_in_process, repeat=5) / STEPS
        command = best_of(lambda: cli("run"), repeat=7)
        floor = best_of(lambda: cli("--help"), repeat=7)
        ours = None
        if args.peers:
            before = int(chain().steps[-1].output)
            ours = loopml_rerun(root, loopml_bin, env, before)

    figure("loopml --help (floor of any command)", floor * 1000, "ms")
    figure("cached loopml run, 10 steps, whole command", command * 1000, "ms", "<= 300 ms")
    figure("cached step, in-process", per_step * 1000, "ms", "<= 10 ms")
    if ours is None:
        return
    peer = dvc_figures()
    if peer is not None:
        version, dvc_command, theirs = peer
        figure(f"cached dvc repro ({version}), 10 stages, whole command", dvc_command * 1000, "ms")
        figure("  ratio dvc / loopml", dvc_command / command, "x")
    print(ours.line("loopml"), flush=True)
    if peer is not None:
        print(theirs.line("dvc"), flush=True)


if __name__ == "__main__":
    main()
