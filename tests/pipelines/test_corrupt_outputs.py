"""A step whose stored output was corrupted runs again, and its re-run repairs the object
(the write finds the corrupt copy and replaces it), so the next run hits the cache."""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType

from loopml.store.artifacts import LocalArtifactStore


def test_a_corrupted_output_is_recomputed_stored_sound_and_then_hit(
    project: Path, sums: ModuleType
) -> None:
    first = sums.sums()
    record = first.steps[2].output_records[0]
    store = LocalArtifactStore(project / ".loopml" / "artifacts")
    path = store.path(record.digest)
    os.chmod(path, 0o644)
    with open(path, "r+b") as fh:
        fh.truncate(1)

    second = sums.sums()
    assert [s.cached for s in second.steps] == [True, True, False]
    assert second.steps[2].explain.startswith("miss: artifact corrupt")
    assert store.verify(record.digest)  # the re-run's write replaced the corrupt copy

    third = sums.sums()
    assert [s.cached for s in third.steps] == [True, True, True]
    assert third.steps[2].output == first.steps[2].output
