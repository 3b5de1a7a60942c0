"""The code part of a cache key is read from source: nothing is imported or run to compute
it, it does not depend on what the process has imported, and it follows the project code a
step really uses."""

from __future__ import annotations

import sys
from pathlib import Path

from tests.pipelines.conftest import ProjectCode

import loopml
from loopml.pipelines._code import fingerprint

NOISY = """
from pathlib import Path

Path("imported.txt").write_text(Path("imported.txt").read_text() + "x" if Path("imported.txt").exists() else "x")

LIMIT = 2

def clip(x):
    return min(x, LIMIT)
"""

LAZY = """
import loopml

@loopml.step
def clipped(x: int) -> int:
    from noisy import clip           # imported in the step, to keep start-up light
    return clip(x)

@loopml.pipeline
def p(x: int = 5):
    return clipped(x)
"""


def test_computing_a_key_does_not_import_project_modules(project: Path, code: ProjectCode) -> None:
    code.write("noisy", NOISY)
    code.write("lazy", LAZY)
    mod = code.load("lazy")
    assert mod.p().steps[0].output == 2
    assert (project / "imported.txt").read_text() == "x"  # the step imported it
    del sys.modules["noisy"]
    (project / "imported.txt").unlink()
    run = mod.p()
    assert run.steps[0].cached
    assert "noisy" not in sys.modules
    assert not (project / "imported.txt").exists()
    code.write("noisy", NOISY.replace("LIMIT = 2", "LIMIT = 3"))
    run = mod.p()
    assert run.steps[0].explain == "miss: project code changed: noisy.LIMIT"
    assert run.steps[0].output == 3


def test_the_key_is_the_same_whether_a_lazy_module_is_imported_or_not(
    project: Path, code: ProjectCode
) -> None:
    code.write("noisy", NOISY)
    code.write("lazy", LAZY)
    mod = code.load("lazy")
    step = mod.clipped.fn
    cold = fingerprint(step, project)
    import noisy  # noqa: F401  (what running the step does)

    warm = fingerprint(step, project)
    assert (cold.source, cold.code, cold.libraries) == (warm.source, warm.code, warm.libraries)
    assert set(cold.code) == {"noisy.LIMIT", "noisy.clip"}
    assert mod.p().steps[0].cached is False
    assert mod.p().steps[0].cached


def test_an_edited_dict_constant_a_helper_uses_misses(project: Path, code: ProjectCode) -> None:
    code.write(
        "table",
        """
        import loopml

        RATES = {"a": 1, "b": 2}

        def rate(name):
            return RATES[name]

        @loopml.step
        def priced(name: str) -> int:
            return rate(name) * 10

        @loopml.pipeline
        def p(name: str = "a"):
            return priced(name)
        """,
    )
    assert code.load("table").p().steps[0].output == 10
    (project / "table.py").write_text(
        (project / "table.py").read_text().replace('"a": 1', '"a": 5')
    )
    run = code.load("table").p()
    assert not run.steps[0].cached
    assert run.steps[0].explain == "miss: project code changed: table.RATES"
    assert run.steps[0].output == 50


def test_a_submodule_used_through_its_package_is_followed(project: Path, code: ProjectCode) -> None:
    (project / "pkg").mkdir()
    (project / "pkg" / "__init__.py").write_text("")
    code.write("pkg/tools", "def twice(xs):\n    return xs + xs\n")
    code.write(
        "subpipe",
        """
        import loopml
        import pkg.tools

        @loopml.step
        def doubled(n: int) -> list:
            return pkg.tools.twice(list(range(n)))

        @loopml.pipeline
        def p(n: int = 2):
            return doubled(n)
        """,
    )
    assert code.load("subpipe").p().steps[0].output == [0, 1, 0, 1]
    code.write("pkg/tools", "def twice(xs):\n    return [x * 2 for x in xs]\n")
    run = code.load("subpipe").p()
    assert run.steps[0].explain == "miss: project code changed: pkg.tools.twice"
    assert run.steps[0].output == [0, 2]


