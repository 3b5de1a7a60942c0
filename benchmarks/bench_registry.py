"""Registry: register, set an alias, resolve ``models:/x@alias``, with 1,000 versions.

A model ``x`` is given 1,000 versions first (recorded straight through the
registry's repository, each with its own manifest digest; not timed), and 50
runs each log a small scikit-learn model with ``loopml.log_model``. Timed,
median of 50 calls each:

- ``register_model("runs:/<id>/model", "x")`` — a new version each call;
- ``set_alias("x", "champion", N)`` — moving the alias each call;
- ``loopml.lineage.resolve("models:/x@champion")`` — through the URI registry.

On SQLite always, and on PostgreSQL with ``--postgres URL`` or when
``LOOPML_TEST_POSTGRES_URL`` is set (a scratch schema, dropped afterwards).

Usage: python benchmarks/bench_registry.py [--versions N] [--postgres URL]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from _common import figure, median, scratch
from bench_search import postgres_schema

CALLS = 50


def _packages(n: int) -> list[str]:
    """``n`` runs, each logging a small scikit-learn model (a different one each, so
    every registration makes a new version)."""
    import numpy as np
    from sklearn.linear_model import LogisticRegression

    import loopml

    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 4))
    y = (X[:, 0] > 0).astype(int)
    sources = []
    for i in range(n):
        model = LogisticRegression(C=1.0 + i).fit(X, y)
        with loopml.start_run(experiment="bench-registry"):
            sources.append(loopml.log_model(model).uri)
    return sources


def _seed(n: int, source: str) -> None:
    import loopml
    import loopml.context
    from loopml.registry import _repository

    run_id = source.split("/")[1]
    meta = loopml.context.current().metadata
    for i in range(n):
        _repository.register(
            meta,
            name="x",
            run_id=run_id,
            source=source,
            manifest_digest=f"{i:064x}",
            digests=[f"{i:064x}"],
            description=None,
            tags={"i": str(i)},
        )


def _timed(fn: Any, args: list[Any]) -> float:
    times = []
    for a in args:
        t = time.perf_counter()
        fn(a)
        times.append(time.perf_counter() - t)
    return median(times) * 1000


def bench(tracking_uri: str, folder: Path, versions: int, backend: str) -> None:
    import loopml
    import loopml.context

    loopml.context.reset()
    loopml.configure(tracking_uri=tracking_uri, artifact_uri=str(folder / "artifacts"))
    sources = _packages(CALLS)
    _seed(versions, sources[0])
    n = len(loopml.search_model_versions("name = 'x'", max_results=100_000))
    print(f"[{backend}] {n:,} versions of x present", flush=True)
    register = _timed(lambda s: loopml.register_model(s, "x"), sources)
    made = len(loopml.search_model_versions("name = 'x'", max_results=100_000)) - n
    assert made == CALLS, f"{made} versions registered of {CALLS}"
    alias = _timed(lambda v: loopml.set_alias("x", "champion", v), list(range(1, CALLS + 1)))
    resolve = _timed(lambda _: loopml.lineage.resolve("models:/x@champion"), [None] * CALLS)
    figure(f"{backend}: register_model", register, "ms", "<= 10 ms")
    figure(f"{backend}: set_alias", alias, "ms", "<= 10 ms")
    figure(f"{backend}: resolve models:/x@champion", resolve, "ms", "<= 10 ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--versions", type=int, default=1000)
    parser.add_argument("--postgres", default=os.environ.get("LOOPML_TEST_POSTGRES_URL"))
    args = parser.parse_args()
    with scratch() as folder:
        os.chdir(folder)
        (folder / "loopml.toml").write_text("")
        bench(f"sqlite:///{folder / 'loopml.db'}", folder, args.versions, "sqlite")
    if args.postgres:
        with scratch() as folder, postgres_schema(args.postgres) as uri:
            os.chdir(folder)
            (folder / "loopml.toml").write_text("")
            bench(uri, folder, args.versions, "postgresql")


if __name__ == "__main__":
    main()
