"""Validating a dataset version stores the result and links it in lineage."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import loopml
from loopml.context import current
from loopml.errors import InvalidInput, NotFound
from loopml.lineage import downstream, resolve, upstream
from loopml.store.refs import collect_garbage


def _referenced_digests() -> set[str]:
    with current().metadata.read() as conn:
        return set(conn.column("SELECT DISTINCT digest FROM object_refs"))


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

    edges = downstream("data:/iris@2")
    assert [(e.dst, e.relation) for e in edges] == [(result.uri, "validated")]
    stored = [d for d in _referenced_digests() if d.startswith(result.uri[len("validation:/") :])]
    assert len(stored) == 1
    data = json.loads(current().artifacts.get_bytes(stored[0]))
    assert data["source"] == "data:/iris@2" and data["n_failures"] == 1

    ctx = current()
    report = collect_garbage(ctx.metadata, ctx.artifacts, dry_run=True, grace_seconds=0)
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


def test_short_references_are_validated_stored_and_linked_like_full_uris(
    backend: str, iris_csv: Path, iris: pd.DataFrame
) -> None:
    loopml.add_dataset(str(iris_csv), "iris")
    bad = iris.copy()
    bad.loc[7, "species"] = "lily"
    bad.to_csv(iris_csv, index=False)
    loopml.add_dataset(str(iris_csv), "iris")

    suite = loopml.infer_suite("iris")  # the newest version, as "data:/iris@latest"
    assert suite.name == "data:/iris@2"
    assert suite == loopml.infer_suite("data:/iris@2")

    passed = loopml.validate("iris@1", suite)
    full = loopml.validate("data:/iris@1", suite, store=False)
    assert passed.source == full.source == "data:/iris@1"
    assert passed.passed and full.passed
    assert passed.checks_run == full.checks_run == len(suite.checks)
    assert passed.uri is not None and passed.uri.startswith("validation:/")

    failed = loopml.validate("iris@2", reference="iris@1")
    assert failed.source == "data:/iris@2"
    assert [r.check.name for r in failed.failures] == ["in_set(species)"]
    assert failed.uri is not None and failed.uri.startswith("validation:/")

    for result, version in ((passed, "data:/iris@1"), (failed, "data:/iris@2")):
        assert [(e.dst, e.relation) for e in downstream(version)] == [(result.uri, "validated")]
        assert [(e.src, e.relation) for e in upstream(result.uri)] == [(version, "validated")]
        held = [d for d in _referenced_digests() if d.startswith(result.uri[len("validation:/") :])]
        assert len(held) == 1

        resolved = resolve(result.uri)
        assert isinstance(resolved, loopml.ValidationResult)
        assert resolved == result
        assert (resolved.passed, len(resolved.failures), len(resolved.warnings)) == (
            result.passed,
            len(result.failures),
            len(result.warnings),
        )
        assert (resolved.checks_run, resolved.n_rows) == (result.checks_run, 150)
    assert resolve(failed.uri).failures[0].sample_values == ["lily"]  # type: ignore[attr-defined]
