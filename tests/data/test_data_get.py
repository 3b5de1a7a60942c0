"""Finding versions by URI, listing them, and reading them back."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from datahelp import make_folder

from loopml.data import add_dataset, dataset_versions, get_dataset, list_datasets
from loopml.errors import InvalidInput, NotFound


@pytest.fixture
def three_versions(project: Path) -> Path:
    path = project / "t.csv"
    for i in range(3):
        path.write_text("a,b\n" + "".join(f"{j},{j * i}\n" for j in range(i + 2)))
        add_dataset(path, "t")
    return path


@pytest.mark.parametrize(
    ("uri", "version"),
    [
        ("data:/t@2", 2),
        ("data:/t@latest", 3),
        ("data:/t", 3),
        ("t@1", 1),
        ("t", 3),
        ("t@v2", 2),
    ],
)
def test_get_dataset_accepts_every_uri_form(three_versions: Path, uri: str, version: int) -> None:
    assert get_dataset(uri).version == version


def test_unknown_version_lists_the_versions_that_exist(backend: str, three_versions: Path) -> None:
    with pytest.raises(NotFound, match="dataset 't' has no version 7; it has versions 1–3"):
        get_dataset("t@7")


def test_unknown_dataset_names_the_known_ones(backend: str, three_versions: Path) -> None:
    with pytest.raises(NotFound, match="no dataset named 'iris': known datasets: 't'"):
        get_dataset("data:/iris@1")
    with pytest.raises(NotFound, match="no dataset named 'iris'"):
        dataset_versions("iris")


def test_unknown_dataset_in_an_empty_project_tells_how_to_add_one(project: Path) -> None:
    with pytest.raises(NotFound, match="loopml data add PATH --name NAME"):
        get_dataset("iris")


@pytest.mark.parametrize("uri", ["data:/t@0", "data:/t@x", "data:/", "t@@2", "runs:/abc"])
def test_malformed_uri_is_invalid_input(project: Path, uri: str) -> None:
    with pytest.raises(InvalidInput, match="malformed dataset"):
        get_dataset(uri)


def test_list_datasets_gives_the_latest_of_each(backend: str, three_versions: Path) -> None:
    other = three_versions.parent / "o.txt"
    other.write_text("o")
    add_dataset(other, "other")
    assert [(v.name, v.version) for v in list_datasets()] == [("other", 1), ("t", 3)]
    assert [v.version for v in dataset_versions("t")] == [1, 2, 3]


def test_to_pandas_reads_a_single_csv(project: Path, iris_csv: Path) -> None:
    frame = add_dataset(iris_csv, "iris").to_pandas()
    expected = pd.read_csv(iris_csv)
    pd.testing.assert_frame_equal(frame, expected, check_dtype=False)


def test_to_pandas_concatenates_a_folder_of_same_schema_files(project: Path) -> None:
    folder = project / "parts"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,a\n2,b\n")
    (folder / "b.csv").write_text("x,y\n3,c\n")
    (folder / "README.md").write_text("not a table")
    frame = add_dataset(folder, "parts").to_pandas()
    assert frame["x"].tolist() == [1, 2, 3] and frame["y"].tolist() == ["a", "b", "c"]


def test_to_pandas_refuses_mixed_schemas_naming_the_file(project: Path) -> None:
    folder = project / "mixed"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,2\n")
    (folder / "b.csv").write_text("z\nq\n")
    with pytest.raises(InvalidInput, match=r"b\.csv does not have the schema of a\.csv"):
        add_dataset(folder, "mixed").to_pandas()


def test_to_pandas_widens_int_and_float_files_of_the_same_column(project: Path) -> None:
    folder = project / "widen"
    folder.mkdir()
    (folder / "a.csv").write_text("x,y\n1,a\n2,b\n")
    (folder / "b.csv").write_text("x,y\n3.5,c\n")
    v = add_dataset(folder, "widen")
    table = v.to_arrow()
    assert str(table.schema.field("x").type) == "double"
    assert table.column("x").to_pylist() == [1.0, 2.0, 3.5]
    frame = v.to_pandas()
    assert frame["x"].tolist() == [1.0, 2.0, 3.5] and frame["y"].tolist() == ["a", "b", "c"]


def test_to_pandas_of_non_tabular_data_says_so(project: Path) -> None:
    folder = make_folder(project / "texts", 3)
    with pytest.raises(InvalidInput, match="holds no tabular files"):
        add_dataset(folder, "texts").to_pandas()


def test_parquet_round_trip(project: Path) -> None:
    frame = pd.DataFrame({"a": [1, 2, 3], "b": ["x", "y", None]})
    path = project / "f.parquet"
    frame.to_parquet(path)
    v = add_dataset(path, "pq")
    assert v.schema == {"a": "int64", "b": "large_string"} or v.schema == {
        "a": "int64",
        "b": "string",
    }
    pd.testing.assert_frame_equal(v.to_pandas(), frame, check_dtype=False)


def test_public_names_are_sorted_and_all_resolve() -> None:
    import ast

    import loopml.data

    stub = ast.parse(Path(loopml.data.__file__).with_suffix(".pyi").read_text())
    declared = [
        a.asname or a.name for n in stub.body if isinstance(n, ast.ImportFrom) for a in n.names
    ]
    assert loopml.data.__all__ == sorted(declared)
    for name in loopml.data.__all__:
        assert getattr(loopml.data, name) is not None


def test_importing_the_data_package_loads_neither_pandas_nor_pyarrow() -> None:
    import subprocess
    import sys

    code = (
        "import sys, loopml, loopml.data; from loopml.data import status, add_dataset; "
        "print(sorted(m for m in ('pandas', 'pyarrow', 'fsspec') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
