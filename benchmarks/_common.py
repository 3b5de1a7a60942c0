"""Helpers shared by the benchmark scripts.

Peers (MLflow, DVC, ...) are timed from their own virtualenvs under
``benchmarks/.peers/<name>``, made on first use and kept, so their
dependencies never mix with loopml's. ``--no-peers`` on a script skips them.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import venv
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

HERE = Path(__file__).resolve().parent
PEERS = HERE / ".peers"


def peer_python(name: str, *requirements: str) -> Path | None:
    """The python of a virtualenv with ``requirements`` installed, or None if that failed."""
    env = PEERS / name
    py = env / "bin" / "python"
    stamp = env / ".installed"
    if stamp.exists() and stamp.read_text() == " ".join(requirements):
        return py
    print(f"[peers] installing {' '.join(requirements)} into {env} ...", file=sys.stderr)
    if not py.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(env)
    result = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", *requirements],
        capture_output=True,
        text=True,
        cwd=HERE,  # the caller may stand in a scratch folder that is gone by now
    )
    if result.returncode != 0:
        print(f"[peers] could not install {requirements}: {result.stderr[-500:]}", file=sys.stderr)
        return None
    stamp.write_text(" ".join(requirements))
    return py


def run_peer(py: Path, code: str, *, cwd: Path | None = None, timeout: float = 1800) -> dict:
    """Run ``code`` with the peer's python; it must print one JSON object last."""
    result = subprocess.run(
        [str(py), "-c", code],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={k: v for k, v in os.environ.items() if not k.startswith(("LOOPML_", "PYTHONPATH"))},
    )
    if result.returncode != 0:
        raise RuntimeError(f"peer failed: {result.stderr[-2000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


@contextmanager
def scratch(prefix: str = "loopml-bench-") -> Iterator[Path]:
    """A temporary folder, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix=prefix) as d:
        yield Path(d)


def best_of(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of ``repeat`` timings of ``fn()`` in seconds (noise only adds time)."""
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def median(values: list[float]) -> float:
    return statistics.median(values)


def figure(label: str, value: float, unit: str, target: str | None = None) -> None:
    """Print one figure line: ``label: value unit (target ...)``."""
    tail = f"   (target {target})" if target else ""
    print(f"{label}: {value:,.3f} {unit}{tail}", flush=True)
