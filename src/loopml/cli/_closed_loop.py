"""The closed loop behind ``loopml demo``: train, gate, serve, watch, retrain, roll out.

In a scratch project (``--dir``, or a fresh folder it names) it plays, through the
same functions the commands call:

1. data: the customers of the world before the change (:mod:`._loop_project`),
   versioned as ``data:/churn`` with a holdout ``data:/churn-holdout``, and validated;
2. train: the project's pipeline tuned (a few trials) and its best model registered;
3. gate and deploy: the version promoted to ``prod`` through the gates of loopml.toml,
   deployed as ``churn`` and served by ``loopml serve`` in a child process;
4. traffic: requests with feedback (labels) over HTTP; the monitor's windows are calm;
5. the world changes: features shift and the concept changes; the monitor sees the drift
   and the live accuracy fall, and raises alerts;
6. the loop: new labelled data lands; ``loopml automate``'s trigger fires on the alert,
   retrains through the pipeline with that data version, gates the new version and rolls
   it out as a canary, which the server's controller promotes under live traffic;
7. a bad candidate: a bigger model that passes every offline gate is rolled out as a
   canary and rolled back by the controller (it is too slow); prod keeps its champion.

It ends with the lineage of the model the loop made, a summary table of what each part
took, the time from the first drifted request to the new model promoted, and an HTML
report of the monitor.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.markup import escape
from rich.table import Table

from loopml.cli._loop_project import FEATURES, LOOPML_TOML, PIPELINE, TARGET, customers
from loopml.cli._output import console
from loopml.errors import InvalidInput, LoopmlError

__all__ = ["run_closed_loop"]

_DEPLOYMENT = "churn"
_READY_SECONDS = 60.0
_ROLLOUT_SECONDS = 120.0
_FEEDBACK_BATCH = 50


class DemoFailed(LoopmlError):
    """A part of the demo did not end as the loop should (the message says which)."""


@dataclass
class _Part:
    title: str
    seconds: float = 0.0
    outcome: str = ""


@dataclass
class _Story:
    """What the demo measured, for the summary."""

    parts: list[_Part] = field(default_factory=list)
    accuracy: dict[str, float | None] = field(default_factory=dict)
    first_drifted: float | None = None
    promoted_after: float | None = None
    requests: int = 0

    @contextmanager
    def part(self, title: str) -> Iterator[_Part]:
        console.rule(f"[bold]{len(self.parts) + 1}. {escape(title)}")
        part = _Part(title)
        self.parts.append(part)
        started = time.perf_counter()
        try:
            yield part
        finally:
            part.seconds = time.perf_counter() - started


def _say(text: str, *, wrap: bool = True) -> None:
    console.print(text, highlight=False, soft_wrap=not wrap)


# -- the server and its traffic -------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class _Server:
    """``loopml serve`` of the project, in a child process, its output in serve.log."""

    def __init__(self, project: Path) -> None:
        self.port = _free_port()
        self.log = project / "serve.log"
        self._out = self.log.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "loopml", "serve", "--port", str(self.port)],
            cwd=project,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + _READY_SECONDS
        while True:
            if self.process.poll() is not None:
                raise DemoFailed(
                    f"loopml serve stopped with exit code {self.process.returncode} before it "
                    f"was ready; its output is in {self.log}."
                )
            try:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                conn.request("GET", "/v2/health/ready")
                if conn.getresponse().status == 200:
                    conn.close()
                    return
                conn.close()
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise DemoFailed(
                    f"loopml serve was not ready within {_READY_SECONDS:.0f} s; its output is "
                    f"in {self.log}."
                )
            time.sleep(0.1)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._out.close()


@dataclass
class _Sent:
    requests: int = 0
    rows: int = 0
    correct: int = 0
    variants: dict[str, int] = field(default_factory=dict)
    version: str = ""  # the model version that answered the last request

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.rows if self.rows else None


class _Client:
    """Predictions and feedback over one kept-alive HTTP connection."""

    def __init__(self, port: int) -> None:
        self._port = port
        self._conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self._feedback: list[dict[str, Any]] = []

    def _post(self, path: str, body: Any) -> tuple[int, Any, Any]:
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        for attempt in (1, 2):
            try:
                self._conn.request("POST", path, data, headers)
                answer = self._conn.getresponse()
                raw = answer.read()
                return answer.status, json.loads(raw), answer
            except (OSError, http.client.HTTPException):
                self._conn.close()
                self._conn = http.client.HTTPConnection("127.0.0.1", self._port, timeout=60)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def send(self, frame: Any, sent: _Sent, rows_per_request: int = 1) -> None:
        """Predict the rows of ``frame`` (``rows_per_request`` per request); their labels
        go back as feedback, in batches, as labels that arrive later would."""
        features = frame[list(FEATURES)]
        labels = frame[TARGET].tolist()
        records = features.to_dict("records")
        for start in range(0, len(records), rows_per_request):
            chunk = records[start : start + rows_per_request]
            status, answer, raw = self._post(
                f"/v1/deployments/{_DEPLOYMENT}/predict", {"records": chunk}
            )
            if status != 200:
                raise DemoFailed(f"the server answered {status}: {answer}")
            sent.requests += 1
            variant = raw.getheader("x-loopml-variant", "")
            sent.version = raw.getheader("x-loopml-model-version", "")
            sent.variants[variant] = sent.variants.get(variant, 0) + 1
            for row, predicted in enumerate(answer["predictions"]):
                truth = int(labels[start + row])
                sent.rows += 1
                sent.correct += int(int(predicted) == truth)
                self._feedback.append(
                    {"request_id": answer["request_id"], "row": row, "ground_truth": truth}
                )
            if len(self._feedback) >= _FEEDBACK_BATCH:
                self.flush()

    def flush(self) -> None:
        if self._feedback:
            status, answer, _ = self._post(
                f"/v1/deployments/{_DEPLOYMENT}/feedback", {"feedback": self._feedback}
            )
            if status != 200:
                raise DemoFailed(f"the server refused feedback ({status}): {answer}")
            self._feedback = []

    def close(self) -> None:
        self._conn.close()


def _traffic(client: _Client, frame: Any, what: str, rows_per_request: int = 10) -> _Sent:
    """Send ``frame`` with a progress bar; wait until the log holds it."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    before = _logged()
    sent = _Sent()
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=console,
        transient=True,
    ) as bar:
        task = bar.add_task(what, total=len(frame))
        step = rows_per_request * 20
        for start in range(0, len(frame), step):
            client.send(frame.iloc[start : start + step], sent, rows_per_request)
            bar.update(task, completed=min(start + step, len(frame)))
    client.flush()
    deadline = time.monotonic() + 15
    while _logged() < before + sent.rows and time.monotonic() < deadline:
        time.sleep(0.2)
    return sent


