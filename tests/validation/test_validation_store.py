"""Validating a dataset version stores the result and links it in lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import loopml
from loopml.errors import InvalidInput, NotFound
from loopml.store.artifacts import get_artifact_store
from loopml.store.lineage import downstream
from loopml.store.metadata import get_metadata_store
from loopml.store.refs import collect_garbage, referenced_digests


def test_result_for_a_version_is_stored_and_linked(
    backend: str, iris_csv: Path, iris: pd.DataFrame
) -> None:
    loopml.add_dataset(str(iris_csv), "iris")
    bad = iris.copy()
    bad.loc[7, "species"] = "lily"
    bad.to_csv(iris_csv, index=False)
    loopml.add_dataset(str(iris_csv), "iris")

    result = loopml.validate("data:/iris@2", reference="data:/iris@1")
    assert result.source == "data:/iris@2"
    assert [r.check.name for r in result.failures] == ["in_set(species)"]
    assert result.uri is not None and result.uri.startswith("validation:/")

    meta = get_metadata_store()
    edges = downstream(meta, "data:/iris@2")
    assert [(e.dst, e.relation) for e in edges] == [(result.uri, "validated")]
    stored = [
        d for d in referenced_digests(meta) if d.startswith(result.uri[len("validation:/") :])
    ]
    assert len(stored) == 1
    data = json.loads(get_artifact_store().get_bytes(stored[0]))
    assert data["source"] == "data:/iris@2" and data["n_failures"] == 1

    report = collect_garbage(meta, get_artifact_store(), dry_run=True, grace_seconds=0)
    assert stored[0] not in {d for d, _ in report.removed}


def test_frames_are_not_stored_unless_asked(project: Path, iris: pd.DataFrame) -> None:
    assert loopml.validate(iris, reference=iris).uri is None


def test_unknown_dataset_is_not_found(project: Path, iris: pd.DataFrame) -> None:
    with pytest.raises(NotFound):
        loopml.validate("data:/nothing@1", reference=iris)


def test_non_tabular_dataset_is_invalid_input(project: Path, iris: pd.DataFrame) -> None:
    notes = project / "notes.txt"
    notes.write_text("not a table\n")
    loopml.add_dataset(str(notes), "notes")
    with pytest.raises(InvalidInput, match="holds no tabular files"):
        loopml.validate("data:/notes@1", reference=iris)
