"""Serving: ``loopml serve`` against a bare FastAPI endpoint, micro-batching, the
prediction log under load, and the time from start to ready.

Everything runs in a scratch project (a LogisticRegression on 4 float columns,
logged with an input example, registered and deployed as ``lr``), and every
server in its own process, started with ``PYTHONDONTWRITEBYTECODE`` unset (as
users run them, with bytecode caches) and the caller's ``LOOPML_*`` variables
removed. Load comes from this process's side of the machine:

- ``wrk`` when it is on PATH (Debian: ``apt-get install wrk``), one thread, a
  Lua script that POSTs the body and counts 2xx answers apart from the others;
- else a keep-alive HTTP/1.1 client written here on asyncio raw sockets.

Either way: 16 keep-alive connections, each sending its next request when the
answer to the last one is in (closed loop); a 1 s warm-up that is not
counted, then ``--seconds`` measured (10 s; 3 s with ``--quick``). Only 2xx
answers count as served; every other answer and every socket error is
reported as an error. Scheduling is left to the kernel: the servers are
single-threaded where it counts and the load generator takes a fraction of a
core, so on 2 cores they settle on one each. ``--pin`` pins the load
generator (and this process) to one core and every server to another
(``os.sched_setaffinity``); tried on a 2-core machine that other work shared,
it made runs slower and no steadier, since a pinned server cannot leave a
core that other work lands on.

1. Single-row predictions: ``loopml serve`` with its defaults (signature
   checks, the prediction log and metrics on) against a bare FastAPI +
   uvicorn endpoint written to the scratch folder (one worker, uvicorn's
   defaults, no access log) that does the same work with the fastest plain
   code: orjson parse, one float64 NumPy block into a pandas frame with
   prebuilt columns, ``predict``, orjson response. The two alternate
   (A, B, A, B, A, B) and each figure is the median of its rounds, so a busy
   moment of the machine hits both alike. Beside req/s, p50 and p99: the
   server's CPU time per 2xx answer (user + system of its processes, from
   /proc), which other load on the machine disturbs less than req/s. With
   ``--peers``, MLflow's scoring server (``mlflow models serve --env-manager
   local``, from its own virtualenv; body ``{"dataframe_records": [...]}``)
   under the same load.
2. Micro-batching: a ``python_function`` model (a class in a module of the
   scratch project) whose every call sleeps 2 ms plus 20 µs per row, deployed
   twice by one server: with ``max_batch_size=32, max_batch_wait_ms=2`` and
   without batching; the same load on each.
3. The prediction log under the load of 1: ``/metrics`` is scraped, the
   server gets SIGTERM and exits, then ``loopml.read_predictions("lr")`` must
   hold one row per 2xx answer that server gave (warm-ups included), and
   ``loopml_prediction_log_dropped_total`` must be 0. wrk stops with
   requests in flight that the server still answers, unseen: the rows must
   equal the server's own count of 200s and lie between the 2xx wrk saw and
   the requests it sent (with the asyncio client all three are equal).
4. Start to ready: from spawning ``python -m loopml serve`` to the first 200
   of ``/v2/health/ready`` (median of 5 after one uncounted start that fills
   the bytecode cache), beside a fresh interpreter importing what the model
   needs (``sklearn.linear_model``, ``pandas``, ``numpy``, ``skops.io``: the
   sklearn flavor loads with skops), spawn to exit; the difference is
   loopml's own start.

Usage: python benchmarks/bench_serve.py [--quick] [--peers] [--pin]
[--client {auto,wrk,python}] [--seconds S]
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import os
import pickle
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import figure, peer_python, run_peer, scratch

CONNECTIONS = 16
WARMUP = 1.0
ROW = {"a": 0.1, "b": 0.2, "c": 0.3, "d": 0.4}
BODY = json.dumps({"records": [ROW]}, separators=(",", ":")).encode()
MLFLOW_BODY = json.dumps({"dataframe_records": [ROW]}, separators=(",", ":")).encode()

SETUP = """
import numpy as np, pandas as pd
from sklearn.linear_model import LogisticRegression
rng = np.random.default_rng(0)
X = pd.DataFrame(rng.normal(size=(150, 4)), columns=["a", "b", "c", "d"])
y = (X["a"] + X["b"] > 0).astype(int)
clf = LogisticRegression().fit(X, y)
"""

BARE = '''\
"""The floor: one FastAPI endpoint doing a prediction's plain work."""