def _logged() -> int:
    from loopml.predictions import read_predictions

    try:
        return len(read_predictions(_DEPLOYMENT, columns=["request_id"]))
    except LoopmlError:
        return 0


def _world(rows: int, changed: bool, seed: int) -> Any:
    return customers(rows, changed=changed, seed=seed)


# -- the parts ------------------------------------------------------------------------


def _project(directory: Path | None) -> Path:
    """The scratch project, made with its pipeline.py and loopml.toml: ``directory`` (a
    new or empty folder), else a fresh temporary one. A folder that holds anything, or
    that cannot be made or written, is refused with nothing left in it."""
    if directory is None:
        project = Path(tempfile.mkdtemp(prefix="loopml-demo-"))
    else:
        project = _scratch(directory)
    try:
        (project / "pipeline.py").write_text(PIPELINE)
        (project / "loopml.toml").write_text(LOOPML_TOML)
    except OSError as exc:
        for name in ("pipeline.py", "loopml.toml"):  # the folder was empty: leave it so
            with contextlib.suppress(OSError):
                (project / name).unlink()
        raise InvalidInput(
            f"--dir {project} cannot be written ({exc.strerror or exc}): name a folder you "
            "can write to."
        ) from None
    return project


def _scratch(directory: Path) -> Path:
    """``--dir``, resolved and made: a new or empty folder."""
    try:
        named = directory.expanduser()
    except RuntimeError:  # ~user of no user
        raise InvalidInput(
            f"--dir {directory}: there is no home folder for {str(directory).split('/')[0]}; "
            "name the folder in full."
        ) from None
    if named.is_symlink() and not named.exists():
        raise InvalidInput(
            f"--dir {named} is a link to {os.readlink(named)}, which does not exist: name a "
            "new or empty folder."
        )
    resolved = named.resolve()
    try:
        if resolved.exists() and not resolved.is_dir():
            raise InvalidInput(f"--dir {resolved} is a file: name a new or empty folder.")
        if resolved.exists() and any(resolved.iterdir()):
            raise InvalidInput(
                f"--dir {resolved} is not empty: the demo makes a project from scratch "
                "there; name a new or empty folder (or remove this one)."
            )
        resolved.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InvalidInput(
            f"--dir {resolved} cannot be made ({exc.strerror or exc}): name a new or empty "
            "folder you can write to."
        ) from None
    return resolved


