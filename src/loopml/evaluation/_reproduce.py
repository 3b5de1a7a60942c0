"""Reproduce a registered version: run its pipeline again from what was recorded, compare.

A version registered from a pipeline step (``loopml run --register``,
``run_and_register``) points at the step's run, whose parent is the pipeline
run. That run recorded what :func:`reproduce` needs:

- the git commit it ran at (``git_commit``; refused when the tree was dirty,
  since the commit may not hold the code that trained it);
- the pipeline, as ``module:function`` (the ``loopml.entry`` tag; for older
  runs, ``[pipeline] entry`` of ``loopml.toml`` at that commit);
- its parameters, with dataset references pinned to the versions read
  (``data:/churn@3``).

The commit is checked out into a temporary git worktree (``git worktree add
--detach``), and the pipeline runs there in a process of its own, with every
parameter as recorded, the cache off, and this project's metadata and artifact
stores: the new run is tracked like any other, in the original's experiment,
tagged ``loopml.reproduces`` and linked by the lineage edge ``runs:/<original>
--reproduces--> runs:/<new>``. Nothing is registered and no alias moves. The
worktree is removed afterwards, also when interrupted (Ctrl-C), unless
``keep=True``.

Then the metrics are compared: those the pipeline run and its steps logged
(a metric two steps logged is named ``step/metric``). Two values match when
``|reproduced - original| <= max(tolerance * max(|original|, |reproduced|),
tolerance)``: the tolerance is relative for large values and absolute near
zero (``math.isclose`` with ``rel_tol = abs_tol = tolerance``); two NaNs
match. A metric only one of the runs logged does not match. The verdict:

- ``REPRODUCED``: every metric matches (with no metrics at all, the model
  package the step returned has the same bytes as the registered one);
- ``DIFFERENT``: some metric does not (each is listed);
- ``FAILED``: the pipeline did not finish in the worktree (the error is kept).

Each verdict is stored (``reproductions``) and read back with
:func:`list_reproductions`. What cannot be tried at all is refused before
anything runs, with one line that names it and stores nothing: a version not
made by a pipeline, a run with no git commit or a dirty tree, a commit the
repository no longer has, a dataset version whose objects are not in the
local store (``loopml data pull``).
"""

from __future__ import annotations

import math
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from loopml._enum import StrEnum
from loopml._user import current_user
from loopml.errors import CorruptObject, InvalidInput, LoopmlError, NotFound
from loopml.uri import ModelURI, RunURI, parse_run_uri

if TYPE_CHECKING:
    from loopml.pipelines import PipelineRun, StepEvent
    from loopml.registry import ModelVersion
    from loopml.tracking import Run

__all__ = [
    "MetricComparison",
    "Reproduction",
    "ReproductionStatus",
    "list_reproductions",
    "reproduce",
]

#: the tag a pipeline run records its ``module:function`` under (pipelines' runner)
TAG_ENTRY = "loopml.entry"
TAG_REPRODUCES = "loopml.reproduces"
RELATION = "reproduces"
_GIT_TIMEOUT = 60.0
_STOP_WAIT = 10.0
_ERROR_TAIL = 2000
# what a recorded commit and pipeline must look like before git or Python is handed them
# (a commit such as --upload-pack=... would be read by git as an option)
_COMMIT = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_ENTRY = re.compile(r"[A-Za-z_]\w*(\.[A-Za-z_]\w*)*:[A-Za-z_]\w*", re.ASCII)


class ReproductionStatus(StrEnum):
    """The verdict of a reproduction: ``REPRODUCED``, ``DIFFERENT`` or ``FAILED``."""

    REPRODUCED = "REPRODUCED"
    DIFFERENT = "DIFFERENT"
    FAILED = "FAILED"


@dataclass(frozen=True)
class MetricComparison:
    """One metric of the original run and of its reproduction: ``difference`` is
    ``reproduced - original`` (None when either is missing), ``matches`` whether they
    agree within the tolerance."""

    metric: str
    original: float | None
    reproduced: float | None
    difference: float | None
    matches: bool


