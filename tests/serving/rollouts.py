"""Scripted models and a deployment to roll them out on, for the rollout tests of the
server.

``m`` v1 answers ``x * 2`` (a python_function model on ``x`` float64 and ``user`` text),
is prod's version and is deployed as ``m`` by ``models:/m@prod``; :func:`candidate`
registers another version with a scripted fault and records it as prod's candidate.
Every fault spares the input example (``x`` below 10), which a candidate must answer
before a rollout starts. :func:`canary` starts a canary of a candidate and
:func:`send_until` sends requests until the rollout reaches a state.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import pandas as pd

import loopml
import loopml.context
from loopml.deployments import Rollout

PREDICT = "/v1/deployments/m/predict"
#: a policy under which the controller, running in the server, judges nothing while a test
#: looks at routing alone (a hiccup of this shared machine is no latency regression, and a
#: few hundred varied inputs are no change of distribution)
CALM = {"latency_floor_ms": 1000, "max_distribution_distance": 1000}
FAULTS = {
    "ok": "answers x * 2",
    "fail20": "raises on x whose whole part is 3 modulo 5 (a fifth of the requests)",
    "raise": "raises on every request",
    "sleep": "sleeps 5 s on every request, then answers",
    "big": "raises on x above 100",
    "strict": "answers x * 2 but its signature also needs a column region callers never send",
}


def scripted(mode: str) -> Any:
    """A python_function model answering ``x * 2`` with the fault ``mode`` (made here, so
    it pickles by value and loads in a server process that cannot import the tests)."""

    class Scripted:
        def __init__(self, mode: str) -> None:
            self.mode = mode

        def predict(self, frame: Any) -> Any:
            x = frame["x"].to_numpy(dtype="float64")
            if (x >= 10).any():
                if self.mode == "fail20" and ((x.astype("int64") % 5) == 3).any():
                    raise ValueError("scripted failure on a fifth of the requests")
                if self.mode == "raise":
                    raise ValueError("this shadow always fails")
                if self.mode == "sleep":
                    time.sleep(5)
                if self.mode == "big" and (x > 100).any():
                    raise ValueError("x above 100 is beyond this version")
            return x * 2

    return Scripted(mode)


def register(mode: str) -> int:
    """Register a scripted version of ``m``; its number."""
    assert mode in FAULTS, mode
    example = pd.DataFrame({"x": [1.0, 2.0], "user": ["a", "b"]})
    if mode == "strict":
        example["region"] = ["north", "south"]
    with loopml.start_run():
        info = loopml.log_model(scripted(mode), input_example=example, allow_pickle=True)
    return int(loopml.register_model(info.uri, "m").version)


def trusting(project: Path, extra: str = "") -> Path:
    """Let ``project`` load pickled models (its loopml.toml), plus ``extra`` TOML."""
    (project / "loopml.toml").write_text("[store]\ntrust_pickle = true\n" + extra)
    loopml.context.reset()
    return project


def deploy_m() -> None:
    """``m`` v1 (correct) in prod, deployed as ``m``."""
    register("ok")
    loopml.promote_model("m", 1, to="prod")
    loopml.deploy("m", "models:/m@prod")


def candidate(mode: str) -> str:
    """A scripted version of ``m`` recorded as prod's candidate; its URI."""
    version = register(mode)
    loopml.promote(f"m/{version}", to="prod", candidate=True)
    return f"models:/m/{version}"


def body(x: float, user: str = "u") -> dict[str, Any]:
    return {"records": [{"x": float(x), "user": user}]}


def until(check: Callable[[], bool], seconds: float, between: Callable[[], Any]) -> bool:
    """Call ``between`` until ``check()`` holds or ``seconds`` passed; whether it held."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        between()
    return check()


def canary(
    uri: str,
    *,
    steps: str = "50,100",
    interval: str = "2s",
    policy: dict[str, Any] | None = None,
    name: str = "m",
) -> Rollout:
    """Start a canary of ``uri`` (a candidate) on deployment ``name``; its rollout."""
    loopml.deploy(
        name, strategy="canary", candidate=uri, steps=steps, interval=interval, policy=policy
    )
    return loopml.get_rollout(name)


def send_until(
    rollout_id: int,
    done: Callable[[Rollout], bool],
    seconds: float,
    send: Callable[[float], Any],
    xs: Iterable[float] | None = None,
) -> bool:
    """Call ``send(x)`` for each ``x`` of ``xs`` (10, 11, 12... by default) until ``done``
    holds of rollout ``rollout_id`` or ``seconds`` passed; whether it held."""
    inputs = iter(itertools.count(10.0) if xs is None else xs)
    return until(lambda: done(loopml.get_rollout(rollout_id)), seconds, lambda: send(next(inputs)))
