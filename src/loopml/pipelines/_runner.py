"""Running a pipeline in this process: resolve params, describe the graph, run each step.

For each step, in dependency order:

1. its cache key is computed from its code, plain arguments, the content
   hashes of its inputs and library versions (see :mod:`loopml.pipelines._cache`);
2. unless caching is off, a stored entry whose outputs all exist and verify
   is a hit: the step's outputs are the stored objects, and the step does
   not run;
3. otherwise the step function is called in this process (breakpoints and
   ``pdb`` work), its output is materialized into the artifact store, and
   the outputs, lineage edges, object references and cache entry are
   written in one transaction.

Each step is a child run (kind ``step``) of the pipeline's run (kind
``pipeline``). A step that raises ends FAILED with its traceback, the
pipeline run ends FAILED, nothing is cached for it, and
:class:`~loopml.errors.PipelineFailed` is raised; running again resumes
from there, since the steps before it hit the cache. A tuning trial whose
step the pruner stops ends PRUNED (:class:`~loopml.errors.TrialPruned`).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from loopml._enum import StrEnum
from loopml.context import Context, current
from loopml.data import DatasetVersion
from loopml.errors import InvalidInput, PipelineFailed, TrialPruned
from loopml.pipelines._cache import (
    KeyParts,
    Lookup,
    OutputRecord,
    hash_value,
    library_versions,
    lookup,
    save_entry,
)
from loopml.pipelines._code import fingerprint
from loopml.pipelines._decorators import Pipeline
from loopml.pipelines._executors import Executor, StepCall, StepResult, get_executor
from loopml.pipelines._graph import Graph, Node, StepOutput, building, placeholders_in, substitute
from loopml.pipelines._materializers import PACKAGES, package_files
from loopml.pipelines._params import flatten, resolve_params
from loopml.pipelines._records import (
    TAG_CACHE,
    TAG_COMPARED,
    TAG_EXPLAIN,
    TAG_KEY,
    TAG_OUTPUTS,
    TAG_SOURCE,
    TAG_STEP,
    Outputs,
    PipelineRun,
    StepRun,
)
from loopml.store.artifacts import ArtifactStore
from loopml.store.metadata import MetadataStore
from loopml.tracking import ArtifactEntry, MetricObserver, RunStatus, active_run, start_run
from loopml.uri import RunURI

__all__ = ["StepEvent", "StepState", "execute_pipeline", "raise_for_status"]

OUTPUT = "output"
_PARAM_TEXT_LIMIT = 500


class StepState(StrEnum):
    """Where a step stands while a pipeline runs: ``PENDING``, ``RUNNING``, ``CACHED`` (its
    outputs came from the cache), then ``FINISHED``, ``FAILED``, ``PRUNED`` or ``SKIPPED``
    as :class:`~loopml.tracking.RunStatus` says them."""

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    CACHED = "CACHED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    PRUNED = "PRUNED"
    SKIPPED = "SKIPPED"


@dataclass(frozen=True)
class StepEvent:
    """A step changed state (a :class:`StepState`); ``duration`` in seconds once it is over,
    ``explain`` why the cache hit or missed."""

    step: str
    state: StepState
    duration: float | None = None
    explain: str = ""


@dataclass
class _Context:
    ctx: Context
    store: MetadataStore
    artifacts: ArtifactStore
    root: Path
    cache: bool
    emit: Callable[[StepEvent], None]
    outputs: dict[str, Outputs]
    run_ids: dict[str, str]
    executor: Executor
    datasets: dict[str, DatasetVersion]
    pipeline_run: str = ""
    pipeline: str = ""
    #: digests of the outputs this run computed: its own pickles load without an opt-in
    fresh: set[str] = field(default_factory=set)


@dataclass
class _Pending:
    """A step sent to the executor: what its result is recorded with."""

    node: Node
    child: Any
    record: StepRun
    key: str
    parts: KeyParts
    datasets: list[str]
    started: float
    explain: str


def raise_for_status(result: PipelineRun) -> PipelineRun:
    """``result`` itself when it FINISHED; :class:`~loopml.errors.PipelineFailed` for a
    FAILED run and :class:`~loopml.errors.TrialPruned` for a PRUNED one, each carrying it."""
    if result.status == RunStatus.PRUNED:
        raise TrialPruned(result.error or "pruned", run=result)
    if result.status == RunStatus.FAILED:
        failed = next(s for s in result.steps if s.status == RunStatus.FAILED)
        raise PipelineFailed(
            f"step {failed.name!r} of pipeline {result.name!r} failed (run {result.id}); "
            f"its traceback is stored with step run {failed.run_id}:\n{failed.error}"
            "Fix it and run again: the steps before it will come from the cache.",
            result,
        )
    return result


def execute_pipeline(
    pipe: Pipeline,
    kwargs: dict[str, Any],
    *,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    cache: bool = True,
    experiment: str | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
    executor: str | Executor | None = None,
    parent: str | None = None,
    tags: Mapping[str, str] | None = None,
    on_metric: MetricObserver | None = None,
) -> PipelineRun:
    """Run ``pipe`` with parameters ``kwargs`` and ``overrides`` and return how it went
    (FINISHED, FAILED or PRUNED: nothing is raised for a failing step); see the module
    docstring. ``on_metric`` sees every metric its steps log (tuning prunes with it)."""
    ctx = current()
    settings = ctx.settings
    values = resolve_params(
        pipe.signature, pipe.name, settings.project_root, settings.params, kwargs, overrides
    )
    datasets: dict[str, DatasetVersion] = {}
    values = {k: _pin_datasets(v, datasets) for k, v in values.items()}
    graph = Graph()
    with building(graph):
        returned = pipe.fn(**values)
    nodes = graph.order()
    for node in nodes:
        node.arguments = {k: _pin_datasets(v, datasets) for k, v in node.arguments.items()}
    if any(isinstance(r, StepOutput) and r.graph_id != graph.id for r in _flat(returned)):
        raise InvalidInput(f"pipeline {pipe.name!r} returned an output of another pipeline run.")
    exe = executor if isinstance(executor, Executor) else get_executor(executor, ctx)

    run_ctx = _Context(
        ctx=ctx,
        store=ctx.metadata,
        artifacts=ctx.artifacts,
        root=settings.project_root,
        cache=cache,
        emit=on_event or (lambda event: None),
        outputs={},
        run_ids={},
        executor=exe,
        datasets=datasets,
        pipeline=pipe.name,
    )
    for node in nodes:
        run_ctx.emit(StepEvent(node.name, StepState.PENDING))
    params = {k: _param_value(v) for k, v in flatten(values).items()}
    prun = start_run(
        experiment,
        run_name=pipe.name,
        params=params,
        kind="pipeline",
        parent=parent,
        nested=parent is None and active_run() is not None,
        tags={
            "loopml.pipeline": pipe.name,
            **_entry_tag(pipe),
            "loopml.cache_enabled": str(cache).lower(),
            "loopml.executor": exe.name,
            **(tags or {}),
        },
        on_metric=on_metric,
    )
    run_ctx.pipeline_run = prun.id
    if datasets:  # the pipeline run reads what its steps read: data → run, as for a step
        read = sorted({v.uri for v in datasets.values()})
        prun.record_artifacts([], [(uri, prun.uri, "input") for uri in read])
    result = PipelineRun(id=prun.id, name=pipe.name, status=RunStatus.RUNNING, params=params)
    with prun:
        failed = _run_nodes(nodes, run_ctx, result)
        if failed is not None:
            done = {s.name for s in result.steps}
            for later in nodes:
                if later.name not in done:
                    result.steps.append(StepRun(later.name, RunStatus.SKIPPED))
                    run_ctx.emit(StepEvent(later.name, StepState.SKIPPED))
        order = {n.name: i for i, n in enumerate(nodes)}
        result.steps.sort(key=lambda s: order[s.name])
        if failed is not None:
            status = RunStatus.PRUNED if failed.status == RunStatus.PRUNED else RunStatus.FAILED
            prun.end(status, error=failed.error)
            result.error = failed.error or f"step {failed.name!r} ended {status.value}"
    result.status = prun.status
    return result


def _entry_tag(pipe: Pipeline) -> dict[str, str]:
    """``loopml.entry``: the pipeline as ``module:function``, so the run can be repeated
    from its code (``loopml models reproduce``); none for a pipeline defined in a script
    or a function's body, which no entry can name."""
    module, attr = pipe.fn.__module__, pipe.fn.__qualname__
    if module == "__main__" or not attr.isidentifier():
        return {}
    return {"loopml.entry": f"{module}:{attr}"}