@dataclass(frozen=True)
class Reproduction:
    """A stored attempt to reproduce ``models:/<name>/<version>``: the original pipeline
    run ``run_id``, the new one ``reproduced_run_id`` (None when it never started), the
    ``status`` (:class:`ReproductionStatus`), the ``tolerance``, each metric compared,
    a one-line ``message``, and what the run was repeated from (``commit``, ``entry``,
    ``datasets``); ``model_identical`` tells whether the model the step returned has the
    registered package's bytes (None when there was none to compare); ``worktree`` is
    the kept worktree (``keep=True``)."""

    name: str
    version: int
    run_id: str
    reproduced_run_id: str | None
    status: ReproductionStatus
    tolerance: float
    metrics: tuple[MetricComparison, ...]
    message: str
    commit: str | None = None
    entry: str | None = None
    datasets: tuple[str, ...] = ()
    model_identical: bool | None = None
    worktree: str | None = None
    user: str | None = None
    created_at: float = 0.0
    id: int | None = field(default=None, compare=False)

    @property
    def uri(self) -> str:
        """``models:/<name>/<version>``."""
        return str(ModelURI(self.name, self.version))

    @property
    def reproduced(self) -> bool:
        """Whether the verdict is REPRODUCED."""
        return self.status == ReproductionStatus.REPRODUCED

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON types (the metrics as a list of dicts)."""
        return {
            "id": self.id,
            "model_uri": self.uri,
            "name": self.name,
            "version": self.version,
            "run_id": self.run_id,
            "reproduced_run_id": self.reproduced_run_id,
            "status": self.status.value,
            "tolerance": self.tolerance,
            "metrics": [m.__dict__.copy() for m in self.metrics],
            "message": self.message,
            "commit": self.commit,
            "entry": self.entry,
            "datasets": list(self.datasets),
            "model_identical": self.model_identical,
            "worktree": self.worktree,
            "user": self.user,
            "created_at": self.created_at,
        }


@dataclass(frozen=True)
class _Plan:
    """What a reproduction runs: checked before anything is created."""

    version: ModelVersion
    run: Run  # the pipeline run
    step: str  # the step whose model was registered
    model_path: str  # its folder in the step run (``model``)
    commit: str
    repo: Path  # the git work tree holding the project
    project: Path  # the project folder, relative to ``repo``
    entry: str | None
    datasets: tuple[str, ...]


# -- the verb -------------------------------------------------------------------------


def reproduce(
    model: str | ModelVersion,
    tolerance: float = 1e-6,
    *,
    keep: bool = False,
    on_event: Callable[[StepEvent], None] | None = None,
    on_progress: Callable[[str], None] | None = None,
) -> Reproduction:
    """Run the pipeline that produced ``model`` (``models:/churn/4``, ``models:/churn@prod``
    or a :class:`~loopml.registry.ModelVersion`) again at its recorded commit, params and
    dataset versions, compare its metrics within ``tolerance`` and store the verdict
    (see the module docstring). ``on_event`` sees the steps change state, ``on_progress``
    each phase as one line; ``keep=True`` leaves the worktree (its path is the
    reproduction's ``worktree``; remove it with ``git worktree remove PATH``).

    Example::

        done = loopml.evaluation.reproduce("models:/churn/4", tolerance=1e-6)
        done.status          # ReproductionStatus.REPRODUCED
        [(m.metric, m.original, m.reproduced) for m in done.metrics]
    """
    from loopml.context import current

    tol = _tolerance(tolerance)
    if not isinstance(keep, bool):
        raise InvalidInput(f"keep must be True or False, got {keep!r}.")
    say = on_progress or (lambda line: None)
    ctx = current()
    plan = _plan(model)
    original = _pipeline_metrics(plan.run.id)
    say(f"checking out {plan.commit[:12]} into a temporary worktree")
    where = Path(tempfile.mkdtemp(prefix="loopml-reproduce-"))
    kept: str | None = None
    try:
        _git(plan.repo, "worktree", "add", "--detach", "--quiet", str(where), plan.commit)
        project = where / plan.project
        if not project.is_dir():
            raise NotFound(
                f"commit {plan.commit[:12]} has no folder {plan.project.as_posix()!r}, where "
                f"the project is now: {plan.version.uri} cannot be run from it."
            )
        say(f"running pipeline {plan.run.name!r} in {project}")
        outcome = _run_child(plan, project, ctx.settings, on_event)
        if keep:
            kept = str(where)
    finally:
        if kept is None:
            _remove_worktree(plan.repo, where)
    say("comparing metrics")
    result = _verdict(plan, outcome, original, tol, kept)
    return _store(result, plan)


def list_reproductions(
    name: str | None = None, version: int | None = None, *, limit: int | None = None
) -> list[Reproduction]:
    """The stored reproductions, newest first: of model ``name`` (and ``version``) when
    given, at most ``limit``.

    Example::

        last = loopml.evaluation.list_reproductions("churn", 4, limit=1)
        last[0].status if last else None
    """
    from loopml import _validate
    from loopml.context import current
    from loopml.evaluation import _repository

    if name is not None:
        _validate.text(name, "model name")
    if version is not None:
        _validate.count(version, "version")
    if limit is not None:
        _validate.count(limit, "limit")
    rows = _repository.list_reproductions(current().metadata, name, version, limit)
    return [_from_row(r) for r in rows]


# -- what was recorded ----------------------------------------------------------------


def _tolerance(value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, (int, float))
        or not math.isfinite(value)
        or value < 0
    ):
        raise InvalidInput(f"tolerance must be a finite number >= 0 (e.g. 1e-6), got {value!r}.")
    return float(value)


def _version(model: Any) -> ModelVersion:
    from loopml.registry import ModelVersion, get_model_version

    if isinstance(model, ModelVersion):
        return get_model_version(model.name, model.version)
    if not isinstance(model, str):
        raise InvalidInput(
            "model must be a models:/ URI (models:/churn/4, models:/churn@prod) or a "
            f"ModelVersion, got {type(model).__name__} {model!r}."
        )
    return get_model_version(model)


def _needs_pipeline(version: ModelVersion, why: str) -> InvalidInput:
    return InvalidInput(
        f"{version.uri} was registered from run {version.run_id}, {why}: reproduce re-runs "
        "the pipeline that trained a version, so it needs one registered from a pipeline "
        "step (loopml run --register, run_and_register), whose run records the git commit, "
        "params and dataset versions."
    )


def _plan(model: Any) -> _Plan:
    from loopml.tracking import datasets_read, get_run

    version = _version(model)
    try:
        step_run = get_run(version.run_id)
    except NotFound:
        raise NotFound(
            f"the run that logged {version.uri} ({version.run_id}) is gone (loopml gc purged "
            "it): there is no record of how it was trained."
        ) from None
    if step_run.kind != "step" or step_run.parent_id is None:
        raise _needs_pipeline(version, f"a {step_run.kind!r} run, not a pipeline step's")
    run = get_run(step_run.parent_id)
    if run.kind != "pipeline":
        raise _needs_pipeline(version, f"whose parent is a {run.kind!r} run, not a pipeline run")
    if run.git_commit is None:
        raise InvalidInput(
            f"pipeline run {run.id} of {version.uri} recorded no git commit (it ran outside a "
            "git repository): there is no code to check out. Commit the project, then train "
            "and register it again."
        )
    if not _COMMIT.fullmatch(run.git_commit):
        raise InvalidInput(
            f"pipeline run {run.id} of {version.uri} recorded the git commit "
            f"{run.git_commit[:80]!r}, which is not a commit hash (40 or 64 hex digits): the "
            "run was changed outside loopml, and nothing is checked out from it."
        )
    entry = run.tags.get(TAG_ENTRY)
    if entry is not None and not _ENTRY.fullmatch(entry):
        raise InvalidInput(
            f"pipeline run {run.id} of {version.uri} recorded the pipeline {entry[:80]!r}, "
            "which is not module:function: the run was changed outside loopml, and nothing "
            "is run from it."
        )
    if run.git_dirty:
        raise InvalidInput(
            f"pipeline run {run.id} of {version.uri} ran on a dirty tree at commit "
            f"{run.git_commit[:12]}: the commit may not hold the code that trained it (the "
            f"uncommitted changes are stored: loopml.tracking.get_git_diff({run.id!r})). "
            "Commit before training to make a version reproducible."
        )
    from loopml.context import current

    settings = current().settings
    if _is_memory(settings.tracking_uri):
        raise InvalidInput(
            "reproduce runs the pipeline in a process of its own, which cannot open an "
            "in-memory metadata store: use a database file or server (tracking_uri)."
        )
    repo = _repository_root(settings.project_root)
    if _git_ok(repo, "cat-file", "-e", f"{run.git_commit}^{{commit}}") is None:
        raise NotFound(
            f"commit {run.git_commit[:12]} of pipeline run {run.id} ({version.uri}) is not in "
            f"the git repository at {repo} (history rewritten, or a shallow clone): fetch it "
            "(git fetch --unshallow, or from the remote that has it) and try again."
        )
    datasets = tuple(datasets_read(run.id))
    for uri in datasets:
        _check_dataset(uri, run.id)
    source = parse_run_uri(version.source)
    return _Plan(
        version=version,
        run=run,
        step=step_run.tags.get("loopml.step", step_run.name),
        model_path=source.path or "model",
        commit=run.git_commit,
        repo=repo,
        project=settings.project_root.relative_to(repo),
        entry=entry,
        datasets=datasets,
    )


def _is_memory(uri: str) -> bool:
    return uri.startswith("sqlite://") and uri.rstrip("/").endswith((":memory:", "sqlite:"))


def _repository_root(project: Path) -> Path:
    top = _git_ok(project, "rev-parse", "--show-toplevel")
    if top is None:
        raise InvalidInput(
            f"the project at {project} is not in a git repository (or git is not installed): "
            "reproduce checks out the recorded commit from it."
        )
    root = Path(top.strip()).resolve()
    if not project.resolve().is_relative_to(root):
        raise InvalidInput(f"the project at {project} is not inside its git work tree {root}.")
    return root


def _check_dataset(uri: str, run_id: str) -> None:
    """The dataset version ``uri`` is in the database and every object of it in the local
    store; else :class:`NotFound` naming ``loopml data pull``."""
    from loopml.context import current
    from loopml.data import resolve_dataset

    try:
        version = resolve_dataset(uri).version
    except NotFound as exc:
        raise NotFound(
            f"{uri}, read by pipeline run {run_id}, is not in this database: {exc}"
        ) from None
    store = current().artifacts
    missing = None
    if not store.exists(version.manifest_digest):
        missing = f"its manifest {version.manifest_digest[:12]}…"
    else:
        files = version.files()
        have = store.existing([e.digest for e in files])
        gone = [e for e in files if e.digest not in have]
        if gone:
            missing = f"{len(gone)} of its {version.n_files} files ({gone[0].path}, …)"
    if missing is not None:
        raise NotFound(
            f"{uri}, read by pipeline run {run_id}, is not in the local store ({missing} "
            "missing): fetch it with 'loopml data pull', then reproduce again."
        )


def _pipeline_metrics(run_id: str) -> dict[str, float]:
    """The metrics a pipeline run and its steps logged (a cached step's from the run that
    computed it); a name two of them logged becomes ``step/metric``."""
    from loopml.pipelines import load_pipeline_run
    from loopml.tracking import get_run

    found = load_pipeline_run(run_id)
    logged: list[tuple[str, dict[str, float]]] = [("", get_run(run_id).metrics)]
    for step in found.steps:
        source = step.source_run_id or step.run_id
        if source is not None:
            logged.append((step.name, get_run(source).metrics))
    seen: dict[str, int] = {}
    for _, metrics in logged:
        for key in metrics:
            seen[key] = seen.get(key, 0) + 1
    out: dict[str, float] = {}
    for where, metrics in logged:
        for key, value in metrics.items():
            name = f"{where or 'pipeline'}/{key}" if seen[key] > 1 else key
            out[name] = float(value)
    return out


# -- the worktree and the run ---------------------------------------------------------


@dataclass(frozen=True)
class _Outcome:
    run_id: str | None
    status: str
    error: str | None


def _run_child(
    plan: _Plan,
    project: Path,
    settings: Any,
    on_event: Callable[[StepEvent], None] | None,
) -> _Outcome:
    """Run the pipeline in ``project`` in a child process (its own imports of the project's
    modules, the commit's ``loopml.toml``), reading its step events and result from its
    stdout; the child's own output goes to its stderr, kept for the error message."""
    import loopml

    spec = {
        "entry": plan.entry,
        "pipeline": plan.run.name,
        "params": plan.run.params,
        "experiment": plan.run.experiment,
        "tags": {TAG_REPRODUCES: plan.run.id, "loopml.reproduces_model": plan.version.uri},
    }
    env = dict(os.environ)
    package_parent = str(Path(loopml.__file__).resolve().parents[1])
    if package_parent not in _site_folders():  # this loopml, not another one installed
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_parent, env.get("PYTHONPATH")) if p)
    env["LOOPML_PROJECT_DIR"] = str(project)
    env["LOOPML_TRACKING_URI"] = settings.tracking_uri
    env["LOOPML_ARTIFACT_URI"] = settings.artifact_uri
    if settings.data.remote:
        env["LOOPML_DATA_REMOTE"] = settings.data.remote
    env.pop("LOOPML_EXECUTOR", None)
    with tempfile.TemporaryFile() as errors:
        proc = subprocess.Popen(
            [sys.executable, "-m", "loopml.evaluation._reproduce"],
            cwd=project,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=errors,
        )
        result: dict[str, Any] = {}
        try:
            assert proc.stdin is not None and proc.stdout is not None
            proc.stdin.write(orjson.dumps(spec))
            proc.stdin.close()
            for line in proc.stdout:
                message = _message(line)
                if "event" in message and on_event is not None:
                    on_event(_event(message["event"]))
                elif "result" in message:
                    result = message["result"]
            proc.wait()
        finally:
            _stop(proc)
        errors.seek(0)
        tail = errors.read().decode("utf-8", "replace")[-_ERROR_TAIL:]
    if not result:
        why = tail.strip() or f"the pipeline process exited with status {proc.returncode}"
        return _Outcome(None, "FAILED", why)
    return _Outcome(result.get("run_id"), str(result.get("status")), result.get("error"))


