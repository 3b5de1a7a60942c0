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

__all__ = ["forget_changed_modules", "load_pipeline", "run_pipeline"]


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
    _remember_project_modules()
    found = getattr(module, attr, None)
    if not isinstance(found, Pipeline):
        got = "nothing" if found is None else type(found).__name__
        raise InvalidInput(
            f"{target!r} must name a function decorated with @loopml.pipeline, got {got}."
        )
    return found


#: the project's modules this process imported, with their file's (path, mtime, size)
#: when first seen: by :func:`load_pipeline` right after it imported them
_IMPORTED: dict[str, tuple[str, int, int]] = {}


def _project_modules() -> dict[str, tuple[str, int, int]]:
    """The imported modules whose file is in the project (not under a hidden or a
    ``site-packages`` folder of it, not loopml's own), with their file's state now."""
    root = current().settings.project_root.resolve()
    found: dict[str, tuple[str, int, int]] = {}
    for name, module in list(sys.modules.items()):
        where = getattr(module, "__file__", None)
        if not where or name == "loopml" or name.startswith("loopml."):
            continue
        path = Path(where)
        try:
            parts = path.resolve().relative_to(root).parts
        except (OSError, ValueError):
            continue
        if any(p.startswith(".") or p == "site-packages" for p in parts):
            continue
        try:
            stat = path.stat()
            found[name] = (str(path), stat.st_mtime_ns, stat.st_size)
        except OSError:
            found[name] = (str(path), -1, -1)  # gone: counts as changed
    return found


def _remember_project_modules() -> None:
    for name, state in _project_modules().items():
        _IMPORTED.setdefault(name, state)


def forget_changed_modules() -> list[str]:
    """Drop every project module from ``sys.modules`` once a file of one of them changed
    (or went away) since it was imported; the files that changed (none: nothing dropped).

    A long-lived process (``loopml automate``'s daemon) calls it before each retrain, so
    the next :func:`load_pipeline` imports the code as it is on disk, and a step never runs
    old code under a cache key computed from the new files. All of them go, not only the
    changed ones: a module that imported a changed one holds its old objects.
    """
    now = _project_modules()
    changed = sorted(
        now[name][0] for name, seen in _IMPORTED.items() if name in now and now[name] != seen
    )
    if not changed:
        for name, state in now.items():
            _IMPORTED.setdefault(name, state)
        return []
    for name in now:
        sys.modules.pop(name, None)
    _IMPORTED.clear()
    importlib.invalidate_caches()
    return changed


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
