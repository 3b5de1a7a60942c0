"""What a pipeline run leaves behind: :class:`PipelineRun` and its :class:`StepRun` records.

A pipeline run is a tracked run of kind ``pipeline`` whose params are the
resolved pipeline parameters (dotted keys for nested ones); each step is a
child run of kind ``step`` whose params are the step's plain arguments, whose
artifacts are its outputs (``outputs/output.<ext>``), and whose tags say how
the cache answered (``loopml.cache``: hit, miss or off; ``loopml.cache_key``;
``loopml.explain``; ``loopml.explain_entry``: the earlier entry a miss was
compared with; ``loopml.outputs``: the stored outputs as JSON;
``loopml.cache_source``: for a hit, the run that computed the outputs).

Outputs stored as a pickle (a step declared ``allow_pickle=True``) load only
with the reader's own opt-in, since loading a pickle runs the code its bytes
name and anyone who can write the store could have written them:
``load_pipeline_run(run_id, allow_pickle=True)``, or ``trust_pickle = true``
under ``[store]`` in ``loopml.toml`` (``LOOPML_TRUST_PICKLE=1``) for a store
whose writers are all trusted. Within the pipeline run that computed them,
the step's declaration is the opt-in.

Example::

    run = my_pipeline(max_depth=4)
    [(s.name, s.cached, s.duration) for s in run.steps]
    loopml.load_pipeline_run(run.id).steps[-1].outputs["output"]
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Set
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from loopml.context import current
from loopml.errors import InvalidInput, NotFound, PipelineFailed, Untrusted
from loopml.pipelines._cache import OutputRecord
from loopml.tracking import RunStatus
from loopml.uri import RunURI

if TYPE_CHECKING:
    from loopml.context import Context
    from loopml.store.artifacts import ArtifactStore

# PipelineFailed lives in loopml.errors; loopml.pipelines exports it from here too
__all__ = ["PipelineFailed", "PipelineRun", "StepRun", "load_output", "load_pipeline_run"]

TAG_CACHE = "loopml.cache"
TAG_KEY = "loopml.cache_key"
TAG_EXPLAIN = "loopml.explain"
TAG_COMPARED = "loopml.explain_entry"
TAG_OUTPUTS = "loopml.outputs"
TAG_STEP = "loopml.step"
TAG_SOURCE = "loopml.cache_source"


class Outputs(Mapping[str, Any]):
    """A step's outputs by name, each loaded from the artifact store on first access
    (and verified against its hash), then kept.

    A pickled output loads only when ``allow_pickle`` is true, its digest is among
    ``trusted`` (outputs the reading run computed itself), or the store is trusted
    (``[store] trust_pickle``); otherwise :class:`~loopml.errors.Untrusted`."""

    def __init__(
        self,
        records: list[OutputRecord],
        artifacts: ArtifactStore | None = None,
        context: Context | None = None,
        values: dict[str, Any] | None = None,
        *,
        allow_pickle: bool = False,
        trusted: Set[str] = frozenset(),
    ) -> None:
        self.records = {r.name: r for r in records}
        self._artifacts = artifacts
        self._context = context
        self._values = dict(values or {})
        self._allow_pickle = allow_pickle
        self._trusted = trusted

    def __getitem__(self, name: str) -> Any:
        if name not in self._values:
            record = self.records[name]  # KeyError for an unknown name, as a mapping should
            allowed = self._allow_pickle or record.digest in self._trusted
            self._values[name] = load_output(
                record, self._artifacts, self._context, allow_pickle=allowed
            )
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.records)

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"Outputs({', '.join(self.records)})"


@dataclass
class StepRun:
    """One step of a pipeline run.

    ``status`` is a :class:`~loopml.tracking.RunStatus`: FINISHED, FAILED,
    PRUNED (a tuning trial stopped early) or SKIPPED (not reached because an
    earlier step failed); ``cached`` tells whether its outputs came from the
    cache; ``duration`` is in seconds; ``outputs`` maps output names to
    values (``"output"``, or the names a multi-output step declares), loaded lazily
    from the artifact store; ``explain`` says why the
    cache hit or missed, and ``compared_with`` which earlier cache entry a miss
    was compared with (``cache:/<key> (run <id>)``); ``run_id`` is the step's child
    run (None when skipped); ``error`` holds the traceback of a failed step;
    ``source_run_id`` is the run that computed the outputs (``run_id`` itself, or
    for a cache hit the earlier step run whose metrics and artifacts these are).
    A pickled output needs the reader's opt-in (see the module docstring).
    """

    name: str
    status: RunStatus
    cached: bool = False
    duration: float | None = None
    cache_key: str | None = None
    explain: str = ""
    run_id: str | None = None
    error: str | None = None
    source_run_id: str | None = None
    compared_with: str | None = None
    output_records: list[OutputRecord] = field(default_factory=list, repr=False)
    _outputs: Outputs | None = field(default=None, repr=False, compare=False)

    @property
    def outputs(self) -> Outputs:
        """Output name → value (``"output"`` for the step's return value), loaded on access."""
        if self._outputs is None:
            self._outputs = Outputs(self.output_records)
        return self._outputs

    @property
    def models(self) -> dict[str, str]:
        """Output name → ``runs:/<step run id>/<folder>`` of each output stored as a model
        package (a returned estimator or ``loopml.Model``); load one with
        ``loopml.load_model`` or register it with ``loopml.register_model``."""
        from loopml.pipelines._materializers import PACKAGES

        if self.run_id is None:
            return {}
        return {
            o.name: str(RunURI(self.run_id, o.path))
            for o in self.output_records
            if o.materializer in PACKAGES
        }

    @property
    def output(self) -> Any:
        """The step's return value: ``outputs["output"]``, or for a step with several
        outputs the tuple of their values in order."""
        outputs = self.outputs
        if "output" in outputs.records or not outputs.records:
            return outputs["output"]
        return tuple(outputs[name] for name in outputs.records)


@dataclass
class PipelineRun:
    """A run of a pipeline: its tracked run id, status, parameters and steps in order."""

    id: str
    name: str
    status: RunStatus
    params: dict[str, Any] = field(default_factory=dict)
    steps: list[StepRun] = field(default_factory=list)
    error: str | None = field(default=None, repr=False)

    @property
    def uri(self) -> str:
        """``runs:/<id>``."""
        return str(RunURI(self.id))

    def step(self, name: str) -> StepRun:
        """The step called ``name`` (:class:`~loopml.errors.NotFound` when there is none)."""
        for s in self.steps:
            if s.name == name:
                return s
        raise NotFound(
            f"no step {name!r} in pipeline run {self.id}: it has "
            f"{', '.join(s.name for s in self.steps) or 'no steps'}."
        )

    @property
    def explain(self) -> str:
        """One line per step: its name, hit/miss/off and why (and for a miss, the entry
        it was compared with)."""
        return "\n".join(
            f"{s.name}: {s.explain}"
            + (f" (compared with {s.compared_with})" if s.compared_with else "")
            for s in self.steps
        )


def load_output(
    record: OutputRecord,
    artifacts: ArtifactStore | None = None,
    context: Context | None = None,
    *,
    allow_pickle: bool = False,
) -> Any:
    """The value of a stored output, its bytes verified against their hash; a pickle
    only with ``allow_pickle`` or a trusted store (:class:`~loopml.errors.Untrusted`)."""
    from loopml.pipelines._materializers import PACKAGES, PICKLE, get_materializer, load_package

    ctx = context or current()
    if record.materializer == PICKLE and not allow_pickle and not ctx.settings.store.trust_pickle:
        raise Untrusted(
            f"output {record.name!r} ({record.path}, object {record.digest[:12]}) is a "
            "pickle, and loading a pickle runs whatever code its bytes name: anyone who can "
            "write this store could run code in this process. If you trust everyone who "
            "writes it, load it with allow_pickle=True (loopml.load_pipeline_run(run_id, "
            "allow_pickle=True)), or set trust_pickle = true under [store] in loopml.toml "
            "(or LOOPML_TRUST_PICKLE=1); a pipeline run may also recompute it itself "
            "(loopml run --no-cache)."
        )
    if record.materializer in PACKAGES:
        return load_package(record.materializer, record.digest, artifacts or ctx.artifacts)
    data = (artifacts or ctx.artifacts).get_bytes(record.digest)
    return get_materializer(record.materializer, ctx).load(data)


def load_pipeline_run(run_id: str, *, allow_pickle: bool = False) -> PipelineRun:
    """Read a pipeline run and its steps back from the tracking store.

    ``allow_pickle=True`` lets outputs stored as a pickle load (a pickle runs code when
    loaded: only for a store whose writers you trust; see the module docstring).

    Example::

        run = loopml.load_pipeline_run("4f1c2a")      # a full id or a unique prefix
        run.steps[0].outputs["output"]
    """
    from loopml.tracking import child_runs, get_run  # searching: not on a cached run's path

    found = get_run(run_id)
    if found.kind != "pipeline":
        raise InvalidInput(
            f"run {found.id} is a {found.kind!r} run, not a pipeline run. "
            "Pass the id of a run a pipeline made (kind 'pipeline')."
        )
    steps = [
        StepRun(
            name=child.tags.get(TAG_STEP, child.name),
            status=child.status,
            cached=child.tags.get(TAG_CACHE) == "hit",
            duration=child.duration,
            cache_key=child.tags.get(TAG_KEY),
            explain=child.tags.get(TAG_EXPLAIN, ""),
            compared_with=child.tags.get(TAG_COMPARED),
            run_id=child.id,
            error=child.error,
            source_run_id=child.tags.get(TAG_SOURCE, child.id),
            output_records=[
                OutputRecord(**o) for o in orjson.loads(child.tags.get(TAG_OUTPUTS, "[]"))
            ],
        )
        for child in child_runs(found.id, kind="step")
    ]
    ctx = current()  # outputs load later, from this context's stores and materializers
    for step in steps:
        step._outputs = Outputs(step.output_records, None, ctx, allow_pickle=allow_pickle)
    return PipelineRun(
        id=found.id,
        name=found.name,
        status=found.status,
        params=dict(found.params),
        steps=steps,
        error=found.error,
    )
