"""Profiles of tabular data: schema, rows, nulls, numeric stats, top categories."""

from __future__ import annotations

from pathlib import Path

import pytest

from loopml.data import add_dataset, get_dataset
from loopml.data._profile import MAX_PROFILED


def test_iris_profile_has_exact_numeric_statistics(project: Path, iris_csv: Path) -> None:
    import pandas as pd

    expected = pd.read_csv(iris_csv)
    profile = add_dataset(iris_csv, "iris").profile
    assert profile is not None and len(profile.tables) == 1
    table = profile.tables[0]
    assert table.n_rows == 150 and table.path == "iris.csv"
    cols = {c.name: c for c in table.columns}
    sepal = cols["sepal length (cm)"]
    assert sepal.type == "double" and sepal.null_count == 0
    assert sepal.min == pytest.approx(expected["sepal length (cm)"].min())
    assert sepal.max == pytest.approx(expected["sepal length (cm)"].max())
    assert sepal.mean == pytest.approx(expected["sepal length (cm)"].mean())
    assert (cols["target"].min, cols["target"].max) == (0, 2)


def test_profile_survives_the_database_round_trip(backend: str, cancer_csv: Path) -> None:
    added = add_dataset(cancer_csv, "cancer")
    loaded = get_dataset("cancer@1")
    assert loaded.profile == added.profile
    assert loaded.profile is not None and loaded.profile.n_rows == 569
    assert loaded.schema is not None and len(loaded.schema) == 31


def test_strings_get_distinct_counts_and_top_five(project: Path) -> None:
    path = project / "pets.tsv"
    rows = ["cat"] * 5 + ["dog"] * 4 + ["eel"] * 3 + ["fox"] * 2 + ["gnu", "hen", ""]
    path.write_text("kind\tweight\n" + "".join(f"{k}\t{i}\n" for i, k in enumerate(rows)))
    profile = add_dataset(path, "pets").profile
    assert profile is not None
    kind = profile.tables[0].columns[0]
    assert kind.type == "string"
    assert kind.null_count == 1  # the empty cell
    assert kind.distinct == 6
    assert kind.top == [("cat", 5), ("dog", 4), ("eel", 3), ("fox", 2), ("gnu", 1)]
    assert kind.min is None and kind.mean is None


def test_nulls_are_counted(project: Path) -> None:
    path = project / "n.csv"
    path.write_text("a,b\n1,\n,x\n3,y\n")
    cols = add_dataset(path, "n").profile.tables[0].columns  # type: ignore[union-attr]
    assert [c.null_count for c in cols] == [1, 1]
    assert cols[0].mean == pytest.approx(2.0)


def test_folder_profiles_each_table_up_to_the_cap(project: Path) -> None:
    folder = project / "many"
    folder.mkdir()
    for i in range(MAX_PROFILED + 3):
        (folder / f"t{i:03d}.csv").write_text(f"a\n{i}\n")
    (folder / "notes.txt").write_text("not tabular")
    v = add_dataset(folder, "many")
    assert v.profile is not None
    assert len(v.profile.tables) == MAX_PROFILED and v.profile.skipped == 3
    assert v.schema == {"a": "int64"}


def test_non_tabular_data_has_no_profile(project: Path) -> None:
    path = project / "blob.bin"
    path.write_bytes(bytes(range(256)))
    v = add_dataset(path, "blob")
    assert v.profile is None and v.schema is None
