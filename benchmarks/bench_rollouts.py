"""Progressive delivery under load: a canary routing 50 % against the bare FastAPI
floor, the p99 a shadow adds to the primary's answers, and the time a failing canary
takes to be rolled back.

The scratch project, the servers, the load (wrk when it is on PATH, else an asyncio
client) and the bare floor are those of ``bench_serve.py``: the same single-row
LogisticRegression on 4 float columns, 16 keep-alive connections, medians of
alternating rounds, servers started with bytecode caches on.

1. Canary at 50 %: ``lr`` serves prod's v1 with a canary to v2 (a refit of the same
   model, a candidate for prod) at steps ``50,100`` and an interval of an hour, so
   the weights stay at 50/50 while measured. ``loopml serve`` and the bare floor
   alternate; the figure is loopml's req/s over the floor's (target >= 0.9) and the
   share of answers the candidate gave (``x-loopml-variant``).
2. Shadow: one server holds ``plain`` (v1 alone) and ``shadowed`` (v1 answering,
   every request mirrored to v2 off the response path); the two take the same
   load in alternating rounds. At saturation (16 connections) a p99 mostly measures
   the queue, so the figure is taken at a fixed rate well below it
   (:data:`PACED_RATE` requests a second from 4 connections, each latency counted
   from the moment its request was due, so a stall is not hidden by the requests it
   delayed): the p99 of ``shadowed`` less that of ``plain``, with both p50s. The
   saturated req/s of both are printed too.
3. Rollback: ``bad`` serves v1 with a canary to a candidate that raises on every
   request whose ``a`` is above 0.5 (about half: its input example passes, so it
   may deploy), steps ``50,100``, a 5 s interval and ``min_requests`` 20.
   A client sends single rows at a steady rate; the figure is the time from the
   first 500 the candidate gave to the rollout recorded ROLLED_BACK (and to the
   first answer after which every answer came from the primary), against the
   5 s analysis window (target: within one window).

Usage: python benchmarks/bench_rollouts.py [--quick] [--rounds N] [--client ...]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import shutil
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure, scratch
from bench_serve import (
    BODY,
    CONNECTIONS,
    SETUP,
    WARMUP,
    Cores,
    Generator,
    Load,
    Server,
    bare_server,
    check_answer,
    loopml_server,
    median,
)

BAD_MODEL = '''\
"""A candidate that raises on every row whose ``a`` is above 0.5."""


class Bad:
    def load_context(self, context):
        pass

    def predict(self, frame):
        if (frame["a"] > 0.5).any():
            raise ValueError("a > 0.5 is beyond this candidate")
        return [0] * len(frame)
'''

INTERVAL = 5.0
PACED_RATE = 200.0  # requests a second for the shadow's latency
PACED_CONNECTIONS = 4


def make_project(folder: Path) -> None:
    """``lr`` v1 (prod) and v2 (a candidate for prod), the bad candidate ``lr`` v3 (a
    candidate too), deployed: ``lr`` with a canary at 50 %, ``plain``, ``shadowed``
    with a shadow of v2; ``bad`` is deployed by :func:`roll_out_bad` when its part
    runs. ``model.pkl`` is v1 for the bare floor."""
    import pickle

    import loopml

    scope: dict[str, object] = {}
    exec(SETUP, scope)
    clf, X = scope["clf"], scope["X"]
    (folder / "loopml.toml").write_text("[store]\ntrust_pickle = true\n")
    (folder / "badmodel.py").write_text(BAD_MODEL)
    sys.path.insert(0, str(folder))
    import badmodel  # type: ignore[import-not-found]
    from sklearn.linear_model import LogisticRegression

    client = loopml.Client(folder)
    refit = LogisticRegression(C=0.5).fit(X, scope["y"])  # type: ignore[arg-type]
    example = X.head(3).assign(a=0.0)  # type: ignore[attr-defined]
    with client.start_run(experiment="bench-rollouts"):
        one = client.log_model(clf, input_example=X.head(3))  # type: ignore[attr-defined]
        two = client.log_model(refit, "refit", input_example=X.head(3))  # type: ignore[attr-defined]
        bad = client.log_model(badmodel.Bad(), "bad", allow_pickle=True, input_example=example)
    for info in (one, two, bad):
        client.register_model(info.uri, "lr")
    client.promote_model("lr", 1, to="prod")
    client.promote("lr/2", to="prod", candidate=True)
    client.promote("lr/3", to="prod", candidate=True)
    for name in ("lr", "plain", "shadowed", "bad"):
        client.deploy(name, "models:/lr@prod")
    client.deploy(
        "lr", "models:/lr@prod", strategy="canary", candidate="models:/lr/2",
        steps="50,100", interval="1h",
    )  # fmt: skip
    client.deploy(
        "shadowed", "models:/lr@prod", strategy="shadow", candidate="models:/lr/2",
        interval="1h",
    )  # fmt: skip
    (folder / "model.pkl").write_bytes(pickle.dumps(clf))


def roll_out_bad(folder: Path) -> float:
    """Start the failing canary on ``bad``; when it was recorded."""
    import loopml

    client = loopml.Client(folder)
    client.deploy(
        "bad", "models:/lr@prod", strategy="canary", candidate="models:/lr/3",
        steps="50,100", interval=f"{INTERVAL:g}s", policy={"min_requests": 20},
    )  # fmt: skip
    return time.time()


def variant_shares(port: int, path: str, n: int = 400) -> dict[str, int]:
    """How many of ``n`` single-row answers each variant gave."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    seen: dict[str, int] = {}
    try:
        for _ in range(n):
            conn.request("POST", path, BODY, {"Content-Type": "application/json"})
            r = conn.getresponse()
            r.read()
            v = r.getheader("x-loopml-variant") or "?"
            seen[v] = seen.get(v, 0) + 1
    finally:
        conn.close()
    return seen


