"""``status`` over many small files with nothing changed, against ``dvc status``.

    python benchmarks/bench_data_status.py [--files 20000] [--no-peers]

Figures: ``loopml.data.status()`` in-process (best of 5, after one warm-up
call; target ≤ 0.2 s for 20,000 files), the ``loopml data status`` command
(wall time, includes interpreter start), and, unless ``--no-peers``, DVC's
``Repo.status()`` in-process and the ``dvc status`` command over the same
folder tracked by DVC (DVC's own virtualenv).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from _common import best_of, figure, peer_python, run_peer, scratch

VENV_BIN = Path(sys.executable).parent


def make_files(root: Path, n: int) -> None:
    for i in range(n):
        sub = root / f"shard{i % 100:02d}"
        if i < 100:
            sub.mkdir(parents=True)
        (sub / f"item{i:06d}.txt").write_bytes(f"record {i}\n".encode() * 8)


def timed_command(argv: list[str], cwd: Path, env: dict[str, str] | None = None) -> float:
    def run() -> None:
        subprocess.run(argv, cwd=cwd, check=True, capture_output=True, env=env)

    return best_of(run, repeat=3)


_DVC_CODE = """
import json, os, subprocess, sys, time
repo_dir = sys.argv[1]
from dvc.repo import Repo
subprocess.run(["git", "init", "-q"], cwd=repo_dir, check=True)
subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo_dir, check=True)
os.chdir(repo_dir)
repo = Repo(repo_dir)
repo.add("data")
repo.close()
times = []
for i in range(6):
    repo = Repo(repo_dir)
    t = time.perf_counter()
    result = repo.status()
    times.append(time.perf_counter() - t)
    repo.close()
    assert not result, result
t = time.perf_counter()
subprocess.run([sys.executable, "-m", "dvc", "status", "-q"], cwd=repo_dir, check=True)
cli = time.perf_counter() - t
print(json.dumps({"seconds": min(times[1:]), "cli": cli}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    with scratch() as work:
        proj = work / "proj"
        proj.mkdir()
        (proj / "loopml.toml").write_text("")
        data = proj / "data"
        print(f"writing {args.files:,} files ...", file=sys.stderr, flush=True)
        make_files(data, args.files)

        import loopml
        from loopml.data import add_dataset, status

        loopml.configure(project_root=proj)
        os.chdir(proj)
        t = time.perf_counter()
        add_dataset(data, "many", profile=False)
        print(f"added in {time.perf_counter() - t:.1f} s", file=sys.stderr, flush=True)

        def check() -> None:
            (result,) = status()
            assert result.state == "unchanged", result

        check()  # warm-up: page cache, imports
        ours = best_of(check, repeat=5)
        env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
        cli = timed_command([str(VENV_BIN / "loopml"), "data", "status"], proj, env)

        peer = None
        if not args.no_peers:
            py = peer_python("dvc", "dvc==3.*")
            if py is not None:
                dvc_repo = work / "dvcrepo"
                dvc_repo.mkdir()
                shutil.copytree(data, dvc_repo / "data")
                code = _DVC_CODE.replace("sys.argv[1]", repr(str(dvc_repo)))
                peer = run_peer(py, code, cwd=dvc_repo)

        label = f"{args.files:,} files, nothing changed"
        figure(f"loopml data status CLI ({label}, incl. start-up)", cli, "s")
        if peer is not None:
            figure(f"dvc status CLI ({label}, incl. start-up)", peer["cli"], "s")
            figure(f"dvc Repo.status() in-process ({label})", peer["seconds"], "s")
            figure("loopml status speed-up over dvc (in-process)", peer["seconds"] / ours, "x")
        figure(f"loopml status() in-process ({label})", ours, "s", target="<= 0.2 s")


if __name__ == "__main__":
    main()