#: what would point the demo at stores other than its scratch project's own
_STORE_VARIABLES = (
    "LOOPML_TRACKING_URI",
    "LOOPML_ARTIFACT_URI",
    "LOOPML_DATA_REMOTE",
    "LOOPML_PROJECT_DIR",
    "LOOPML_EXECUTOR",
    "LOOPML_TRUST_PICKLE",
    "LOOPML_FLUSH_INTERVAL",
    "LOOPML_SERVE_TOKEN",
    "LOOPML_PRIVACY_KEY",
)


def _own_stores() -> list[str]:
    """Drop the LOOPML_ variables that choose stores or serving settings, for this process
    and the server it starts: the demo registers, deploys and rolls back ``churn`` in its
    scratch project, never in the stores a shell points at. The names of those dropped."""
    dropped = [v for v in _STORE_VARIABLES if v in os.environ]
    for variable in dropped:
        del os.environ[variable]
    return dropped


@dataclass
class _Running:
    """What the demo started and must stop, however it ends."""

    server: _Server | None = None
    client: _Client | None = None

    def stop(self) -> None:
        if self.client is not None:
            self.client.close()
        if self.server is not None:
            self.server.stop()


def _terminated(signum: int, frame: Any) -> None:
    raise SystemExit(128 + signum)


def _add(project: Path, frame: Any, name: str, file: str, message: str) -> Any:
    import loopml

    path = project / "data" / file
    path.parent.mkdir(exist_ok=True)
    frame.to_csv(path, index=False)
    return loopml.add_dataset(path, name=name, message=message)


def _monitor(story: _Story, label: str) -> Any:
    """Run the monitors once; print the windows it stored and the alerts it raised."""
    from loopml.monitoring import run_monitors

    report = run_monitors()
    if report.failures:
        raise DemoFailed(f"the monitor failed: {report.failures}")
    table = Table(title=f"monitor churn: {label}", title_justify="left")
    for column in ("window", "rows", "status", "drift_share", "live.accuracy", "est.accuracy"):
        table.add_column(column, justify="left" if column in ("window", "status") else "right")
    for w in report.windows:
        m = w.metrics
        table.add_row(
            str(w.id),
            str(w.rows),
            str(w.status),
            _fmt(m.get("drift_share")),
            _fmt(m.get("live.accuracy")),
            _fmt(m.get("estimated.accuracy")),
        )
    console.print(table)
    for alert in _alerts(report):
        colour = "green" if str(alert.status) == "RESOLVED" else "red"
        _say(f"  [{colour}]{alert.uri}[/{colour}] {escape(alert.rule)}: {alert.status}")
    return report


