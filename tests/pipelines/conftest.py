"""Helpers for pipeline tests: write Python modules into the test project and import them."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest


class ProjectCode:
    """Write modules into the project folder and (re-)import them fresh."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def write(self, name: str, source: str) -> Path:
        path = self.root / f"{name}.py"
        path.write_text(textwrap.dedent(source))
        return path

    def load(self, name: str) -> ModuleType:
        for mod in [m for m, v in sys.modules.items() if _in(v, self.root)]:
            del sys.modules[mod]
        importlib.invalidate_caches()
        return importlib.import_module(name)


def _in(module: ModuleType | None, root: Path) -> bool:
    path = getattr(module, "__file__", None)
    return bool(path) and Path(path).resolve().is_relative_to(root.resolve())


@pytest.fixture
def code(project: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ProjectCode]:
    monkeypatch.syspath_prepend(str(project))
    monkeypatch.setattr(sys, "dont_write_bytecode", True)
    helper = ProjectCode(project)
    yield helper
    for mod in [m for m, v in list(sys.modules.items()) if _in(v, project)]:
        del sys.modules[mod]


PIPE = """
import loopml
import helpers

@loopml.step
def load(n: int) -> list[int]:
    return list(range(-2, n))

@loopml.step
def cleaned(xs: list[int]) -> list[int]:
    return helpers.clean(xs)

@loopml.step
def total(xs: list[int], scale: int = 1) -> int:
    return sum(xs) * scale

@loopml.pipeline
def sums(n: int = 5, scale: int = 2):
    return total(cleaned(load(n)), scale=scale)
"""

HELPERS = """
def clean(xs):
    return [x for x in xs if x >= 0]
"""


@pytest.fixture
def sums(code: ProjectCode) -> ModuleType:
    """The three-step ``sums`` pipeline in ``pipe.py``, calling ``helpers.clean``."""
    code.write("helpers", HELPERS)
    code.write("pipe", PIPE)
    return code.load("pipe")