def paced(port: int, path: str, seconds: float) -> list[float]:
    """Latencies (s) of single-row requests sent at :data:`PACED_RATE` a second from
    :data:`PACED_CONNECTIONS` connections, each counted from when it was due."""
    import threading

    period = PACED_CONNECTIONS / PACED_RATE
    start = time.perf_counter() + 0.2
    found: list[list[float]] = [[] for _ in range(PACED_CONNECTIONS)]

    def one(k: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        due = start + k * period / PACED_CONNECTIONS
        try:
            while due < start + seconds:
                wait = due - time.perf_counter()
                if wait > 0:
                    time.sleep(wait)
                conn.request("POST", path, BODY, {"Content-Type": "application/json"})
                r = conn.getresponse()
                r.read()
                if r.status != 200:
                    raise RuntimeError(f"{path} answered {r.status}")
                found[k].append(time.perf_counter() - due)
                due += period
        finally:
            conn.close()

    threads = [threading.Thread(target=one, args=(k,)) for k in range(PACED_CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return [x for xs in found for x in xs]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q / 100.0 * len(ordered)))]


def rollback_time(folder: Path, server: Server, seconds: float) -> dict[str, float]:
    """Steady single-row traffic to ``bad`` while its canary runs; the times from the
    candidate's first 500 to the recorded rollback and to the last candidate answer."""
    import loopml

    client = loopml.Client(folder)
    started = roll_out_bad(folder)
    path = "/v1/deployments/bad/predict"
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    rng = random.Random(0)
    first_failure = last_candidate = None
    failures = primary_errors = 0
    deadline = time.time() + seconds
    rolled_back_at = None
    try:
        while time.time() < deadline:
            row = {"a": rng.random(), "b": 0.2, "c": 0.3, "d": 0.4}
            conn.request(
                "POST", path, json.dumps({"records": [row]}), {"Content-Type": "application/json"}
            )
            r = conn.getresponse()
            r.read()
            now = time.time()
            variant = r.getheader("x-loopml-variant")
            if variant == "candidate":
                last_candidate = now
                if r.status == 500:
                    failures += 1
                    first_failure = first_failure or now
            elif r.status != 200:
                primary_errors += 1
            if rolled_back_at is None and first_failure is not None:
                rollout = client.get_rollout("bad")
                if rollout.status.finished:
                    rolled_back_at = rollout.finished_at or now
                    deadline = min(deadline, now + 2.0)  # a little more, to see it hold
            time.sleep(0.005)
    finally:
        conn.close()
    rollout = client.get_rollout("bad")
    if first_failure is None or rolled_back_at is None:
        raise RuntimeError(
            f"the failing canary was not rolled back within {seconds:g} s: {rollout.status}, "
            f"{failures} candidate failures seen"
        )
    return {
        "status_ok": float(rollout.status == "ROLLED_BACK"),
        "to_rollback": rolled_back_at - first_failure,
        "to_last_candidate": (last_candidate or first_failure) - first_failure,
        "recorded_after_start": rolled_back_at - started,
        "failures": float(failures),
        "primary_errors": float(primary_errors),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measured run, not 10.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds.")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith("LOOPML_")]:
        del os.environ[name]
    seconds = 3.0 if args.quick else 10.0
    kind = args.client if args.client != "auto" else ("wrk" if shutil.which("wrk") else "python")
    cores = Cores.pick(False)
    with scratch("loopml-bench-rollouts-") as folder:
        make_project(folder)
        gen = Generator(kind, cores, folder)
        bare = bare_server(folder, cores)
        ours = loopml_server(folder, cores, "loopml", PYTHONPATH=str(folder))
        servers = [bare, ours]
        canary = "/v1/deployments/lr/predict"
        plain, shadowed = "/v1/deployments/plain/predict", "/v1/deployments/shadowed/predict"
        runs: dict[str, list[Load]] = {"bare": [], "canary": [], "plain": [], "shadowed": []}
        try:
            bare.wait_ready()
            ours.wait_ready()
            for server, path in ((bare, "/predict"), (ours, canary), (ours, shadowed)):
                check_answer(server, path, BODY)
            shares = variant_shares(ours.port, canary)
            for _ in range(args.rounds):
                runs["bare"].append(gen.run(bare, "/predict", BODY, seconds))
                runs["canary"].append(gen.run(ours, canary, BODY, seconds))
            bare.stop()
            for _ in range(args.rounds):
                runs["plain"].append(gen.run(ours, plain, BODY, seconds))
                runs["shadowed"].append(gen.run(ours, shadowed, BODY, seconds))
            calm: dict[str, list[float]] = {"plain": [], "shadowed": []}
            for _ in range(args.rounds):
                calm["plain"] += paced(ours.port, plain, seconds)
                calm["shadowed"] += paced(ours.port, shadowed, seconds)
            rollback = rollback_time(folder, ours, seconds=8 * INTERVAL)
        finally:
            for server in servers:
                server.stop()

    print(
        f"# load: {kind}, {CONNECTIONS} keep-alive connections, {seconds:g} s measured per "
        f"run after a {WARMUP:g} s warm-up; medians of {args.rounds} alternating rounds",
        flush=True,
    )
    total = sum(shares.values())
    figure(
        "canary at 50 %: answers the candidate gave",
        100.0 * shares.get("candidate", 0) / total,
        "%",
    )
    figure("bare FastAPI floor", median(runs["bare"], "rps"), "req/s")
    figure("loopml serve, canary at 50 %", median(runs["canary"], "rps"), "req/s")
    figure("loopml serve, canary at 50 % p99", median(runs["canary"], "p99") * 1e3, "ms")
    figure("saturated, shadow off: req/s", median(runs["plain"], "rps"), "req/s")
    figure("saturated, shadow on: req/s", median(runs["shadowed"], "rps"), "req/s")
    rate = f"at {PACED_RATE:g} req/s"
    for what in ("plain", "shadowed"):
        said = "shadow off" if what == "plain" else "shadow on"
        figure(f"{rate}, {said}: p50", percentile(calm[what], 50) * 1e3, "ms")
        figure(f"{rate}, {said}: p99", percentile(calm[what], 99) * 1e3, "ms")
    figure("failing canary: candidate failures before the rollback", rollback["failures"], "")
    figure("failing canary: primary answers other than 200", rollback["primary_errors"], "")
    figure(
        "failing canary: last candidate answer after its first failure",
        rollback["to_last_candidate"],
        "s",
    )
    figure("failing canary: rolled back (1 = ROLLED_BACK)", rollback["status_ok"], "")
    figure(
        f"shadow: p99 added to the primary's answers {rate}",
        (percentile(calm["shadowed"], 99) - percentile(calm["plain"], 99)) * 1e3,
        "ms",
    )
    figure(
        "failing canary: first failure to rollback recorded",
        rollback["to_rollback"],
        "s",
        f"<= {INTERVAL:g} s (one analysis window)",
    )
    figure(
        "canary at 50 %, loopml serve over the bare FastAPI floor",
        median(runs["canary"], "rps") / median(runs["bare"], "rps"),
        "x",
        ">= 0.9",
    )


if __name__ == "__main__":
    main()
