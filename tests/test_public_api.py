from __future__ import annotations

import json
import subprocess
import sys

import loopml


def test_all_is_sorted_and_every_name_resolves() -> None:
    assert loopml.__all__ == sorted(loopml.__all__)
    for name in loopml.__all__:
        assert getattr(loopml, name) is not None, name


def test_exports_are_the_names_the_stub_lists() -> None:
    import ast
    from pathlib import Path

    stub = ast.parse(Path(loopml.__file__).with_suffix(".pyi").read_text())
    listed = {
        alias.asname or alias.name
        for node in stub.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    assert set(loopml.__all__) == listed
    assert listed <= set(dir(loopml))


def test_importing_loopml_loads_nothing_heavy() -> None:
    code = (
        "import sys, json, loopml; "
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'sqlalchemy','pandas','numpy','pyarrow','sklearn','typer','rich','alembic','fsspec'})))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_unknown_attribute_is_an_attribute_error() -> None:
    import pytest

    with pytest.raises(AttributeError, match=r"^module 'loopml' has no attribute 'nope'$"):
        loopml.nope  # noqa: B018


def test_errors_share_one_root() -> None:
    from loopml import errors

    for name in errors.__all__:
        assert issubclass(getattr(errors, name), errors.LoopmlError)


def test_public_subpackages_are_reachable_after_a_plain_import() -> None:
    import subprocess
    import sys

    code = (
        "import loopml\n"
        "assert callable(loopml.pipelines.register_materializer)\n"
        "assert loopml.validation.infer_suite is loopml.infer_suite\n"
        "try:\n    loopml.no_such_name\nexcept AttributeError:\n    pass\n"
        "else:\n    raise SystemExit('no error for an unknown name')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
