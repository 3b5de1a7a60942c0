"""Garbage collection of objects nothing references, with dataset versions as owners."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

import loopml
from loopml.context import current
from loopml.data import add_dataset
from loopml.errors import InvalidInput
from loopml.store.artifacts import LocalArtifactStore
from loopml.store.metadata import MetadataStore
from loopml.store.refs import add_refs, collect_garbage, release_refs

HOUR = 3600.0


def _age(store: LocalArtifactStore, digest: str, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(store.path(digest), (then, then))


def _meta() -> MetadataStore:
    return current().metadata


def _local() -> LocalArtifactStore:
    store = current().artifacts
    assert isinstance(store, LocalArtifactStore)
    return store


@pytest.fixture
def versioned(backend: str, project: Path) -> list[str]:
    """A two-file dataset whose objects are all two hours old; returns their digests."""
    folder = project / "data"
    folder.mkdir()
    (folder / "a.txt").write_text("alpha")
    (folder / "b.txt").write_text("beta")
    v = add_dataset(folder, "d")
    digests = [v.manifest_digest, *(e.digest for e in v.files())]
    for d in digests:
        _age(_local(), d, 2 * HOUR)
    return digests


def test_objects_referenced_by_dataset_versions_survive(versioned: list[str]) -> None:
    store = _local()
    report = collect_garbage(_meta(), store, dry_run=False)
    assert report.removed == []
    assert report.kept == len(versioned)
    assert all(store.exists(d) for d in versioned)


def test_dry_run_lists_an_old_unreferenced_object_with_its_size(versioned: list[str]) -> None:
    store = _local()
    orphan = store.put_bytes(b"nobody wants me").digest
    _age(store, orphan, 2 * HOUR)
    report = collect_garbage(_meta(), store, dry_run=True)
    assert report.removed == [(orphan, len(b"nobody wants me"))]
    assert store.exists(orphan)


def test_an_old_unreferenced_object_is_removed_only_without_dry_run(versioned: list[str]) -> None:
    store = _local()
    orphan = store.put_bytes(b"garbage").digest
    _age(store, orphan, 2 * HOUR)
    collect_garbage(_meta(), store, dry_run=True)
    assert store.exists(orphan)
    report = collect_garbage(_meta(), store, dry_run=False)
    assert report.removed == [(orphan, 7)] and report.removed_bytes == 7
    assert not store.exists(orphan)
    assert all(store.exists(d) for d in versioned)


def test_a_young_unreferenced_object_is_kept_for_the_grace_period(versioned: list[str]) -> None:
    store = _local()
    young = store.put_bytes(b"just written, not yet referenced").digest
    report = collect_garbage(_meta(), store, dry_run=False)
    assert report.young == 1 and report.removed == []
    assert store.exists(young)


def test_an_object_reused_by_a_concurrent_writer_during_gc_is_kept(
    versioned: list[str], project: Path
) -> None:
    store = _local()
    path = project / "late.txt"
    path.write_bytes(b"stored long ago, re-added right now")
    orphan = store.put_bytes(path.read_bytes()).digest
    _age(store, orphan, 2 * HOUR)
    cutoff = time.time() - HOUR

    # The writer re-uses the object (refreshing its mtime) after gc listed it
    # as stale but before gc deletes it.
    info = store.put_file(path, digest=orphan)
    assert info.digest == orphan and not info.created
    assert store.delete_if_stale(orphan, cutoff) is False
    assert store.exists(orphan) and store.verify(orphan)

    # A writer arriving after the removal finds it missing and stores it anew.
    _age(store, orphan, 2 * HOUR)
    assert store.delete_if_stale(orphan, cutoff) is True
    assert not store.exists(orphan)
    v = add_dataset(path, "late")
    assert store.exists(orphan) and v.files()[0].digest == orphan


def test_gc_through_the_cli_dry_run_then_force(versioned: list[str]) -> None:
    from typer.testing import CliRunner

    from loopml.cli import app

    store = _local()
    orphan = store.put_bytes(b"x" * 2048).digest
    _age(store, orphan, 2 * HOUR)
    runner = CliRunner()
    dry = runner.invoke(app, ["gc"])
    assert dry.exit_code == 0, dry.output
    assert "would remove 1 objects (2.0 KiB)" in dry.output and orphan[:16] in dry.output
    assert store.exists(orphan)
    forced = runner.invoke(app, ["gc", "--force"])
    assert forced.exit_code == 0 and "removed 1 objects" in forced.output
    assert not store.exists(orphan)


def test_a_released_reference_lets_gc_remove_the_object(versioned: list[str]) -> None:
    store, meta = _local(), _meta()
    held = store.put_bytes(b"held by a run for a while").digest
    _age(store, held, 2 * HOUR)
    meta.write(lambda conn: add_refs(conn, "runs:/abcdef12", [held, held]))
    assert collect_garbage(meta, store, dry_run=False).removed == []
    assert store.exists(held)
    meta.write(lambda conn: release_refs(conn, "runs:/abcdef12", [held]))
    assert collect_garbage(meta, store, dry_run=False).removed == [(held, 25)]
    assert not store.exists(held)
    assert all(store.exists(d) for d in versioned)


def test_the_sdk_gc_dry_runs_by_default_and_checks_the_grace_period(
    versioned: list[str],
) -> None:
    store = _local()
    orphan = store.put_bytes(b"garbage").digest
    _age(store, orphan, 2 * HOUR)
    report = loopml.gc()
    assert report.dry_run and report.removed == [(orphan, 7)]
    assert store.exists(orphan)
    assert loopml.gc(grace_seconds=3 * HOUR).removed == []
    report = loopml.gc(dry_run=False)
    assert report.removed == [(orphan, 7)] and not store.exists(orphan)
    assert all(store.exists(d) for d in versioned)
    for bad in (-1, "1h", True):
        with pytest.raises(InvalidInput, match="grace_seconds"):
            loopml.gc(grace_seconds=bad)  # type: ignore[arg-type]