def _alerts(report: Any) -> list[Any]:
    """The alerts a monitor run touched, each once, as it left them."""
    last: dict[str, Any] = {}
    for alert in report.alerts:
        last[str(alert.uri)] = alert
    return list(last.values())


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _gate_checks(promotion: Any) -> None:
    for check in promotion.checks:
        status = str(check.status).lower()
        mark = {"passed": "[green]pass[/green]", "failed": "[red]FAIL[/red]"}.get(
            status, f"[yellow]{status}[/yellow]"
        )
        value = "-" if check.value is None else f"{check.value:.3f}"
        _say(
            f"  {mark} {escape(check.expression)} = {value} (needs {check.op} {check.threshold:g})"
        )


def _watch_rollout(
    client: _Client, frame: Any, rollout_id: int, story: _Story, on_promoted: Callable[[], None]
) -> Any:
    """Send ``frame``'s rows one per request (cycling) while the server's controller
    analyses rollout ``rollout_id``; the rollout once it finished."""
    from loopml.deployments import get_rollout

    rollout = get_rollout(rollout_id)
    sent = _Sent()
    started = time.monotonic()
    shown: tuple[str, int] | None = None
    at = 0
    with console.status("canary under live traffic") as status:
        while not rollout.status.finished:
            if time.monotonic() - started > _ROLLOUT_SECONDS:
                raise DemoFailed(
                    f"{rollout.uri} did not finish within {_ROLLOUT_SECONDS:.0f} s of traffic."
                )
            chunk = frame.iloc[at : at + 20]
            at = (at + 20) % (len(frame) - 20)
            client.send(chunk, sent, rows_per_request=1)
            client.flush()
            rollout = get_rollout(rollout_id)
            now = (str(rollout.status), rollout.step)
            if now != shown:
                shown = now
                weights = ", ".join(f"{k} {v}%" for k, v in rollout.weights.items())
                _say(
                    f"  {time.monotonic() - started:5.1f} s  {rollout.status}  ({weights})"
                    f"  {sent.requests} requests"
                )
            status.update(
                f"canary under live traffic: {sent.requests} requests "
                f"({', '.join(f'{k} {v}' for k, v in sent.variants.items())})"
            )
    if str(rollout.status) == "PROMOTED":
        on_promoted()
        _until_served(client, frame, str(rollout.candidate_version), sent)
    story.requests += sent.requests
    _say(
        f"  {rollout.uri} [bold]{rollout.status}[/bold] after "
        f"{time.monotonic() - started:.1f} s and {sent.requests} requests"
        + (f": {escape(rollout.finish_reason)}" if rollout.finish_reason else "")
    )
    return rollout


def _until_served(client: _Client, frame: Any, version: str, sent: _Sent) -> None:
    """Keep sending until the server answers with ``version`` only: it follows the
    store's change within a moment (``reload_seconds``)."""
    deadline = time.monotonic() + 30
    streak = 0
    at = 0
    while streak < 20:
        if time.monotonic() > deadline:
            raise DemoFailed(f"the server did not switch to version {version} within 30 s.")
        client.send(frame.iloc[at : at + 1], sent, rows_per_request=1)
        at = (at + 1) % len(frame)
        streak = streak + 1 if sent.version == version else 0
    client.flush()


