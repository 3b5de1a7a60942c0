"""Executors: where a step's function runs once the cache has missed.

``local`` (the default) calls the function in this process, one step at a
time, so ``pdb`` and IDE breakpoints work. ``ray`` sends each step to a Ray
worker and runs independent steps at the same time; ``ray://host:10001`` (or
``host:6379``) names a running cluster, plain ``ray`` connects to
``RAY_ADDRESS`` when it is set and otherwise starts a local Ray on this
machine (or reuses the one already initialised in this process).

Everything about the cache stays in the driver: keys, lookups, lineage and
cache entries are computed and written the same way for both executors, so
a pipeline gives the same outputs and the same hits on either. A Ray worker
loads its inputs from the artifact store, runs the function with the step's
run active (``loopml.log_metric`` inside a step works as it does locally),
stores its outputs and returns their records; the metadata and artifact
stores must therefore be reachable from the workers (a local project on a
local Ray; PostgreSQL and object storage for a remote cluster).

Choose the executor with ``loopml run --executor ray``, ``executor=`` in
Python, ``LOOPML_EXECUTOR`` or ``[pipeline] executor`` in ``loopml.toml``. A
client can register executors of its own by name (``client.executors[name] =
factory``, called as ``factory(address, context)``).
"""

from __future__ import annotations

import abc
import os
import socket
import sys
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.errors import InvalidInput, MissingExtra, TrialPruned, Unavailable
from loopml.pipelines._cache import OutputRecord
from loopml.pipelines._graph import StepOutput, substitute
from loopml.pipelines._materializers import (
    PACKAGES,
    find_materializer,
    package_folder,
    store_package,
    unmaterializable,
)
from loopml.store.artifacts import ArtifactStore
from loopml.tracking import RunStatus

if TYPE_CHECKING:
    from loopml.context import Context

__all__ = [
    "Executor",
    "LocalExecutor",
    "RayExecutor",
    "StepCall",
    "StepResult",
    "connect_ray",
    "get_executor",
    "materialize_outputs",
    "register_project_modules",
    "resolve_executor_name",
]

OUTPUT = "output"


@dataclass
class StepCall:
    """What an executor needs to run one step: the function, its arguments (step
    outputs still as placeholders), how to resolve them, and where to record."""

    name: str
    fn: Callable[..., Any]
    signature: Any
    arguments: dict[str, Any]
    outputs: tuple[str, ...]
    multiple: bool
    allow_pickle: bool
    run_id: str
    inputs: Mapping[tuple[str, str], OutputRecord]
    load_input: Callable[[StepOutput], Any] | None = None
    #: digests of inputs that may load even if pickled: outputs this pipeline run computed
    #: (the producing step's allow_pickle is the opt-in), or all with a trusted store
    trusted: frozenset[str] = frozenset()


@dataclass(eq=False)
class StepResult:
    """How a step call ended: FINISHED, FAILED (``error`` holds the traceback) or PRUNED
    (a tuning trial stopped early); the stored outputs and, when the step ran in this
    process, their values."""

    status: RunStatus
    outputs: list[OutputRecord] = field(default_factory=list)
    values: dict[str, Any] | None = None
    error: str | None = None


class Executor(abc.ABC):
    """Runs step calls. ``submit`` returns a handle; ``wait`` returns at least one
    finished ``(handle, result)`` pair of those given."""

    name = "executor"
    parallel = False

    @abc.abstractmethod
    def submit(self, call: StepCall, artifacts: ArtifactStore) -> Any: ...

    @abc.abstractmethod
    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult]]: ...

    def cancel(self, handles: list[Any]) -> None:  # noqa: B027 - nothing to stop by default
        """Stop the given steps if they are still running (an interrupted pipeline); a
        local step has always finished when its handle exists."""


class LocalExecutor(Executor):
    """Call each step in this process, one at a time, as soon as it is submitted."""

    name = "local"
    parallel = False

    def __init__(self, address: str | None = None, context: Context | None = None) -> None:
        self.context = context

    def submit(self, call: StepCall, artifacts: ArtifactStore) -> Any:
        assert call.load_input is not None
        return execute(call, artifacts, call.load_input, self.context)

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult]]:
        return [(h, h) for h in handles]


