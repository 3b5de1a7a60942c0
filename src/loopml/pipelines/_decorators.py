"""``@step`` and ``@pipeline``: plain functions that become cached, tracked pipelines.

Example::

    import loopml

    @loopml.step
    def load(n: int) -> list[int]:
        return list(range(n))

    @loopml.step
    def total(xs: list[int]) -> int:
        return sum(xs)

    @loopml.pipeline
    def sums(n: int = 10):
        return total(load(n))

    run = sums(n=5)            # runs the steps in this process; a PipelineRun
    run.steps[1].outputs       # {'output': 10}

Outside a pipeline, a step is its plain function: ``total([1, 2])`` is 3.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any, TypeVar, overload

from loopml.errors import InvalidInput
from loopml.pipelines._graph import current_graph

if TYPE_CHECKING:
    from loopml.pipelines._records import PipelineRun
    from loopml.pipelines._runner import StepEvent

__all__ = ["Pipeline", "Step", "pipeline", "step"]

F = TypeVar("F", bound=Callable[..., Any])


class Step:
    """A step: a function whose output is stored and whose calls are cached.

    ``name`` is how runs show it; ``cache=False`` makes it run every time;
    ``allow_pickle=True`` lets outputs no materializer knows be pickled (the
    step run records that pickle was used). A step returning a fixed tuple
    has one output per element: name them with ``outputs=("train", "test")``,
    or annotate the return as ``tuple[A, B]`` to get ``output_0``,
    ``output_1``; in the pipeline body the call then unpacks
    (``train, test = split(df)``).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None,
        cache: bool,
        allow_pickle: bool,
        outputs: Iterable[str] | None = None,
    ) -> None:
        if not callable(fn):
            raise InvalidInput(f"@loopml.step decorates a function, got {fn!r}.")
        self.fn = fn
        self.name = name or fn.__name__
        self.cache = cache
        self.allow_pickle = allow_pickle
        self.identity = f"{fn.__module__}.{fn.__qualname__}"
        self.signature = inspect.signature(fn)
        self.outputs, self.multiple = _output_names(self.name, fn, self.signature, outputs)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<loopml step {self.name!r} ({self.identity})>"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        graph = current_graph()
        if graph is None:
            return self.fn(*args, **kwargs)
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InvalidInput(
                f"step {self.name!r} was called with arguments that do not fit "
                f"{self.name}{self.signature}: {exc}. Pass every input the step needs."
            ) from None
        bound.apply_defaults()
        return graph.add(self, dict(bound.arguments))


class Pipeline:
    """A pipeline: a function that calls steps. Calling it runs them and returns a
    :class:`~loopml.pipelines.PipelineRun`.

    Keyword arguments set pipeline parameters (see :mod:`loopml.pipelines._params`
    for defaults from ``loopml.toml``/``params.yaml``); :meth:`run` also takes
    ``-p``-style overrides and cache switches.
    """

    def __init__(self, fn: Callable[..., Any], *, name: str | None) -> None:
        if not callable(fn):
            raise InvalidInput(f"@loopml.pipeline decorates a function, got {fn!r}.")
        self.fn = fn
        self.name = name or fn.__name__
        self.signature = inspect.signature(fn)
        functools.update_wrapper(self, fn)

    def __repr__(self) -> str:
        return f"<loopml pipeline {self.name!r}>"

    def __call__(self, **params: Any) -> PipelineRun:
        return self.run(params)

    def run(
        self,
        params: Mapping[str, Any] | None = None,
        *,
        overrides: Iterable[str] | Mapping[str, Any] = (),
        cache: bool = True,
        experiment: str | None = None,
        on_event: Callable[[StepEvent], None] | None = None,
        executor: str | None = None,
        parent: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> PipelineRun:
        """Run the pipeline: describe its steps, then run (or fetch from the cache) each.

        ``overrides`` are ``"key=value"`` strings (dotted keys for nested
        params) or a mapping of dotted keys; ``cache=False`` runs every step
        (new results still fill the cache); ``on_event`` is called as each
        step changes state; ``executor`` is ``"local"`` (in this process),
        ``"ray"`` or a Ray address (see :mod:`loopml.pipelines._executors`);
        ``parent`` makes the pipeline run a child of that run and ``tags``
        are added to it. A failing step raises
        :class:`~loopml.errors.PipelineFailed` carrying the run.
        """
        from loopml.pipelines._runner import execute_pipeline, raise_for_status

        return raise_for_status(
            execute_pipeline(
                self,
                dict(params or {}),
                overrides=overrides,
                cache=cache,
                experiment=experiment,
                on_event=on_event,
                executor=executor,
                parent=parent,
                tags=tags,
            )
        )


@overload
def step(fn: F, /) -> F: ...
@overload
def step(
    *,
    name: str | None = None,
    cache: bool = True,
    allow_pickle: bool = False,
    outputs: Iterable[str] | None = None,
) -> Callable[[F], F]: ...
def step(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    cache: bool = True,
    allow_pickle: bool = False,
    outputs: Iterable[str] | None = None,
) -> Any:
    """Make ``fn`` a pipeline step: ``@loopml.step`` or
    ``@loopml.step(cache=False, name=..., outputs=("train", "test"))``."""
    if fn is None:
        return lambda f: Step(f, name=name, cache=cache, allow_pickle=allow_pickle, outputs=outputs)
    return Step(fn, name=name, cache=cache, allow_pickle=allow_pickle, outputs=outputs)


def _output_names(
    step: str, fn: Callable[..., Any], signature: inspect.Signature, outputs: Iterable[str] | None
) -> tuple[tuple[str, ...], bool]:
    """The step's output names, and whether it returns several values."""
    if outputs is not None:
        names = (outputs,) if isinstance(outputs, str) else tuple(outputs)
        bad = [n for n in names if not isinstance(n, str) or not n.isidentifier()]
        if not names or bad or len(set(names)) != len(names):
            raise InvalidInput(
                f"outputs of step {step!r} must be distinct Python identifiers, got "
                f"{outputs!r}. Example: @loopml.step(outputs=('train', 'test'))."
            )
        return names, True
    count = _tuple_length(fn, signature.return_annotation)
    if count is None:
        return ("output",), False
    return tuple(f"output_{i}" for i in range(count)), True


def _tuple_length(fn: Callable[..., Any], hint: Any) -> int | None:
    """N when ``fn`` is annotated (``hint``) to return ``tuple[T1, ..., TN]`` (N >= 2),
    else None."""
    import typing

    if isinstance(hint, str):
        if not hint.replace(" ", "").lower().startswith(("tuple[", "typing.tuple[")):
            return None
        try:
            hint = typing.get_type_hints(fn).get("return")
        except Exception:
            return None
    if typing.get_origin(hint) is not tuple:
        return None
    args = typing.get_args(hint)
    if len(args) < 2 or Ellipsis in args:
        return None
    return len(args)


@overload
def pipeline(fn: Callable[..., Any], /) -> Pipeline: ...
@overload
def pipeline(*, name: str | None = None) -> Callable[[Callable[..., Any]], Pipeline]: ...
def pipeline(fn: Callable[..., Any] | None = None, /, *, name: str | None = None) -> Any:
    """Make ``fn`` a pipeline: ``@loopml.pipeline`` or ``@loopml.pipeline(name=...)``."""
    if fn is None:
        return lambda f: Pipeline(f, name=name)
    return Pipeline(fn, name=name)
