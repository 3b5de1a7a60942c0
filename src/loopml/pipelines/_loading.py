"""Finding the pipeline a project runs: ``module:function``, or ``[pipeline] entry``."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml.context import current
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.pipelines._decorators import Pipeline

if TYPE_CHECKING:
    from loopml.pipelines._records import PipelineRun
    from loopml.pipelines._runner import StepEvent

__all__ = ["load_pipeline", "run_pipeline"]


def load_pipeline(target: str | None = None) -> Pipeline:
    """The pipeline ``target`` names as ``module:function`` (default: ``[pipeline] entry``
    of ``loopml.toml``), its module imported from the project root (which is put on
    ``sys.path``, as ``loopml run`` does).

    Example::

        train = loopml.load_pipeline()          # the project's own pipeline
        train(max_depth=4)
    """
    settings = current().settings
    if target is None:
        target = settings.pipeline.entry
        if not target:
            raise InvalidInput(
                "no pipeline to run: give one as 'loopml run module:function', or set it in "
                'loopml.toml:\n\n[pipeline]\nentry = "pipeline:train"'
            )
    if not isinstance(target, str):
        raise InvalidInput(f"a pipeline is named as 'module:function', got {target!r}.")
    module_name, sep, attr = target.partition(":")
    dotted = module_name.split(".")
    if not sep or not all(p.isidentifier() for p in dotted) or not attr.isidentifier():
        raise InvalidInput(
            f"invalid pipeline {target!r}: expected module:function, e.g. 'pipeline:train' "
            "(a dotted module name importable from the project root, such as "
            "'flows.main:train')."
        )
    root = str(settings.project_root)
    if root not in sys.path:
        sys.path.insert(0, root)
    loaded = sys.modules.get(module_name)
    where = getattr(loaded, "__file__", None)
    if where and not Path(where).resolve().is_relative_to(settings.project_root):
        raise Conflict(
            f"cannot load pipeline {target!r} from {root}: a module named {module_name!r} "
            f"is already imported from {where}. Give the project's module another name, "
            "or load it in a process of its own."
        )
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name != module_name.split(".")[0] and exc.name != module_name:
            raise
        raise NotFound(
            f"cannot import module {module_name!r} of pipeline {target!r} from {root}. "
            "Check [pipeline] entry in loopml.toml; the module must be importable from the "
            "project root."
        ) from None
    found = getattr(module, attr, None)
    if not isinstance(found, Pipeline):
        got = "nothing" if found is None else type(found).__name__
        raise InvalidInput(
            f"{target!r} must name a function decorated with @loopml.pipeline, got {got}."
        )
    return found


def run_pipeline(
    pipeline: Pipeline | str | None = None,
    params: Mapping[str, Any] | None = None,
    *,
    overrides: Iterable[str] | Mapping[str, Any] = (),
    cache: bool = True,
    experiment: str | None = None,
    executor: str | None = None,
    on_event: Callable[[StepEvent], None] | None = None,
) -> PipelineRun:
    """Run a pipeline (an object, a ``module:function`` name, or the project's ``[pipeline]
    entry``), as ``loopml run`` does; see :meth:`Pipeline.run` for the options.

    Example::

        run = loopml.pipelines.run_pipeline(overrides=["max_depth=6"])
        [(s.name, s.cached) for s in run.steps]
    """
    pipe = pipeline if isinstance(pipeline, Pipeline) else load_pipeline(pipeline)
    return pipe.run(
        params,
        overrides=overrides,
        cache=cache,
        experiment=experiment,
        on_event=on_event,
        executor=executor,
    )
