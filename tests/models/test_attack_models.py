"""Hostile and damaged model packages: every one is refused with one line naming what is
wrong, before any of its bytes is loaded or any file is written outside it."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import CorruptObject

Edit = Callable[[Path, dict[str, Any]], None]


def _files(m: dict[str, Any]) -> dict[str, Any]:
    files: dict[str, Any] = m["files"]
    return files


def _omit(folder: Path, m: dict[str, Any]) -> None:
    # the model's bytes are swapped and the manifest no longer lists them
    del _files(m)["model.skops"]
    (folder / "model.skops").write_bytes(b"not what was saved")


HOSTILE: dict[str, tuple[Edit, str]] = {
    "dotdot": (
        lambda f, m: _files(m).__setitem__("../other/model.skops", _files(m)["model.skops"]),
        "'../other/model.skops', which is not a path inside the package",
    ),
    "absolute": (
        lambda f, m: _files(m).__setitem__("/etc/hostname", {"blake3": "0" * 64, "size": 1}),
        "'/etc/hostname', which is not a path inside the package",
    ),
    "manifest listed": (
        lambda f, m: _files(m).__setitem__("loopml-model.json", {"blake3": "0" * 64, "size": 1}),
        "'loopml-model.json', which is not a path inside the package",
    ),
    "entry not a dict": (
        lambda f, m: _files(m).__setitem__("model.skops", "zz"),
        "the entry of file 'model.skops' is 'zz'",
    ),
    "size as text": (
        lambda f, m: _files(m)["model.skops"].__setitem__("size", "9"),
        "the entry of file 'model.skops'",
    ),
    "requirements not a list": (
        lambda f, m: m.__setitem__("requirements", 5),
        "its requirements 5 are not a list",
    ),
    "flavor name not text": (
        lambda f, m: m["flavor"].__setitem__("name", ["sklearn"]),
        "is not a name and a dict",
    ),
    "flavor info not a dict": (
        lambda f, m: m["flavor"].__setitem__("info", 5),
        "is not a name and a dict",
    ),
    "signature not a dict": (
        lambda f, m: m.__setitem__("signature", "abc"),
        "its signature 'abc' is not a dict",
    ),
    "file left out": (_omit, "file 'model.skops' of the model package is not listed"),
}


@pytest.fixture
def saved(project: Path, classifier: Any, frame: Any) -> Path:
    loopml.save_model(classifier, project / "base", input_example=frame.head())
    return project / "base"


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_edited_manifest_is_refused_naming_what_is_wrong(saved: Path, case: str) -> None:
    edit, expected = HOSTILE[case]
    folder = saved.parent / "edited"
    shutil.copytree(saved, folder)
    manifest = json.loads((folder / "loopml-model.json").read_text())
    edit(folder, manifest)
    (folder / "loopml-model.json").write_text(json.dumps(manifest))
    with pytest.raises(CorruptObject) as err:
        loopml.load_model(folder)
    assert expected in str(err.value)
    assert "\n" not in str(err.value)


def test_a_manifest_nested_too_deep_for_json_is_corrupt(saved: Path) -> None:
    (saved / "loopml-model.json").write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(CorruptObject, match="not a loopml model manifest"):
        loopml.load_model(saved)


def test_a_stored_package_whose_manifest_names_files_outside_it_writes_nothing_there(
    project: Path,
) -> None:
    from loopml.context import current
    from loopml.pipelines._materializers import MODEL, load_package

    artifacts = current().artifacts
    payload = artifacts.put_bytes(b"planted").digest
    for name in ("../../planted.txt", "/tmp/planted-by-a-manifest.txt", "a/../../planted.txt"):
        manifest = {
            "format": 1,
            "flavor": {"name": "sklearn", "info": {}},
            "files": {name: {"blake3": payload, "size": 7}},
        }
        digest = artifacts.put_bytes(json.dumps(manifest).encode()).digest
        with pytest.raises(CorruptObject, match="not a path inside the package"):
            load_package(MODEL, digest, artifacts)
    assert not list(project.parent.rglob("planted*"))
    assert not Path("/tmp/planted-by-a-manifest.txt").exists()


def _signature() -> Any:
    from loopml.models import ColumnSpec, Signature

    return Signature(
        (
            ColumnSpec("f", "float64"),
            ColumnSpec("s", "string"),
            ColumnSpec("d", "datetime64[ns]"),
        )
    )


ROW = {"f": 1.0, "s": "x", "d": "2024-01-01"}


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ({**ROW, "d": 5}, "column 'd' row 0: 5 cannot be cast safely to datetime64[ns] (a number"),
        ({**ROW, "d": 1.5e18}, "column 'd' row 0: 1.5e+18 cannot be cast safely"),
        ({**ROW, "f": 1 + 2j}, "column 'f' row 0: (1+2j) cannot be cast safely to float64"),
        ({**ROW, "s": {"a": 1}}, "column 's' row 0: {'a': 1} cannot be cast safely to string"),
        ({**ROW, "s": [1, 2]}, "column 's' row 0: [1, 2] cannot be cast safely to string"),
    ],
    ids=["int date", "float date", "complex", "dict text", "list text"],
)
def test_values_of_the_wrong_kind_are_refused_naming_column_row_and_value(
    row: dict[str, Any], expected: str
) -> None:
    from loopml.errors import InvalidInput

    with pytest.raises(InvalidInput) as err:
        _signature().conform([row])
    assert expected in str(err.value)


def test_numbers_in_a_text_column_become_text_and_text_stays() -> None:
    import pandas as pd

    frame = pd.DataFrame({"f": [1.0, 2.0], "s": pd.Series(["x", 5], dtype=object), "d": ROW["d"]})
    out = _signature().conform(frame)
    assert out["s"].tolist() == ["x", "5"]


def test_a_column_given_twice_is_refused_naming_it() -> None:
    import pandas as pd

    from loopml.errors import InvalidInput

    frame = pd.DataFrame([ROW])
    twice = pd.concat([frame, frame[["f"]]], axis=1)
    with pytest.raises(InvalidInput, match="column 'f' more than once"):
        _signature().conform(twice)
