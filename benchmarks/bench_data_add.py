"""Throughput of ``add_dataset`` on one large file, against raw BLAKE3 and ``dvc add``.

    python benchmarks/bench_data_add.py [--size-mib 1024] [--no-peers]

Figures: raw single-threaded BLAKE3 over the bytes in memory; ``add_dataset``
(hash + copy into a fresh store, best of 3, each in a fresh project whose
metadata database already exists); their ratio (target ≥ 0.5); and, unless
``--no-peers``, ``dvc add`` of the same file in a fresh git+dvc repo (DVC's
own virtualenv, timed inside its process), best of 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import time
from pathlib import Path

from _common import best_of, figure, peer_python, run_peer, scratch


def make_file(path: Path, size: int) -> None:
    chunk = 16 << 20
    with open(path, "wb") as fh:
        left = size
        while left:
            n = min(chunk, left)
            fh.write(os.urandom(n))
            left -= n


def raw_blake3(path: Path) -> float:
    import blake3

    data = path.read_bytes()
    return best_of(lambda: blake3.blake3(data).hexdigest(), repeat=3)


def loopml_add(path: Path, work: Path) -> float:
    import loopml
    import loopml.context
    from loopml.data import add_dataset

    times = []
    for i in range(3):
        proj = work / f"proj{i}"
        proj.mkdir()
        (proj / "loopml.toml").write_text("")
        loopml.context.reset()
        loopml.configure(project_root=proj)
        loopml.context.current().metadata.schema_revision()  # create the database first
        os.sync()  # start each run without the previous run's dirty pages
        t = time.perf_counter()
        add_dataset(path, "big", profile=False)
        times.append(time.perf_counter() - t)
        shutil.rmtree(proj)
    return min(times)


_DVC_CODE = """
import json, os, shutil, subprocess, sys, time
src, work = sys.argv[1], sys.argv[2]
from dvc.repo import Repo
times = []
for i in range(3):
    repo_dir = os.path.join(work, f"dvc{i}")
    os.makedirs(repo_dir)
    subprocess.run(["git", "init", "-q"], cwd=repo_dir, check=True)
    subprocess.run([sys.executable, "-m", "dvc", "init", "-q"], cwd=repo_dir, check=True)
    dest = os.path.join(repo_dir, "big.bin")
    os.link(src, dest) if os.stat(src).st_dev == os.stat(repo_dir).st_dev else shutil.copy(src, dest)
    os.chdir(repo_dir)
    repo = Repo(repo_dir)
    os.sync()
    t = time.perf_counter()
    repo.add("big.bin")
    times.append(time.perf_counter() - t)
    repo.close()
    os.chdir(work)
    shutil.rmtree(repo_dir)
print(json.dumps({"seconds": min(times)}))
"""


def dvc_add(path: Path, work: Path) -> float | None:
    py = peer_python("dvc", "dvc==3.*")
    if py is None:
        return None
    code = _DVC_CODE.replace("sys.argv[1], sys.argv[2]", f"{str(path)!r}, {str(work)!r}")
    return float(run_peer(py, code, cwd=work)["seconds"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--no-peers", action="store_true")
    args = parser.parse_args()
    size = args.size_mib << 20
    mib = size / (1 << 20)
    with scratch() as work:
        src = work / "big.bin"
        make_file(src, size)
        subprocess.run(["sync"], check=False)
        raw = raw_blake3(src)
        ours = loopml_add(src, work)
        figure("raw BLAKE3 (1 thread, in memory)", mib / raw, "MiB/s")
        figure("loopml add_dataset (hash + copy)", mib / ours, "MiB/s")
        peer = None if args.no_peers else dvc_add(src, work)
        if peer is not None:
            figure("dvc add (hash + copy into cache)", mib / peer, "MiB/s")
            figure("dvc add / raw BLAKE3", raw / peer, "x")
            figure("loopml add_dataset speed-up over dvc add", peer / ours, "x")
        figure("loopml add_dataset / raw BLAKE3", raw / ours, "x", target=">= 0.5")


if __name__ == "__main__":
    main()