def _run_nodes(nodes: list[Node], ctx: _Context, result: PipelineRun) -> StepRun | None:
    """Run every node once its inputs are ready: one at a time in this process, or side
    by side on a parallel executor. Returns the first step that failed, else None.
    Interrupted (Ctrl-C), the steps still running are cancelled and end KILLED."""
    running: dict[Any, _Pending] = {}
    try:
        return _schedule(nodes, ctx, result, running)
    except BaseException:
        if running:
            ctx.executor.cancel(list(running))
            for pending in running.values():
                pending.child.end(RunStatus.KILLED)
        raise


def _schedule(
    nodes: list[Node], ctx: _Context, result: PipelineRun, running: dict[Any, _Pending]
) -> StepRun | None:
    waiting = list(nodes)
    finished: set[str] = set()
    failed: StepRun | None = None
    while waiting or running:
        if failed is None:
            ready = [n for n in waiting if all(d in finished for d in n.depends_on)]
            for node in ready:
                waiting.remove(node)
                started = _start_node(node, ctx)
                if isinstance(started, StepRun):  # a cache hit, recorded already
                    result.steps.append(started)
                    finished.add(node.name)
                    continue
                running[ctx.executor.submit(_call_for(node, started, ctx), ctx.artifacts)] = started
                if not ctx.executor.parallel:
                    break
        if not running:
            if failed is not None or not waiting:
                break
            continue
        for handle, outcome in ctx.executor.wait(list(running)):
            pending = running.pop(handle)
            record = _finish_node(pending, outcome, ctx)
            result.steps.append(record)
            if record.status == RunStatus.FINISHED:
                finished.add(record.name)
            elif failed is None:
                failed = record
        if failed is not None and not running:
            break
    return failed


