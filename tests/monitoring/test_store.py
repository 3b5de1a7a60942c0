"""Profiles stored with dataset versions, and ``data:/`` URIs as reference or current."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.context import current
from loopml.errors import CorruptObject, NotFound
from loopml.monitoring import load_profile, profile_reference


def _write(path: Path, n: int, seed: int, shift: float = 0.0) -> Path:
    rng = np.random.default_rng(seed)
    pd.DataFrame({"x": rng.normal(shift, 1, n), "c": rng.choice(["a", "b", "c"], n)}).to_parquet(
        path
    )
    return path


@pytest.fixture
def versions(project: Path) -> tuple[str, str]:
    ref = loopml.add_dataset(_write(project / "ref.parquet", 20_000, 1), "orders")
    cur = loopml.add_dataset(_write(project / "cur.parquet", 20_000, 2, shift=1.0), "today")
    return ref.uri, cur.uri


def test_dataset_uris_are_read_and_the_reference_profile_is_stored(
    versions: tuple[str, str],
) -> None:
    ref, cur = versions
    with pytest.raises(NotFound, match="no reference profile is stored for data:/orders@1"):
        load_profile(ref)
    report = loopml.detect_drift(ref, cur)
    assert report.reference == "data:/orders@1" and report.current == "data:/today@1"
    assert report.drifted_columns == ["x"]
    stored = current().artifacts.read_path("profiles/orders/1.json")
    assert load_profile(ref).to_dict() == json.loads(stored)
    assert load_profile(ref) == profile_reference(ref)


def test_a_stored_profile_is_used_without_reading_the_data_again(
    versions: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    ref, cur = versions
    first = loopml.detect_drift(ref, cur)
    from loopml.data import DatasetVersion

    def refuse(self: DatasetVersion) -> None:
        if self.name == "orders":
            raise AssertionError("the reference data was read again")
        return original(self)

    original = DatasetVersion.to_arrow
    monkeypatch.setattr(DatasetVersion, "to_arrow", refuse)
    assert loopml.detect_drift(ref, cur).to_dict() == first.to_dict()
    assert loopml.detect_drift(ref, cur, columns=["c"]).columns.keys() == {"c"}


def test_a_damaged_stored_profile_is_a_clear_error(versions: tuple[str, str]) -> None:
    ref, cur = versions
    profile_reference(ref)
    current().artifacts.write_path("profiles/orders/1.json", b"{not json")
    with pytest.raises(CorruptObject, match="profiles/orders/1.json' of data:/orders@1 is damaged"):
        loopml.detect_drift(ref, cur)