import pickle
import sys

import numpy as np
import orjson
import pandas as pd
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import Response

with open(sys.argv[2], "rb") as f:
    MODEL = pickle.load(f)
NAMES = ("a", "b", "c", "d")
COLUMNS = pd.Index(NAMES)
app = FastAPI()


@app.post("/predict")
async def predict(request: Request) -> Response:
    records = orjson.loads(await request.body())["records"]
    block = np.array([[r[c] for c in NAMES] for r in records], dtype=np.float64)
    frame = pd.DataFrame(block, columns=COLUMNS, copy=False)
    body = orjson.dumps({"predictions": MODEL.predict(frame).tolist()})
    return Response(body, media_type="application/json")


uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
'''

SLOW_MODEL = '''\
"""A model whose every call costs 2 ms, plus 20 microseconds per row."""

import time


class Slow:
    def load_context(self, context):
        pass

    def predict(self, frame):
        time.sleep(0.002 + 0.00002 * len(frame))
        return (frame["a"] + frame["b"] > 0).astype(int).to_numpy()
'''

MODEL_IMPORTS = "import sklearn.linear_model, pandas, numpy, skops.io"

MLFLOW_SAVE = (
    SETUP
    + """
import json
import mlflow.sklearn
mlflow.sklearn.save_model(clf, SAVE_TO, input_example=X.head(3))
print(json.dumps({"version": mlflow.__version__}))
"""
)

WRK_SCRIPT = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [==[{body}]==]
local threads = {{}}
function setup(thread)
  table.insert(threads, thread)
end
function init(args)
  ok = 0
  bad = 0
  sent = 0
  req = wrk.format()
end
function request()
  sent = sent + 1
  return req
end
function response(status, headers, body)
  if status >= 200 and status < 300 then ok = ok + 1 else bad = bad + 1 end
end
function done(summary, latency, requests)
  local o, b, s = 0, 0, 0
  for _, t in ipairs(threads) do
    o = o + t:get("ok")
    b = b + t:get("bad")
    s = s + t:get("sent")
  end
  local e = summary.errors
  io.write(string.format("BENCH %d %d %d %d %d %d %d\\n", o, b, s,
    e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(99)))
end
"""


# -- processes -------------------------------------------------------------------------------


@dataclass
class Cores:
    """Where the load generator and the servers run (None: anywhere)."""

    load: set[int] | None = None
    server: set[int] | None = None

    @classmethod
    def pick(cls, pin: bool) -> Cores:
        if not pin or not hasattr(os, "sched_setaffinity"):
            return cls()
        have = sorted(os.sched_getaffinity(0))
        if len(have) < 2:
            return cls()
        return cls({have[0]}, {have[1]})


def pinned(cores: set[int] | None) -> Callable[[], None] | None:
    """What a child process runs before it starts, to run on ``cores`` only (threads and
    processes it starts inherit that)."""
    if cores is None:
        return None
    return lambda: os.sched_setaffinity(0, cores)


def child_env(**extra: str) -> dict[str, str]:
    """The caller's environment without LOOPML_* (the scratch project is the one served)
    and with bytecode caching on, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOOPML_") and k != "PYTHONDONTWRITEBYTECODE"
    }
    env.update(extra)
    return env


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def get(port: int, path: str, timeout: float = 5.0) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", path)
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


def post(port: int, path: str, body: bytes) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        conn.request("POST", path, body, {"Content-Type": "application/json"})
        answer = conn.getresponse()
        return answer.status, answer.read()
    finally:
        conn.close()


class Server:
    """A server process: spawned, waited for, stopped with SIGTERM."""

    def __init__(
        self,
        label: str,
        cmd: list[str],
        *,
        cwd: Path,
        env: dict[str, str],
        port: int,
        ready_path: str,
        cores: set[int] | None,
        log: Path,
    ) -> None:
        self.label = label
        self.port = port
        self.ready_path = ready_path
        self.log = log
        self.served = 0  # 2xx answers to predictions seen, warm-ups and checks included
        self.sent = 0  # prediction requests sent
        self.stopping = 0.0  # seconds from SIGTERM to exit
        self._out = log.open("wb")
        self.spawned = time.perf_counter()
        self.proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            preexec_fn=pinned(cores),
            start_new_session=True,  # its own process group: SIGTERM reaches its workers
        )

    def wait_ready(self, timeout: float = 180.0) -> float:
        """Seconds from spawning to the first 200 of the ready path."""
        deadline = self.spawned + timeout
        while time.perf_counter() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(
                    f"{self.label} exited with {self.proc.returncode}:\n{self.tail()}"
                )
            try:
                status, _ = get(self.port, self.ready_path, timeout=2.0)
            except OSError:
                status = 0
            if status == 200:
                return time.perf_counter() - self.spawned
            time.sleep(0.005)
        self.stop()
        raise RuntimeError(f"{self.label} was not ready after {timeout:.0f} s:\n{self.tail()}")

    def stop(self, timeout: float = 60.0) -> int:
        """SIGTERM, then wait for the process to end; its exit code."""
        if self.proc.poll() is None:
            t = time.perf_counter()
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
            self.stopping = time.perf_counter() - t
        self._out.close()
        return int(self.proc.returncode)

    def cpu_seconds(self) -> float:
        """CPU seconds (user and system) used so far by the server and the processes it
        started (0 where /proc is not there)."""
        tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        parent: dict[int, int] = {}
        used: dict[int, int] = {}
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rpartition(")")[2].split()
            except OSError:
                continue
            pid = int(stat.parent.name)
            parent[pid] = int(fields[1])
            used[pid] = int(fields[11]) + int(fields[12])
        total, todo = 0, [self.proc.pid]
        while todo:
            pid = todo.pop()
            total += used.get(pid, 0)
            todo.extend(child for child, up in parent.items() if up == pid)
        return total / tick

    def tail(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-3000:]


# -- load --------------------------------------------------------------------------------------


@dataclass
class Load:
    """One measured run: 2xx answers, errors (other answers and socket errors), seconds,
    and the latencies' p50 and p99 in seconds."""

    ok: int
    errors: int
    seconds: float
    p50: float
    p99: float
    total_ok: int = 0  # 2xx answers seen, the warm-up's included
    sent: int = 0  # requests sent, the warm-up's included
    cpu: float = 0.0  # CPU seconds the server's processes used while measured

    @property
    def rps(self) -> float:
        return self.ok / self.seconds if self.seconds > 0 else 0.0

    @property
    def cpu_per_request(self) -> float:
        """The server's CPU seconds per 2xx answer."""
        return self.cpu / self.ok if self.ok else 0.0


@dataclass
class Generator:
    """Sends the load: ``wrk`` or the asyncio client, on the load core."""

    kind: str
    cores: Cores
    folder: Path
    scripts: dict[bytes, Path] = field(default_factory=dict)

    def run(self, server: Server, path: str, body: bytes, seconds: float) -> Load:
        """A warm-up, then ``seconds`` measured; counts the 2xx and the requests sent on
        ``server``."""
        if self.kind != "wrk":
            load = asyncio.run(_python_load(server, path, body, seconds, WARMUP))
        else:
            warm = self._wrk(server.port, path, body, WARMUP)
            before = server.cpu_seconds()
            load = self._wrk(server.port, path, body, seconds)
            load.cpu = server.cpu_seconds() - before
            load.total_ok += warm.total_ok
            load.sent += warm.sent
        server.served += load.total_ok
        server.sent += load.sent
        return load

    def _wrk(self, port: int, path: str, body: bytes, seconds: float) -> Load:
        script = self.scripts.get(body)
        if script is None:
            script = self.folder / f"post-{len(self.scripts)}.lua"
            script.write_text(WRK_SCRIPT.format(body=body.decode()))
            self.scripts[body] = script
        duration = max(1, round(seconds))
        out = subprocess.run(
            [
                "wrk",
                "-t1",
                f"-c{CONNECTIONS}",
                f"-d{duration}s",
                "--timeout",
                "10s",
                "-s",
                str(script),
                f"http://127.0.0.1:{port}{path}",
            ],
            capture_output=True,
            text=True,
            check=True,
            preexec_fn=pinned(self.cores.load),
        ).stdout
        m = re.search(r"^BENCH (\d+) (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", out, re.M)
        if m is None:
            raise RuntimeError(f"wrk said:\n{out}")
        ok, bad, sent, sock, duration_us, p50, p99 = (int(g) for g in m.groups())
        return Load(ok, bad + sock, duration_us / 1e6, p50 / 1e6, p99 / 1e6, ok, sent)


async def _python_load(
    server: Server, path: str, body: bytes, seconds: float, warmup: float
) -> Load:
    """``CONNECTIONS`` keep-alive connections, closed loop, for ``warmup + seconds``;
    counts from the end of the warm-up."""
    port = server.port
    request = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    start = time.perf_counter()
    counted_from = start + warmup
    deadline = counted_from + seconds
    latencies: list[float] = []
    tally = {"ok": 0, "bad": 0, "warm_ok": 0, "sent": 0}
    cpu = [0.0, 0.0]

    async def clock() -> None:
        await asyncio.sleep(max(0.0, counted_from - time.perf_counter()))
        cpu[0] = server.cpu_seconds()
        await asyncio.sleep(max(0.0, deadline - time.perf_counter()))
        cpu[1] = server.cpu_seconds()

    async def connection() -> None:
        reader = writer = None
        while time.perf_counter() < deadline:
            try:
                if writer is None:
                    reader, writer = await asyncio.open_connection("127.0.0.1", port)
                assert reader is not None
                t = time.perf_counter()
                writer.write(request)
                tally["sent"] += 1
                status, close = await asyncio.wait_for(_read_answer(reader), 10.0)
                done = time.perf_counter()
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                if time.perf_counter() >= counted_from:
                    tally["bad"] += 1
                if writer is not None:
                    writer.close()
                reader = writer = None
                await asyncio.sleep(0.01)
                continue
            good = 200 <= status < 300
            if t >= counted_from and done <= deadline:
                if good:
                    tally["ok"] += 1
                    latencies.append(done - t)
                else:
                    tally["bad"] += 1
            elif good:
                tally["warm_ok"] += 1
            if close and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    await asyncio.gather(clock(), *(connection() for _ in range(CONNECTIONS)))
    latencies.sort()
    n = len(latencies)
    p50 = latencies[n // 2] if n else 0.0
    p99 = latencies[min(n - 1, int(n * 0.99))] if n else 0.0
    return Load(
        tally["ok"],
        tally["bad"],
        seconds,
        p50,
        p99,
        total_ok=tally["ok"] + tally["warm_ok"],
        sent=tally["sent"],
        cpu=cpu[1] - cpu[0],
    )


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bool]:
    """Read one HTTP/1.1 answer; its status and whether the server closes."""
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    lower = head.lower()
    close = b"\r\nconnection: close" in lower
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", lower)
    if m is not None:
        await reader.readexactly(int(m.group(1)))
    elif b"\r\ntransfer-encoding: chunked" in lower:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    return status, close


def median(loads: list[Load], attr: str) -> float:
    """The median of one figure over the rounds."""
    return statistics.median(float(getattr(x, attr)) for x in loads)


def metric(text: str, name: str, **labels: str) -> float | None:
    """The sum of the samples of ``name`` in a Prometheus scrape that carry ``labels``
    (None when there is none)."""
    found = None
    for m in re.finditer(rf"^{name}\{{(.*)\}} (\S+)$", text, re.M):
        have = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if all(have.get(k) == v for k, v in labels.items()):
            found = (found or 0.0) + float(m.group(2))
    return found


# -- the parts ---------------------------------------------------------------------------------


def make_project(folder: Path) -> object:
    """The scratch project in ``folder``: the model logged, registered and deployed as
    ``lr``, and pickled to ``model.pkl`` for the bare endpoint; returns the training
    frame."""
    import loopml

    scope: dict[str, object] = {}
    exec(SETUP, scope)
    clf, X = scope["clf"], scope["X"]
    (folder / "loopml.toml").write_text("[store]\ntrust_pickle = true\n")
    client = loopml.Client(folder)
    with client.start_run(experiment="bench-serve"):
        info = client.log_model(clf, input_example=X.head(3))  # type: ignore[attr-defined]
    version = client.register_model(info.uri, "lr")
    client.deploy("lr", version.uri)
    (folder / "model.pkl").write_bytes(pickle.dumps(clf))
    return scope["X"]


def deploy_slow(folder: Path, X: object) -> None:
    import loopml

    (folder / "slowmodel.py").write_text(SLOW_MODEL)
    sys.path.insert(0, str(folder))
    import slowmodel  # type: ignore[import-not-found]

    client = loopml.Client(folder)
    with client.start_run(experiment="bench-serve"):
        info = client.log_model(
            slowmodel.Slow(),
            "slow",
            allow_pickle=True,
            input_example=X.head(3),  # type: ignore[attr-defined]
        )
    version = client.register_model(info.uri, "slow")
    client.deploy("slow-single", version.uri)
    client.deploy(
        "slow-batched", version.uri, config={"max_batch_size": 32, "max_batch_wait_ms": 2}
    )


def bare_server(folder: Path, cores: Cores) -> Server:
    """The bare FastAPI floor (``BARE``, written to ``folder``) serving ``model.pkl``."""
    (folder / "bare.py").write_text(BARE)
    port = free_port()
    return Server(
        "bare FastAPI",
        [sys.executable, str(folder / "bare.py"), str(port), str(folder / "model.pkl")],
        cwd=folder,
        env=child_env(),
        port=port,
        ready_path="/docs",
        cores=cores.server,
        log=folder / "bare.log",
    )


def loopml_server(folder: Path, cores: Cores, label: str, **env: str) -> Server:
    port = free_port()
    return Server(
        label,
        [sys.executable, "-m", "loopml", "serve", "--port", str(port)],
        cwd=folder,
        env=child_env(**env),
        port=port,
        ready_path="/v2/health/ready",
        cores=cores.server,
        log=folder / f"{label}.log",
    )


def check_answer(server: Server, path: str, body: bytes) -> None:
    status, text = post(server.port, path, body)
    if status != 200:
        raise RuntimeError(f"{server.label} answered {status}: {text[:500]!r}")
    server.served += 1
    server.sent += 1


def timed_imports(folder: Path, cores: Cores) -> float:
    t = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", MODEL_IMPORTS],
        cwd=folder,
        env=child_env(),
        check=True,
        preexec_fn=pinned(cores.server),
    )
    return time.perf_counter() - t


def start_to_ready(folder: Path, cores: Cores, runs: int) -> tuple[float, float]:
    """Medians of ``runs``: loopml serve spawn to ready, and the model's imports."""
    starts, imports = [], []
    for i in range(runs + 1):  # the first of each fills the bytecode cache
        server = loopml_server(folder, cores, "start")
        took = server.wait_ready()
        server.stop()
        spent = timed_imports(folder, cores)
        if i:
            starts.append(took)
            imports.append(spent)
    return statistics.median(starts), statistics.median(imports)


def mlflow_server(folder: Path, cores: Cores) -> Server | None:
    py = peer_python("mlflow-serve", "mlflow", "scikit-learn", "pandas")
    if py is None:
        return None
    saved = folder / "mlflow-model"
    try:
        version = run_peer(py, f"SAVE_TO = {str(saved)!r}\n{MLFLOW_SAVE}")["version"]
    except Exception as exc:
        print(f"[peers] could not save the MLflow model: {exc}", file=sys.stderr)
        return None
    port = free_port()
    env = {k: v for k, v in child_env().items() if not k.startswith("PYTHONPATH")}
    env["PATH"] = f"{py.parent}{os.pathsep}{env.get('PATH', '')}"  # it runs its uvicorn by name
    server = Server(
        f"MLflow {version} scoring server",
        [
            str(py.parent / "mlflow"),
            "models",
            "serve",
            "-m",
            str(saved),
            "--env-manager",
            "local",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
        ],
        cwd=folder,
        env=env,
        port=port,
        ready_path="/ping",
        cores=cores.server,
        log=folder / "mlflow.log",
    )
    try:
        server.wait_ready()
        check_answer(server, "/invocations", MLFLOW_BODY)
    except RuntimeError as exc:
        print(f"[peers] the MLflow scoring server did not serve: {exc}", file=sys.stderr)
        server.stop()
        return None
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 s per measured run, not 10.")
    parser.add_argument("--seconds", type=float, help="Seconds per measured run.")
    parser.add_argument("--rounds", type=int, default=3, help="A/B rounds in part 1.")
    parser.add_argument("--peers", action="store_true", help="Time MLflow's scoring server too.")
    parser.add_argument(
        "--pin", action="store_true", help="Pin the load and the servers to separate cores."
    )
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto")
    args = parser.parse_args()
    for name in [k for k in os.environ if k.startswith("LOOPML_")]:
        del os.environ[name]  # the scratch project's own stores, here and in the servers
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    starts = 3 if args.quick else 5
    kind = args.client
    if kind == "auto":
        kind = "wrk" if shutil.which("wrk") else "python"
    cores = Cores.pick(args.pin)
    if cores.load is not None:
        os.sched_setaffinity(0, cores.load)
    predict_path = "/v1/deployments/lr/predict"

    with scratch("loopml-bench-serve-") as folder:
        X = make_project(folder)
        gen = Generator(kind, cores, folder)

        # 4. start to ready (before the other deployments exist)
        ready, imports = start_to_ready(folder, cores, starts)

        # 1. loopml serve vs the bare floor, alternating
        bare = bare_server(folder, cores)
        ours = loopml_server(folder, cores, "loopml")
        servers = [bare, ours]
        try:
            bare.wait_ready()
            ours.wait_ready()
            check_answer(bare, "/predict", BODY)
            check_answer(ours, predict_path, BODY)
            runs: dict[str, list[Load]] = {"bare": [], "loopml": []}
            for _ in range(args.rounds):
                for key, server, path in (
                    ("bare", bare, "/predict"),
                    ("loopml", ours, predict_path),
                ):
                    load = gen.run(server, path, BODY, seconds)
                    runs[key].append(load)
            bare.stop()

            # 3. the prediction log of what loopml served
            status, text = get(ours.port, "/metrics")
            if status != 200:
                raise RuntimeError(f"GET /metrics answered {status}: {text[:300]!r}")
            scraped = text.decode()
            dropped = metric(scraped, "loopml_prediction_log_dropped_total", deployment="lr")
            answered = metric(scraped, "loopml_requests_total", deployment="lr", code="200")
            ours.stop()
            import loopml

            logged = len(loopml.Client(folder).read_predictions("lr"))

            mlflow = None
            if args.peers:
                mlflow_srv = mlflow_server(folder, cores)
                if mlflow_srv is not None:
                    servers.append(mlflow_srv)
                    mlflow = gen.run(mlflow_srv, "/invocations", MLFLOW_BODY, seconds)
                    mlflow_srv.stop()

            # 2. micro-batching
            deploy_slow(folder, X)
            slow = loopml_server(folder, cores, "slow", PYTHONPATH=_with_path(folder))
            servers.append(slow)
            slow.wait_ready()
            single_path = "/v1/deployments/slow-single/predict"
            batched_path = "/v1/deployments/slow-batched/predict"
            check_answer(slow, single_path, BODY)
            check_answer(slow, batched_path, BODY)
            single = gen.run(slow, single_path, BODY, seconds)
            batched = gen.run(slow, batched_path, BODY, seconds)
            slow.stop()
        finally:
            for server in servers:
                server.stop()

    bare_runs, ours_runs = runs["bare"], runs["loopml"]
    where = "wrk" if kind == "wrk" else "the asyncio client of this script"
    placed = "pinned to separate cores" if cores.load is not None else "not pinned"
    print(
        f"# load: {where}, {CONNECTIONS} keep-alive connections, {seconds:g} s measured per "
        f"run after a {WARMUP:g} s warm-up, load generator and servers {placed}; part 1: "
        f"medians of {args.rounds} alternating rounds",
        flush=True,
    )
    for label, loads in (("bare FastAPI floor", bare_runs), ("loopml serve", ours_runs)):
        rounds = ", ".join(f"{x.rps:,.0f}" for x in loads)
        print(f"# 1 row, {label}: req/s by round {rounds}", flush=True)
        figure(f"1 row, {label}", median(loads, "rps"), "req/s")
        figure(f"1 row, {label} p50", median(loads, "p50") * 1e3, "ms")
        figure(f"1 row, {label} p99", median(loads, "p99") * 1e3, "ms")
        figure(
            f"1 row, {label}: server CPU per answer", median(loads, "cpu_per_request") * 1e6, "µs"
        )
        figure(f"1 row, {label} errors (all rounds)", sum(x.errors for x in loads), "answers")
    if mlflow is not None:
        figure("1 row, MLflow scoring server", mlflow.rps, "req/s")
        figure("1 row, MLflow scoring server p50", mlflow.p50 * 1e3, "ms")
        figure("1 row, MLflow scoring server p99", mlflow.p99 * 1e3, "ms")
        figure("1 row, MLflow scoring server: CPU per answer", mlflow.cpu_per_request * 1e6, "µs")
        figure("1 row, MLflow scoring server errors", mlflow.errors, "answers")
        figure("1 row, loopml serve over MLflow", median(ours_runs, "rps") / mlflow.rps, "x")
    figure("2 ms model, no batching", single.rps, "req/s")
    figure("2 ms model, no batching p99", single.p99 * 1e3, "ms")
    figure("2 ms model, max_batch_size=32", batched.rps, "req/s")
    figure("2 ms model, max_batch_size=32 p99", batched.p99 * 1e3, "ms")
    figure("2 ms model errors (both)", single.errors + batched.errors, "answers")
    figure("prediction log: 2xx answers loopml serve gave that the load saw", ours.served, "")
    figure("prediction log: requests sent to it", ours.sent, "")
    figure("prediction log: its 200s in loopml_requests_total before SIGTERM", answered or 0, "")
    figure("prediction log: rows read back after the server exited", logged, "")
    figure("loopml serve: SIGTERM to exit (writes the queued predictions)", ours.stopping, "s")
    figure(f"loopml serve: spawn to ready, median of {starts}", ready, "s")
    figure("the model's imports (sklearn, pandas, numpy, skops) in a fresh process", imports, "s")
    figure(
        "1 row: server CPU per answer, loopml serve over the bare floor",
        median(ours_runs, "cpu_per_request") / median(bare_runs, "cpu_per_request"),
        "x",
    )
    figure(
        "prediction log: rows read back less the 200s answered",
        logged - (answered or 0),
        "rows",
        f"0, with {ours.served} <= rows <= {ours.sent}",
    )
    figure(
        "prediction log: loopml_prediction_log_dropped_total before SIGTERM",
        -1 if dropped is None else dropped,
        "rows",
        "0",
    )
    figure(
        "loopml serve: start to ready beyond the model's imports", ready - imports, "s", "<= 2 s"
    )
    figure("micro-batching throughput gain", batched.rps / single.rps, "x", ">= 3x")
    figure(
        "1 row, loopml serve over the bare FastAPI floor",
        median(ours_runs, "rps") / median(bare_runs, "rps"),
        "x",
        ">= 0.9",
    )


def _with_path(folder: Path) -> str:
    rest = os.environ.get("PYTHONPATH")
    return str(folder) if not rest else f"{folder}{os.pathsep}{rest}"


if __name__ == "__main__":
    main()