def _start_node(node: Node, ctx: _Context) -> StepRun | _Pending:
    """Compute the step's key and look it up: a hit is recorded and returned as a
    finished :class:`StepRun`; a miss starts the step's run and returns it pending."""
    step = node.step
    started = time.perf_counter()
    parts, datasets = _key_parts(node, ctx)
    key = parts.key(step.identity)
    found: Lookup
    if not step.cache:
        found = Lookup(None, "cache off for this step")
    elif not ctx.cache:
        found = Lookup(None, "cache off (--no-cache)")
    else:
        found = lookup(ctx.store, ctx.artifacts, step.identity, key, parts, ctx.pipeline)
    hit = found.entry
    explain = found.reason if hit is not None else f"miss: {found.reason}"
    if not step.cache or not ctx.cache:
        explain = found.reason
    tags = {
        TAG_STEP: node.name,
        TAG_CACHE: "hit" if hit else ("miss" if step.cache and ctx.cache else "off"),
        TAG_KEY: key,
        TAG_EXPLAIN: explain,
    }
    compared = found.compared_with if hit is None else None
    if compared:
        tags[TAG_COMPARED] = compared
    if hit is not None:
        tags[TAG_OUTPUTS] = _outputs_json(hit.outputs)
        if hit.run_id:
            tags[TAG_SOURCE] = hit.run_id
    child = start_run(
        run_name=node.name,
        params={k: _param_value(v) for k, v in node.arguments.items() if not _is_input(v)},
        parent=ctx.pipeline_run,
        kind="step",
        tags=tags,
        activate=not ctx.executor.parallel,
    )
    ctx.run_ids[node.name] = child.id
    record = StepRun(
        node.name,
        RunStatus.RUNNING,
        cached=hit is not None,
        cache_key=key,
        explain=explain,
        compared_with=compared,
    )
    record.run_id = child.id
    record.source_run_id = hit.run_id if hit is not None else child.id
    if hit is None:
        ctx.emit(StepEvent(node.name, StepState.RUNNING, explain=explain))
        return _Pending(node, child, record, key, parts, datasets, started, explain)
    ctx.emit(StepEvent(node.name, StepState.CACHED, explain=explain))
    ctx.outputs[node.name] = Outputs(hit.outputs, ctx.artifacts, ctx.ctx, trusted=ctx.fresh)
    _record(ctx, node, child, hit.outputs, datasets, None)
    child.end(RunStatus.FINISHED)
    record.status = RunStatus.FINISHED
    record.output_records = hit.outputs
    record._outputs = ctx.outputs[node.name]
    record.duration = time.perf_counter() - started
    ctx.emit(StepEvent(node.name, StepState.CACHED, record.duration, explain))
    return record