def run_closed_loop(directory: Path | None) -> None:
    """Play the closed loop in ``directory`` (a new or empty folder; default: a fresh
    temporary one), narrating each part."""
    try:
        import sklearn  # noqa: F401
    except ImportError as exc:
        from loopml.errors import MissingExtra

        raise MissingExtra("the demo", "sklearn", "scikit-learn") from exc
    try:
        import fastapi  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError as exc:
        from loopml.errors import MissingExtra

        raise MissingExtra("the demo's server", "serve", "fastapi and uvicorn") from exc

    started = time.perf_counter()
    project = _project(directory)
    dropped = _own_stores()
    os.chdir(project)  # the default context follows the working directory
    if str(project) not in sys.path:
        sys.path.insert(0, str(project))
    from loopml.context import reset

    reset()
    _say(f"project: [bold]{escape(str(project))}[/bold] (loopml.toml, pipeline.py, data/)")
    if dropped:
        _say(f"  (not using {', '.join(dropped)}: the demo keeps to its project's own stores)")
    story = _Story()
    running = _Running()
    # SIGTERM ends the demo as Ctrl-C does: through the finally below, which stops the
    # server it started (signals can only be handled in the main thread)
    main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminated) if main else None
    try:
        _play(project, story, running)
    finally:
        running.stop()
        if main:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    _summary(project, story, time.perf_counter() - started)