def _site_folders() -> set[str]:
    import site

    folders = [*site.getsitepackages(), site.getusersitepackages()]
    return {str(Path(f).resolve()) for f in folders}


def _message(line: bytes) -> dict[str, Any]:
    try:
        found = orjson.loads(line)
    except orjson.JSONDecodeError:
        return {}
    return found if isinstance(found, dict) else {}


def _event(raw: Mapping[str, Any]) -> StepEvent:
    from loopml.pipelines import StepEvent, StepState

    return StepEvent(
        str(raw["step"]), StepState(raw["state"]), raw.get("duration"), raw.get("explain", "")
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End the child if it still runs (interrupted): SIGINT first, so its runs end KILLED."""
    if proc.poll() is not None:
        return
    try:
        proc.send_signal(signal.SIGINT)
        proc.wait(_STOP_WAIT)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    except OSError:
        pass


def _remove_worktree(repo: Path, where: Path) -> None:
    """Remove the worktree and git's record of it, whatever state it is in."""
    _git_ok(repo, "worktree", "remove", "--force", str(where))
    if where.exists():
        shutil.rmtree(where, ignore_errors=True)
    _git_ok(repo, "worktree", "prune")


def _git_env() -> dict[str, str]:
    return {**os.environ, "LC_ALL": "C", "GIT_TERMINAL_PROMPT": "0"}


def _git(cwd: Path, *args: str) -> str:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            timeout=_GIT_TIMEOUT,
            env=_git_env(),
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as exc:
        raise InvalidInput(f"git {args[0]} failed in {cwd}: {exc}.") from None
    if done.returncode != 0:
        why = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise InvalidInput(f"git {' '.join(args[:2])} failed in {cwd}: {why[-1] if why else ''}")
    return done.stdout.decode("utf-8", "replace")


def _git_ok(cwd: Path, *args: str) -> str | None:
    try:
        return _git(cwd, *args)
    except InvalidInput:
        return None


# -- the verdict ----------------------------------------------------------------------


def compare_metrics(
    original: Mapping[str, float], reproduced: Mapping[str, float], tolerance: float
) -> tuple[MetricComparison, ...]:
    """Each metric of either run, compared within ``tolerance`` (module docstring)."""
    out = []
    for key in sorted(set(original) | set(reproduced)):
        a, b = original.get(key), reproduced.get(key)
        if a is None or b is None:
            out.append(MetricComparison(key, a, b, None, False))
            continue
        if math.isnan(a) or math.isnan(b):
            out.append(MetricComparison(key, a, b, None, math.isnan(a) and math.isnan(b)))
            continue
        same = a == b or math.isclose(b, a, rel_tol=tolerance, abs_tol=tolerance)
        out.append(MetricComparison(key, a, b, 0.0 if a == b else b - a, same))
    return tuple(out)


def _model_identical(plan: _Plan, reproduced: PipelineRun) -> bool | None:
    from loopml.models import read_model_info

    try:
        step = reproduced.step(plan.step)
    except NotFound:
        return None
    if step.run_id is None:
        return None
    try:
        info = read_model_info(str(RunURI(step.run_id, plan.model_path)))
    except LoopmlError:
        return None
    return bool(info.manifest_digest == plan.version.manifest_digest)


def _verdict(
    plan: _Plan, outcome: _Outcome, original: dict[str, float], tol: float, kept: str | None
) -> Reproduction:
    from loopml.pipelines import load_pipeline_run

    base: dict[str, Any] = {
        "name": plan.version.name,
        "version": plan.version.version,
        "run_id": plan.run.id,
        "reproduced_run_id": outcome.run_id,
        "tolerance": tol,
        "commit": plan.commit,
        "entry": plan.entry,
        "datasets": plan.datasets,
        "worktree": kept,
        "user": current_user(),
        "created_at": time.time(),
    }
    if outcome.status != "FINISHED" or outcome.run_id is None:
        error = (outcome.error or f"the pipeline run ended {outcome.status}").strip()
        last = error.splitlines()[-1] if error else ""
        where = f"run {outcome.run_id}" if outcome.run_id else "before its run started"
        return Reproduction(
            **base,
            status=ReproductionStatus.FAILED,
            metrics=(),
            message=f"the pipeline failed in the worktree ({where}): {last}",
        )
    reproduced = load_pipeline_run(outcome.run_id)
    metrics = compare_metrics(original, _pipeline_metrics(outcome.run_id), tol)
    identical = _model_identical(plan, reproduced)
    model_note = {
        True: "the model has the registered bytes",
        False: "the model's bytes differ from the registered ones",
        None: f"step {plan.step!r} returned no model to compare",
    }[identical]
    differ = [m for m in metrics if not m.matches]
    if not metrics:
        status = ReproductionStatus.REPRODUCED if identical else ReproductionStatus.DIFFERENT
        message = f"no metrics were logged to compare; {model_note}"
    elif differ:
        status = ReproductionStatus.DIFFERENT
        message = "; ".join(_why(m, tol) for m in differ) + f"; {model_note}"
    else:
        status = ReproductionStatus.REPRODUCED
        count = f"{len(metrics)} metric{'s' if len(metrics) != 1 else ''}"
        message = f"{count} within tolerance {tol:g}; {model_note}"
    return Reproduction(**base, status=status, metrics=metrics, message=message,
                        model_identical=identical)  # fmt: skip


def _why(m: MetricComparison, tol: float) -> str:
    if m.original is None:
        return f"{m.metric} only in the reproduced run"
    if m.reproduced is None:
        return f"{m.metric} only in the original run"
    if m.difference is None:
        return f"{m.metric} is NaN in one run only"
    return f"{m.metric} differs by {m.difference:.6g} (tolerance {tol:g})"


# -- storing ---------------------------------------------------------------------------


def _store(result: Reproduction, plan: _Plan) -> Reproduction:
    from dataclasses import replace

    from loopml.context import current
    from loopml.evaluation import _repository

    comparison = {
        "metrics": [m.__dict__ for m in result.metrics],
        "commit": result.commit,
        "entry": result.entry,
        "datasets": list(result.datasets),
        "model_identical": result.model_identical,
        "worktree": result.worktree,
    }
    edge = None
    if result.reproduced_run_id is not None:
        edge = (str(RunURI(plan.run.id)), str(RunURI(result.reproduced_run_id)), RELATION)
    new_id = _repository.insert_reproduction(
        current().metadata,
        {
            "name": result.name,
            "version": result.version,
            "run_id": result.run_id,
            "reproduced_run_id": result.reproduced_run_id,
            "status": result.status.value,
            "tolerance": result.tolerance,
            "comparison": orjson.dumps(comparison).decode(),
            "message": result.message,
            "user": result.user,
            "created_at": result.created_at,
        },
        edge,
    )
    return replace(result, id=new_id)


def _from_row(row: tuple[Any, ...]) -> Reproduction:
    """The stored reproduction of ``row``; CorruptObject naming it when its columns are not
    what a reproduction stores (changed outside loopml)."""
    try:
        return _decode(row)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:  # JSON errors too
        raise CorruptObject(
            f"the stored reproduction {row[0]} of models:/{row[1]}/{row[2]} is corrupt "
            f"({type(exc).__name__}: {str(exc)[:200]}): it was changed outside loopml and "
            "cannot be read; reproduce the version again."
        ) from None


def _decode(row: tuple[Any, ...]) -> Reproduction:
    (rid, name, version, run_id, new_run, status, tol, comparison, message, user, at) = row
    data = orjson.loads(comparison or "{}")

    def number(value: Any) -> float | None:
        if value is None or (isinstance(value, (int, float)) and not isinstance(value, bool)):
            return value
        raise TypeError(f"a metric value is {type(value).__name__} {value!r:.40}")

    def text(value: Any) -> str | None:
        if value is None or isinstance(value, str):
            return value
        raise TypeError(f"{value!r:.40} is not text")

    metrics = tuple(
        MetricComparison(
            str(text(m["metric"])),
            number(m.get("original")),
            number(m.get("reproduced")),
            number(m.get("difference")),
            bool(m.get("matches")),
        )
        for m in data.get("metrics", [])
    )
    return Reproduction(
        name=name,
        version=int(version),
        run_id=run_id,
        reproduced_run_id=new_run,
        status=ReproductionStatus(status),
        tolerance=float(tol),
        metrics=metrics,
        message=message or "",
        commit=text(data.get("commit")),
        entry=text(data.get("entry")),
        datasets=tuple(str(text(d)) for d in data.get("datasets", ())),
        model_identical=data.get("model_identical"),
        worktree=text(data.get("worktree")),
        user=user,
        created_at=float(at),
        id=int(rid),
    )


# -- the child process ------------------------------------------------------------------


def _child() -> int:
    """Run the pipeline the spec on stdin names (in the worktree: the working directory)
    and report its step events and result as JSON lines on the original stdout; whatever
    the pipeline prints goes to stderr."""
    spec = orjson.loads(sys.stdin.buffer.read())
    channel = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)

    def send(message: dict[str, Any]) -> None:
        channel.write(orjson.dumps(message) + b"\n")

    def on_event(event: StepEvent) -> None:
        send({"event": {"step": event.step, "state": event.state.value,
                        "duration": event.duration, "explain": event.explain}})  # fmt: skip

    from loopml.errors import PipelineFailed
    from loopml.pipelines import load_pipeline

    try:
        pipe = load_pipeline(spec["entry"])
        if pipe.name != spec["pipeline"]:
            raise InvalidInput(
                f"the pipeline at this commit ({spec['entry'] or '[pipeline] entry'}) is "
                f"{pipe.name!r}, but the version was trained by pipeline {spec['pipeline']!r}."
            )
        try:
            run = pipe.run(
                overrides=spec["params"],
                cache=False,
                experiment=spec["experiment"],
                executor="local",
                tags=spec["tags"],
                on_event=on_event,
            )
        except PipelineFailed as exc:
            run = exc.run
        send({"result": {"run_id": run.id, "status": run.status.value, "error": run.error}})
    except LoopmlError as exc:
        print(f"{type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(_child())