def _call_for(node: Node, pending: _Pending, ctx: _Context) -> StepCall:
    inputs = {
        (dep, name): rec
        for dep in node.depends_on
        for name, rec in ctx.outputs[dep].records.items()
    }
    trust_all = ctx.ctx.settings.store.trust_pickle
    trusted = frozenset(
        rec.digest for rec in inputs.values() if trust_all or rec.digest in ctx.fresh
    )
    return StepCall(
        name=node.name,
        fn=node.step.fn,
        signature=node.step.signature,
        arguments=node.arguments,
        outputs=node.outputs,
        multiple=node.step.multiple,
        allow_pickle=node.step.allow_pickle,
        run_id=pending.child.id,
        inputs=inputs,
        load_input=lambda p: ctx.outputs[p.node][p.output],
        trusted=trusted,
    )


def _finish_node(pending: _Pending, outcome: StepResult, ctx: _Context) -> StepRun:
    """Record how a submitted step ended: outputs, lineage and cache entry, or the error."""
    node, child, record = pending.node, pending.child, pending.record
    if outcome.status != RunStatus.FINISHED:
        child.end(outcome.status, error=outcome.error)
        record.status = outcome.status
        record.error = outcome.error
        record.duration = time.perf_counter() - pending.started
        ctx.emit(
            StepEvent(node.name, StepState(outcome.status.value), record.duration, pending.explain)
        )
        return record
    outputs = outcome.outputs
    ctx.fresh.update(o.digest for o in outputs)
    try:
        entry = (pending.key, node.step.identity, pending.parts) if node.step.cache else None
        _record(ctx, node, child, outputs, pending.datasets, entry)
        child.set_tags({TAG_OUTPUTS: _outputs_json(outputs)})
    except BaseException:
        child.end(RunStatus.FAILED, error=traceback.format_exc())
        raise
    ctx.outputs[node.name] = Outputs(
        outputs, ctx.artifacts, ctx.ctx, outcome.values, trusted=ctx.fresh
    )
    child.end(RunStatus.FINISHED)
    record.status = RunStatus.FINISHED
    record.output_records = outputs
    record._outputs = ctx.outputs[node.name]
    record.duration = time.perf_counter() - pending.started
    ctx.emit(StepEvent(node.name, StepState.FINISHED, record.duration, pending.explain))
    return record


def _flat(value: Any) -> list[Any]:
    return list(value) if isinstance(value, tuple) else [value]


def _key_parts(node: Node, ctx: _Context) -> tuple[KeyParts, list[str]]:
    """The step's cache-key parts, and the dataset version URIs it reads."""
    fp = fingerprint(node.step.fn, ctx.root)
    params: dict[str, str] = {}
    inputs: dict[str, str] = {}
    datasets: list[str] = []
    for name, value in node.arguments.items():
        if any(True for _ in placeholders_in(value)):
            digested = substitute(value, lambda p: ctx.outputs[p.node].records[p.output].digest)
            inputs[name] = hash_value(digested)
            continue
        version = _dataset(value, ctx.datasets)
        if version is not None:
            inputs[name] = version.manifest_digest
            datasets.append(version.uri)
            continue
        params[name] = hash_value(value)
    parts = KeyParts(
        source=fp.source,
        code=fp.code,
        params=params,
        inputs=inputs,
        libraries=library_versions(fp.libraries),
    )
    return parts, datasets