def _play(project: Path, story: _Story, running: _Running) -> None:
    import loopml
    from loopml.automation import automate
    from loopml.deployments import deploy, get_deployment
    from loopml.evaluation import promote

    with story.part("Version and validate the data") as part:
        before = _world(4000, False, seed=1)
        data = _add(project, before, "churn", "customers.csv", "customers, January")
        holdout = _add(
            project,
            _world(1000, False, seed=2),
            "churn-holdout",
            "holdout.csv",
            "holdout, January",
        )
        _say(f"  {data.uri}: {len(before):,} customers; {holdout.uri}: 1,000 held out")
        from importlib import import_module

        suite = loopml.Suite.from_dict(import_module("pipeline").SUITE)
        result = loopml.validate(before, suite)
        _say(f"  validation: {escape(result.summary())}")
        result.raise_for_errors()
        part.outcome = f"{data.uri}, {holdout.uri}; {len(suite.checks)} checks passed"

    with story.part("Train and tune through the pipeline") as part:
        done = loopml.tune_and_register(n_trials=4, reason="first model")
        study = done.study
        assert study is not None
        _say(
            f"  {len(study.trials)} trials, best val_accuracy {study.best_value:.3f} "
            f"(C = {study.best_params.get('model.C', 0):.3g})"
        )
        _say(f"  {escape(done.message)}")
        part.outcome = f"{done.version.uri}, val_accuracy {study.best_value:.3f}"
        first = done.version

    with story.part("Gate and deploy") as part:
        promotion = promote(first.name, "prod", version=first.version, reason="first model")
        _gate_checks(promotion)
        deploy(_DEPLOYMENT, "models:/churn@prod", reason="first model")
        server = running.server = _Server(project)
        server.wait_ready()
        _say(f"  deployment churn serves {first.uri} at http://127.0.0.1:{server.port}")
        part.outcome = f"{first.uri} -> prod ({promotion.status}), served"
        client = running.client = _Client(server.port)
        # automation starts watching: alerts raised from now on fire the trigger
        automate()

    with story.part("Traffic with feedback") as part:
        sent = _traffic(client, _world(500, False, seed=10), "customers before the change")
        story.requests += sent.requests
        story.accuracy["before"] = sent.accuracy
        _say(f"  {sent.rows} predictions, live accuracy {_fmt(sent.accuracy)}")
        report = _monitor(story, "before the change")
        part.outcome = f"{sent.rows} predictions; accuracy {_fmt(sent.accuracy)}; " + (
            f"{len(report.alerts)} alerts" if report.alerts else "no alert"
        )

    with story.part("The world changes") as part:
        _say(
            "  prices rose, support got busier, newer customers arrived (the features "
            "shift); a rival's unlimited plan takes the heavy users (the concept changes)"
        )
        story.first_drifted = time.monotonic()
        sent = _traffic(client, _world(500, True, seed=11), "customers after the change")
        story.requests += sent.requests
        story.accuracy["after the change"] = sent.accuracy
        _say(f"  {sent.rows} predictions, live accuracy {_fmt(sent.accuracy)}")
        report = _monitor(story, "after the change")
        raised = [a for a in _alerts(report) if str(a.status) == "FIRING"]
        if not any(a.rule == "live.accuracy < 0.7" for a in raised):
            raise DemoFailed("the monitor did not raise the live accuracy alert.")
        part.outcome = f"accuracy {_fmt(sent.accuracy)}; alerts: " + ", ".join(
            f"{a.uri} {a.rule}" for a in raised
        )

    with story.part("Automation retrains, gates and rolls out") as part:
        after = _world(4000, True, seed=3)
        fresh = _add(project, after, "churn", "customers.csv", "customers, February")
        fresh_holdout = _add(
            project,
            _world(1000, True, seed=4),
            "churn-holdout",
            "holdout.csv",
            "holdout, February",
        )
        _say(f"  new labelled data lands: {fresh.uri}, {fresh_holdout.uri}")
        ran = automate()
        if not ran.events:
            raise DemoFailed("the trigger did not fire on the alert.")
        event = ran.events[0]
        _say(f"  {escape(event.message)}")
        if str(event.status) != "SUCCEEDED" or event.rollout_id is None:
            raise DemoFailed(f"the retrain did not start a rollout: {event.message}")
        promotion = _last_promotion("churn", "prod")
        if promotion is not None:
            _gate_checks(promotion)
        rollout = _watch_rollout(
            client,
            _world(3000, True, seed=12),
            event.rollout_id,
            story,
            lambda: setattr(story, "promoted_after", time.monotonic() - _first(story)),
        )
        if str(rollout.status) != "PROMOTED":
            raise DemoFailed(f"{rollout.uri} was {rollout.status}: {rollout.finish_reason}")
        settled = automate()
        for e in settled.settled:
            _say(f"  {escape(e.message)}")
        retrained = get_deployment(_DEPLOYMENT)
        part.outcome = (
            f"{event.uri} -> {event.model_version} -> {rollout.uri} PROMOTED; "
            f"churn serves v{retrained.version}"
        )

    with story.part("The loop closed: the monitor again") as part:
        sent = _traffic(client, _world(500, True, seed=13), "customers after the retrain")
        story.requests += sent.requests
        story.accuracy["after the retrain"] = sent.accuracy
        _say(f"  {sent.rows} predictions, live accuracy {_fmt(sent.accuracy)}")
        report = _monitor(story, "after the retrain")
        part.outcome = f"accuracy {_fmt(sent.accuracy)}; " + (
            ", ".join(f"{a.uri} {a.status}" for a in _alerts(report)) or "no new alert"
        )

    with story.part("A bad candidate is rolled back") as part:
        champion = get_deployment(_DEPLOYMENT)
        _say(
            "  a teammate trains a 300-tree forest on the same data: as accurate offline, "
            "it passes every gate of prod..."
        )
        bad = loopml.run_and_register(
            params={
                "data": fresh.uri,
                "model": {"kind": "random_forest", "n_estimators": 300, "C": 1.0},
            },
            reason="a bigger model",
        )
        promotion = promote(
            "churn", "prod", version=bad.version.version, candidate=True, reason="a bigger model"
        )
        _gate_checks(promotion)
        _say("  ...and goes out as a canary; the controller compares it with the champion live")
        moved = deploy(
            _DEPLOYMENT,
            strategy="canary",
            candidate=bad.version.uri,
            steps="50,100",
            interval="3s",
            reason="a bigger model",
        )
        assert moved.rollout_id is not None
        rollout = _watch_rollout(
            client, _world(3000, True, seed=14), moved.rollout_id, story, lambda: None
        )
        now = get_deployment(_DEPLOYMENT)
        if str(rollout.status) != "ROLLED_BACK" or now.version != champion.version:
            raise DemoFailed(
                f"{rollout.uri} was {rollout.status}; churn serves v{now.version}, expected "
                f"v{champion.version} after a rollback."
            )
        _say(f"  churn still serves v{now.version}: the champion was never touched")
        part.outcome = f"{bad.version.uri}: {rollout.uri} ROLLED_BACK; churn serves v{now.version}"


