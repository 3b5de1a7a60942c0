"""Diffs between versions: files, schema and rows."""

from __future__ import annotations

from pathlib import Path

from datahelp import make_folder

from loopml.data import FileChange, SchemaChange, add_dataset, diff_versions


def test_diff_lists_added_removed_and_modified_paths_with_sizes(project: Path) -> None:
    folder = make_folder(project / "d", 4)
    add_dataset(folder, "d")
    (folder / "part0" / "f00000.txt").write_bytes(b"longer content than before" * 4)
    (folder / "part1" / "f00001.txt").unlink()
    (folder / "new.txt").write_bytes(b"12345")
    add_dataset(folder, "d")
    d = diff_versions("d@1", "d@2")
    assert (d.a, d.b) == ("data:/d@1", "data:/d@2")
    assert d.added == [FileChange("new.txt", None, 5)]
    assert d.removed == [FileChange("part1/f00001.txt", 64, None)]
    assert d.modified == [FileChange("part0/f00000.txt", 64, 104)]
    assert d.rows_before is None and d.schema_changes == []


def test_diff_of_a_table_shows_schema_and_row_changes(project: Path) -> None:
    path = project / "t.csv"
    path.write_text("a,b\n1,x\n2,y\n")
    add_dataset(path, "t")
    path.write_text("a,c\n1.5,3\n2,4\n3,5\n")
    add_dataset(path, "t", profile=False)  # read back from the store for the diff
    d = diff_versions("data:/t@1", "t@2")
    assert (d.rows_before, d.rows_after) == (2, 3)
    assert d.schema_changes == [
        SchemaChange("a", "type", "int64", "double"),
        SchemaChange("b", "removed", "string", None),
        SchemaChange("c", "added", None, "int64"),
    ]


def test_diff_of_a_version_with_itself_is_empty(project: Path, iris_csv: Path) -> None:
    add_dataset(iris_csv, "iris")
    d = diff_versions("iris@1", "iris@latest")
    assert d.unchanged and d.rows_before == d.rows_after == 150