def _is_input(value: Any) -> bool:
    return any(True for _ in placeholders_in(value))


def _is_reference(value: Any) -> bool:
    return isinstance(value, str) and value.startswith("data:/")


def _pin_datasets(value: Any, found: dict[str, DatasetVersion]) -> Any:
    """``value`` with each dataset reference in it (``data:/name``, ``data:/name@latest``,
    also inside lists, tuples and dicts) replaced by the URI of the version it resolves to
    (``data:/name@3``), by the rule of ``loopml.data.resolve_dataset``; the versions are
    added to ``found`` under the reference and their URI, so a reference met twice in one
    run is resolved once. The parameters a run records, the arguments a step gets (on any
    executor) and the lineage all name the version that was read."""
    if _is_reference(value):
        version = found.get(value)
        if version is None:
            from loopml.data import resolve_dataset

            version = found[value] = resolve_dataset(value).version
            found.setdefault(version.uri, version)
        return version.uri
    if isinstance(value, list):
        return [_pin_datasets(v, found) for v in value]
    if type(value) is tuple:
        return tuple(_pin_datasets(v, found) for v in value)
    if isinstance(value, dict):
        return {k: _pin_datasets(v, found) for k, v in value.items()}
    if isinstance(value, DatasetVersion):
        found.setdefault(value.uri, value)
    return value


def _dataset(value: Any, known: dict[str, DatasetVersion]) -> DatasetVersion | None:
    """The dataset version ``value`` is or names (``data:/name@3``), else None."""
    if isinstance(value, DatasetVersion):
        return value
    if _is_reference(value):
        version = known.get(value)
        if version is None:
            from loopml.data import resolve_dataset

            version = known[value] = resolve_dataset(value).version
        return version
    return None


def _record(
    ctx: _Context,
    node: Node,
    child: Any,
    outputs: list[OutputRecord],
    datasets: list[str],
    entry: tuple[str, str, KeyParts] | None,
) -> None:
    """The step run's artifacts with their lineage (the datasets and outputs it read, the
    outputs it made), then (for a fresh result) the cache entry."""
    run_uri = child.uri
    edges = [(uri, run_uri, "input") for uri in datasets]
    used = {(p.node, p.output): None for p in placeholders_in(node.arguments)}
    for dep, name in used:
        out = ctx.outputs[dep].records[name]
        edges.append((str(RunURI(ctx.run_ids[dep], out.path)), run_uri, "input"))
    edges += [(run_uri, str(RunURI(child.id, out.path)), "output") for out in outputs]
    entries = []
    for o in outputs:
        if o.materializer in PACKAGES:  # a model package: one artifact per file
            files = package_files(o.digest, ctx.artifacts)
            entries += [
                ArtifactEntry(child.id, f"{o.path}/{name}", digest, size)
                for name, (digest, size) in sorted(files.items())
            ]
        else:
            entries.append(ArtifactEntry(child.id, o.path, o.digest, o.size))
    child.record_artifacts(entries, edges)
    if entry is not None:
        key, identity, parts = entry
        digests = sorted({e.digest for e in entries})
        save_entry(ctx.store, key, identity, parts, outputs, child.id, ctx.pipeline, digests)


def _outputs_json(outputs: list[OutputRecord]) -> str:
    return orjson.dumps([o.__dict__ for o in outputs]).decode()


def _param_value(value: Any) -> Any:
    """What is logged for a param: the value itself when tracking stores it as JSON
    (nested dicts become dotted keys there), else its text, cut to a readable length."""
    if isinstance(value, DatasetVersion):
        return value.uri
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (dict, list, tuple)) and len(repr(value)) <= _PARAM_TEXT_LIMIT:
        return value
    text = value if isinstance(value, str) else repr(value)
    if len(text) > _PARAM_TEXT_LIMIT:
        text = text[: _PARAM_TEXT_LIMIT - 3] + "..."
    return text