def _first(story: _Story) -> float:
    assert story.first_drifted is not None
    return story.first_drifted


def _last_promotion(name: str, environment: str) -> Any:
    from loopml.evaluation import list_promotions

    found = [p for p in list_promotions(name) if p.environment == environment]
    return max(found, key=lambda p: p.id) if found else None


#: the upstream links that say why a model exists, in the order they are preferred
_WHY = ("triggered", "fired", "raised", "registered")


def _why(uri: str) -> None:
    """Print the chain of ``loopml lineage URI`` that explains ``uri``: from the model up
    through the run that registered it, the trigger event, the alert and the deployment
    that raised it; then where the model went."""
    from loopml.lineage import downstream, get_lineage, upstream

    labels = get_lineage(uri, depth=8).labels
    node, seen = uri, {uri}
    _say(f"  {escape(uri)}  {escape(labels.get(uri, ''))}")
    for _ in range(8):
        edges = [e for e in upstream(node) if e.src not in seen]
        pick = next((e for r in _WHY for e in edges if e.relation == r), None)
        if pick is None:
            break
        node = pick.src
        seen.add(node)
        _say(f"  [dim]<- {pick.relation} by[/dim] {escape(node)}  {escape(labels.get(node, ''))}")
    for edge in downstream(uri):
        if edge.relation == "candidate":
            _say(
                f"  [dim]-> candidate of[/dim] {escape(edge.dst)}  {escape(labels.get(edge.dst, ''))}"
            )
    _say(f"  (the whole tree: loopml lineage {escape(uri)})")


def _summary(project: Path, story: _Story, seconds: float) -> None:
    from loopml.cli._quickstart import loopml_command
    from loopml.deployments import get_deployment

    console.rule("[bold]Lineage: why the serving model exists")
    serving = get_deployment(_DEPLOYMENT)
    _why(f"models:/{serving.model_name}/{serving.version}")

    console.rule("[bold]Summary")
    table = Table(show_edge=False)
    table.add_column("part")
    table.add_column("what happened")
    table.add_column("seconds", justify="right")
    for i, part in enumerate(story.parts, 1):
        table.add_row(f"{i}. {part.title}", escape(part.outcome), f"{part.seconds:.1f}")
    table.add_row("", "[bold]whole demo[/bold]", f"[bold]{seconds:.1f}[/bold]")
    console.print(table)
    accuracy = ", ".join(f"{k} {_fmt(v)}" for k, v in story.accuracy.items())
    _say(f"live accuracy: {accuracy}")
    if story.promoted_after is not None:
        _say(
            f"first drifted request -> retrained model promoted: "
            f"[bold]{story.promoted_after:.1f} s[/bold] (detect, retrain, gate, canary)"
        )
    report = project / "loop-report.html"
    try:
        from loopml.monitoring import write_monitor_report

        write_monitor_report("churn", report)
        _say(f"HTML report of the monitor: [bold]{escape(str(report))}[/bold]")
    except LoopmlError as exc:
        _say(f"(no HTML report: {escape(str(exc))})")
    (project / "loop-summary.json").write_text(
        json.dumps(
            {
                "seconds": round(seconds, 3),
                "first_drifted_to_promoted_seconds": story.promoted_after,
                "requests": story.requests,
                "live_accuracy": story.accuracy,
                "parts": [
                    {"title": p.title, "seconds": round(p.seconds, 3), "outcome": p.outcome}
                    for p in story.parts
                ],
            },
            indent=2,
        )
        + "\n"
    )
    cli = loopml_command()
    _say("Look around:")
    for hint in (
        f"cd {shlex.quote(str(project))}",
        f"{cli} automate status --history",
        f"{cli} monitor status churn",
        f"{cli} deployments status churn",
        f"{cli} lineage models:/churn/{serving.version}",
    ):
        _say(f"  {escape(hint)}", wrap=False)