class RayExecutor(Executor):
    """Send each step to a Ray worker; independent steps run at the same time."""

    name = "ray"
    parallel = True

    def __init__(self, address: str | None, context: Context) -> None:
        self.ray = connect_ray(address)
        self.settings = context.settings
        self._remote = self.ray.remote(num_cpus=1, max_retries=0)(_ray_step)
        self._by_value: set[str] = set()

    def submit(self, call: StepCall, artifacts: ArtifactStore) -> Any:
        self._pickle_by_value(call.fn)
        s = self.settings
        return self._remote.remote(
            call.fn,
            call.signature,
            call.arguments,
            call.outputs,
            call.multiple,
            call.allow_pickle,
            call.name,
            call.run_id,
            dict(call.inputs),
            call.trusted,
            s.tracking_uri,
            s.artifact_uri,
            str(s.project_root),
        )

    def wait(self, handles: list[Any]) -> list[tuple[Any, StepResult]]:
        ready, _ = self.ray.wait(handles, num_returns=1)
        done = []
        for ref in ready:
            try:
                result = self.ray.get(ref)
            except Exception as exc:  # the worker died, or the task could not be sent
                error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                result = StepResult(RunStatus.FAILED, error=f"the Ray task failed: {error}")
            done.append((ref, result))
        return done

    def cancel(self, handles: list[Any]) -> None:
        for ref in handles:
            try:
                self.ray.cancel(ref, force=True)
            except Exception:  # already finished, or the cluster is gone
                continue

    def _pickle_by_value(self, fn: Callable[..., Any]) -> None:
        # the project's modules are all imported once the pipeline is described:
        # look for them at the first step, then only for a step from a new module
        if self._by_value and getattr(fn, "__module__", None) in self._by_value:
            return
        register_project_modules(self.ray, fn, Path(self.settings.project_root), self._by_value)


def register_project_modules(
    ray: Any, fn: Callable[..., Any], root: Path, done: set[str] | None = None
) -> None:
    """Ship project code with Ray tasks by value: the function's own module and every
    imported module under the project root, so workers need not be able to import
    them (loopml itself and installed packages are imported on the worker as usual)."""
    done = set() if done is None else done
    root = root.resolve()
    names = {getattr(fn, "__module__", None) or ""}
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if path and _inside(Path(path), root) and not _installed(path):
            names.add(name)
    for name in names - done:
        found = sys.modules.get(name)
        if found is None or name == "__main__" or name.split(".")[0] == "loopml":
            continue
        path = getattr(found, "__file__", None)
        if path and _installed(path):
            continue
        ray.cloudpickle.register_pickle_by_value(found)
        done.add(name)


def _inside(path: Path, root: Path) -> bool:
    try:
        path.resolve().relative_to(root)
    except ValueError:
        return False
    return True


def _installed(path: str) -> bool:
    return "site-packages" in path or "dist-packages" in path


def resolve_executor_name(executor: str | None, context: Context) -> str:
    """The executor to use: the argument, else the context's ``[pipeline] executor`` (or
    ``LOOPML_EXECUTOR``), checked: ``local``, ``ray``, a Ray address, or a name the
    context registered."""
    value = str(executor or context.settings.pipeline.executor or "local").strip()
    if value in ("local", "ray") or value in context.executors:
        return value
    if value.startswith("ray://") or _is_host_port(value):
        return value
    known = ", ".join(repr(n) for n in ("local", "ray", *sorted(context.executors)))
    raise InvalidInput(
        f"unknown executor {value!r}: use {known} (a local Ray, or RAY_ADDRESS), "
        "or the address of a Ray cluster such as 'ray://head:10001'."
    )


def get_executor(executor: str | None, context: Context) -> Executor:
    """The executor named by ``executor`` (see :func:`resolve_executor_name`), connected:
    Ray missing or unreachable is an error here, before any step runs."""
    name = resolve_executor_name(executor, context)
    factory = context.executors.get(name)
    if factory is not None:
        made: Executor = factory(None, context)
        return made
    if name == "local":
        return LocalExecutor(None, context)
    return RayExecutor(None if name == "ray" else name, context)


def _is_host_port(value: str) -> bool:
    host, sep, port = value.rpartition(":")
    return bool(sep and host and port.isdigit())


