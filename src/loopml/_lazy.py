"""Lazy exports: a package names what it offers, and imports each on first use.

Example, at the bottom of a package's ``__init__``::

    __getattr__, __dir__ = lazy_exports(__name__, {"add_dataset": "loopml.data._datasets"})

A value ``"module:attribute"`` exports the module's attribute under another name.
A public subpackage (``loopml.pipelines``) is reachable as an attribute too,
imported on first use, so ``import loopml; loopml.pipelines.step`` works.
"""

from __future__ import annotations

import importlib
import importlib.util
import sys
from collections.abc import Callable
from typing import Any


def lazy_exports(
    package: str, exports: dict[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module-level ``__getattr__`` and ``__dir__`` that import ``exports[name]`` on demand."""

    def __getattr__(name: str) -> Any:
        target = exports.get(name)
        if target is None:
            if not name.startswith("_") and _is_subpackage(f"{package}.{name}"):
                return importlib.import_module(f"{package}.{name}")
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, _, attr = target.partition(":")
        value = getattr(importlib.import_module(module), attr or name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__


def _is_subpackage(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False
