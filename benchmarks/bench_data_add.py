"""Throughput of ``add_dataset`` on one large file, against ``cp`` + ``sync``, raw BLAKE3
and ``dvc add``.

    python benchmarks/bench_data_add.py [--size-mib 1024] [--no-peers]

Figures, each the best of 3 in a fresh project whose metadata database
already exists, starting with no dirty pages (``sync`` before each):

- ``cp`` + ``sync``: the file copied by ``cp`` next to the store and flushed
  to the disk, the floor any durable copy pays;
- ``add_dataset`` until durable: the add (hash + copy into the store, which
  flushes the object and its folder before the version is recorded) followed
  by ``sync``, so nothing it wrote is still in the page cache; its speed
  over ``cp`` + ``sync`` (target ≥ 0.5);
- ``add_dataset`` alone (the call returning; it includes the flush);
- raw single-threaded BLAKE3 over the bytes in memory, and the add's speed
  over it (for scale only: the add waits for the disk, the raw hash does
  not);
- unless ``--no-peers``, ``dvc add`` of the same file in a fresh git+dvc
  repo (DVC's own virtualenv, timed inside its process).
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


def cp_sync(path: Path, work: Path) -> float:
    """Seconds to ``cp`` the file beside the stores and ``sync`` it to the disk, best of 3."""
    times = []
    for i in range(3):
        dest = work / f"copy{i}.bin"
        os.sync()
        t = time.perf_counter()
        subprocess.run(["cp", str(path), str(dest)], check=True)
        subprocess.run(["sync"], check=True)
        times.append(time.perf_counter() - t)
        dest.unlink()
    return min(times)


def loopml_add(path: Path, work: Path) -> tuple[float, float]:
    """Seconds of the best ``add_dataset`` call, and of the best add followed by ``sync``
    (until everything it wrote is on the disk)."""
    import loopml
    import loopml.context
    from loopml.data import add_dataset

    calls, durable = [], []
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
        calls.append(time.perf_counter() - t)
        subprocess.run(["sync"], check=True)
        durable.append(time.perf_counter() - t)
        shutil.rmtree(proj)
    return min(calls), min(durable)


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
        copy = cp_sync(src, work)
        ours, durable = loopml_add(src, work)
        figure("cp + sync", mib / copy, "MiB/s")
        figure("loopml add_dataset until durable (add + sync)", mib / durable, "MiB/s")
        figure("loopml add_dataset until durable / cp + sync", copy / durable, "x", target=">= 0.5")
        figure("raw BLAKE3 (1 thread, in memory)", mib / raw, "MiB/s")
        figure("loopml add_dataset (the call)", mib / ours, "MiB/s")
        peer = None if args.no_peers else dvc_add(src, work)
        if peer is not None:
            figure("dvc add (hash + copy into cache)", mib / peer, "MiB/s")
            figure("dvc add / raw BLAKE3", raw / peer, "x")
            figure("loopml add_dataset speed-up over dvc add", peer / ours, "x")
        figure("loopml add_dataset / raw BLAKE3", raw / ours, "x")


if __name__ == "__main__":
    main()