def test_a_decorated_helper_is_followed(project: Path, code: ProjectCode) -> None:
    helpers = """
    import functools

    @functools.lru_cache(maxsize=None)
    def offset():
        return 1
    """
    code.write("cached_helpers", helpers)
    code.write(
        "decorated",
        """
        import loopml
        from cached_helpers import offset

        @loopml.step
        def shifted(x: int) -> int:
            return x + offset()

        @loopml.pipeline
        def p(x: int = 1):
            return shifted(x)
        """,
    )
    assert code.load("decorated").p().steps[0].output == 2
    code.write("cached_helpers", helpers.replace("return 1", "return 2"))
    run = code.load("decorated").p()
    assert run.steps[0].explain == "miss: project code changed: cached_helpers.offset"
    assert run.steps[0].output == 3


TWO_STEPS = """
import loopml

@loopml.step
def train(n: int) -> int:
    return n + 1

@loopml.step(name="evaluate")
def score(train: int) -> int:
    total = 0
    for fit in range(train):
        total += fit
    return total

@loopml.pipeline
def fit(n: int = 3):
    return score(train(n))
"""


def test_a_local_name_does_not_pull_in_the_global_of_that_name(
    project: Path, code: ProjectCode
) -> None:
    """``score``'s parameter ``train`` and loop variable ``fit`` are locals: editing the
    step ``train`` or the pipeline ``fit`` must not change ``score``'s key."""
    code.write("shadow", TWO_STEPS)
    first = code.load("shadow").fit()
    code.write("shadow", TWO_STEPS.replace("return n + 1", "return n + 1  # edited"))
    run = code.load("shadow").fit()
    assert [s.cached for s in run.steps] == [False, True], run.explain
    assert first.steps[1].cache_key == run.steps[1].cache_key


def test_a_package_used_only_inside_a_step_puts_its_version_in_the_key(
    project: Path, code: ProjectCode
) -> None:
    import importlib.metadata

    code.write(
        "yamlstep",
        """
        import loopml

        @loopml.step
        def parsed(text: str) -> dict:
            import yaml
            return yaml.safe_load(text)

        @loopml.pipeline
        def p(text: str = "a: 1"):
            return parsed(text)
        """,
    )
    mod = code.load("yamlstep")
    found = fingerprint(mod.parsed.fn, project)
    assert found.libraries == {"PyYAML": importlib.metadata.version("PyYAML")}
    assert mod.p().steps[0].output == {"a": 1}


def test_a_step_defined_without_a_file_falls_back_to_its_globals(project: Path) -> None:
    namespace: dict[str, object] = {"loopml": loopml, "__name__": "generated"}
    exec(
        "LIMIT = 3\n@loopml.step\ndef capped(x: int) -> int:\n    return min(x, LIMIT)\n",
        namespace,
    )
    found = fingerprint(namespace["capped"].fn, project)  # type: ignore[attr-defined]
    assert "generated.LIMIT" in found.code


def test_a_step_outside_the_project_files_is_keyed_by_its_live_globals(
    project: Path, tmp_path: Path
) -> None:
    """A notebook cell's step uses globals another cell set: they count by value."""
    import importlib

    outside = tmp_path / "notebook"
    outside.mkdir()
    (outside / "cell.py").write_text(
        "import loopml\n\nLIMIT = 3\n\n@loopml.step\ndef capped(x: int) -> int:\n"
        "    return min(x, LIMIT)\n"
    )
    sys.path.insert(0, str(outside))
    try:
        cell = importlib.import_module("cell")
        before = fingerprint(cell.capped.fn, project)
        cell.LIMIT = 4  # what running another cell does
        after = fingerprint(cell.capped.fn, project)
    finally:
        sys.path.remove(str(outside))
        sys.modules.pop("cell", None)
    assert "cell.LIMIT" in before.code
    assert before.code["cell.LIMIT"] != after.code["cell.LIMIT"]
