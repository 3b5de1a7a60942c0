"""Lazy loading: package exports read from their type stubs, and the URI registry's paths.

A package lists what it offers once, in its ``__init__.pyi`` (``from ._runs
import start_run as start_run``): type checkers read that file, and at run
time :func:`attach_stub` turns the same lines into a module ``__getattr__``
that imports each name on first use (the ``lazy_loader`` package parses the
stub), so ``import loopml`` stays fast.

:func:`load` imports the object a ``"module:attribute"`` path names; the URI
registry of :mod:`loopml.lineage` is its one user (with ``loopml.gc``, which
reaches the registry the same way to ask what each scheme keeps alive), so a
package plugs its scheme in without anyone importing it upward.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import lazy_loader

__all__ = ["attach_stub", "load"]


def attach_stub(
    package: str, file: str
) -> tuple[Callable[[str], Any], Callable[[], list[str]], list[str]]:
    """``__getattr__``, ``__dir__`` and ``__all__`` for ``package`` from its ``.pyi`` stub."""
    getattr_, dir_, all_ = lazy_loader.attach_stub(package, file)

    def __getattr__(name: str) -> Any:
        try:
            return getattr_(name)
        except AttributeError:
            raise AttributeError(f"module {package!r} has no attribute {name!r}") from None

    return __getattr__, dir_, list(all_)


def load(path: str) -> Any:
    """The object a ``"module:attribute"`` path names, importing the module if need be."""
    module, _, attr = path.partition(":")
    found: Any = importlib.import_module(module)
    for part in attr.split(".") if attr else ():
        found = getattr(found, part)
    return found