def connect_ray(address: str | None) -> Any:
    """Import Ray and make sure it is initialised (connecting to ``address`` when given)."""
    try:
        import ray
    except ImportError:
        raise MissingExtra("the ray executor (or use --executor local)", "ray", "ray") from None
    if address:
        _check_reachable(address)
    if ray.is_initialized():
        return ray
    target = address or os.environ.get("RAY_ADDRESS") or None
    if target and not address and target != "auto":
        _check_reachable(target)
    try:
        if target:
            ray.init(address=target, log_to_driver=False, configure_logging=False)
        else:
            ray.init(
                num_cpus=os.cpu_count(),
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
    except Exception as exc:
        raise Unavailable(
            f"could not start or reach Ray{f' at {target!r}' if target else ''}: {exc}. "
            "Check the address (ray status on the head node), or use --executor local."
        ) from exc
    return ray


def _check_reachable(address: str, timeout: float = 3.0) -> None:
    hostport = address.removeprefix("ray://")
    host, _, port = hostport.rpartition(":")
    if not host or not port.isdigit():
        raise InvalidInput(
            f"invalid Ray address {address!r}: expected ray://host:port or host:port."
        )
    try:
        with socket.create_connection((host, int(port)), timeout=timeout):
            return
    except OSError as exc:
        raise Unavailable(
            f"the Ray cluster at {address!r} does not answer ({exc}). Start it "
            "(ray start --head) or fix the address given to --executor / [pipeline] "
            "executor, or use --executor local."
        ) from None


# -- running one step (in this process, or on a worker) ----------------------------


def execute(
    call: StepCall,
    artifacts: ArtifactStore,
    load_input: Callable[[StepOutput], Any],
    context: Context | None = None,
) -> StepResult:
    """Resolve the inputs, call the function, store its outputs."""
    import inspect

    try:
        arguments = {n: substitute(v, load_input) for n, v in call.arguments.items()}
        bound = inspect.BoundArguments(call.signature, arguments)
        value = call.fn(*bound.args, **bound.kwargs)
        values = split_outputs(value, call)
        records = materialize_outputs(values, call, artifacts, context, arguments)
    except TrialPruned as exc:
        return StepResult(RunStatus.PRUNED, error=str(exc))
    except Exception as exc:
        error = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
        return StepResult(RunStatus.FAILED, error=error)
    return StepResult(RunStatus.FINISHED, records, values)


def split_outputs(value: Any, call: StepCall) -> dict[str, Any]:
    """The step's return value by output name (several for a multi-output step)."""
    if not call.multiple:
        return {OUTPUT: value}
    if not isinstance(value, (tuple, list)) or len(value) != len(call.outputs):
        got = (
            f"a {type(value).__name__} of {len(value)}"
            if isinstance(value, (tuple, list))
            else f"a {type(value).__name__}"
        )
        raise InvalidInput(
            f"step {call.name!r} declares {len(call.outputs)} outputs "
            f"({', '.join(call.outputs)}) but returned {got}. Return a tuple with one "
            "value per output."
        )
    return dict(zip(call.outputs, value, strict=True))


def materialize_outputs(
    values: dict[str, Any],
    call: StepCall,
    artifacts: ArtifactStore,
    context: Context | None = None,
    arguments: dict[str, Any] | None = None,
) -> list[OutputRecord]:
    """Store each output with its materializer; a value none can store is an error that
    names its type and the fix. A model is stored as a package folder, its signature
    inferred from the step's ``arguments`` (see :mod:`loopml.pipelines._materializers`)."""
    records = []
    with artifacts.batch():  # the outputs on the disk before their records are written
        for name, value in values.items():
            mat = find_materializer(value, context, allow_pickle=call.allow_pickle)
            if mat is None:
                raise unmaterializable(value, call.name)
            if mat.name in PACKAGES:
                digest, size = store_package(value, artifacts, arguments or {})
                records.append(OutputRecord(name, digest, size, mat.name, package_folder(name)))
                continue
            info = artifacts.put_bytes(mat.save(value))
            records.append(
                OutputRecord(name, info.digest, info.size, mat.name, f"outputs/{name}.{mat.ext}")
            )
    return records


def _ray_step(
    fn: Callable[..., Any],
    signature: Any,
    arguments: dict[str, Any],
    outputs: tuple[str, ...],
    multiple: bool,
    allow_pickle: bool,
    name: str,
    run_id: str,
    inputs: dict[tuple[str, str], OutputRecord],
    trusted: frozenset[str],
    tracking_uri: str,
    artifact_uri: str,
    project_root: str,
) -> StepResult:
    """The Ray task: the same :func:`execute`, with the step's run attached."""
    from loopml.context import configure, current
    from loopml.pipelines._records import load_output
    from loopml.tracking import attach_run

    configure(tracking_uri=tracking_uri, artifact_uri=artifact_uri, project_root=project_root)
    ctx = current()
    artifacts = ctx.artifacts

    def load(placeholder: StepOutput) -> Any:
        record = inputs[(placeholder.node, placeholder.output)]
        return load_output(record, artifacts, ctx, allow_pickle=record.digest in trusted)

    call = StepCall(name, fn, signature, arguments, outputs, multiple, allow_pickle, run_id, inputs)
    with attach_run(run_id):
        result = execute(call, artifacts, load, ctx)
    result.values = None  # values stay on the worker; the driver loads what it needs
    return result
