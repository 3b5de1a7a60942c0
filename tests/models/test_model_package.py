"""The package format: one folder per model, byte-identical saves, atomic writes, hashes
checked on every load, requirements from the model's own modules."""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import Conflict, CorruptObject, InvalidInput, NotFound


def _files(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()
    }


def test_saving_the_same_model_twice_gives_byte_identical_folders(
    tmp_path: Path, classifier: Any, frame: Any
) -> None:
    a = loopml.save_model(classifier, tmp_path / "a", input_example=frame.head())
    b = loopml.save_model(classifier, tmp_path / "b", input_example=frame.head())
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert set(_files(tmp_path / "a")) == {"loopml-model.json", "model.skops"}
    assert a.manifest_digest == b.manifest_digest and a.digests == b.digests


def test_manifest_records_flavor_signature_example_requirements_and_hashes(
    tmp_path: Path, classifier: Any, frame: Any
) -> None:
    info = loopml.save_model(classifier, tmp_path / "m", input_example=frame.head(3))
    manifest = json.loads((tmp_path / "m" / "loopml-model.json").read_text())
    assert manifest["flavor"]["name"] == "sklearn" == info.flavor
    assert f"scikit-learn=={version('scikit-learn')}" in info.requirements
    assert f"skops=={version('skops')}" in info.requirements
    assert manifest["requirements"] == info.requirements
    assert [c["name"] for c in manifest["signature"]["inputs"]] == ["age", "visits"]
    assert manifest["signature"]["output"] == {"type": "ndarray", "dtype": "int64", "shape": [-1]}
    assert len(manifest["input_example"]) == 3 and set(manifest["input_example"][0]) == {
        "age",
        "visits",
    }
    from loopml.store.artifacts import hash_file

    assert (
        manifest["files"]["model.skops"]["blake3"] == hash_file(tmp_path / "m" / "model.skops")[0]
    )
    assert "python" in manifest


def test_an_existing_package_is_refused_unless_overwrite(tmp_path: Path, classifier: Any) -> None:
    loopml.save_model(classifier, tmp_path / "m")
    before = _files(tmp_path / "m")
    with pytest.raises(Conflict, match="overwrite=True"):
        loopml.save_model(classifier, tmp_path / "m")
    assert _files(tmp_path / "m") == before
    loopml.save_model(classifier, tmp_path / "m", overwrite=True)
    assert _files(tmp_path / "m") == before
    assert [p.name for p in tmp_path.iterdir()] == ["m"]  # no temporary folder left


def test_a_failed_save_leaves_nothing_behind(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no model flavor handles a builtins.object"):
        loopml.save_model(object(), tmp_path / "m")
    assert list(tmp_path.iterdir()) == []


def test_a_tampered_file_is_refused_naming_it(tmp_path: Path, classifier: Any) -> None:
    loopml.save_model(classifier, tmp_path / "m")
    target = tmp_path / "m" / "model.skops"
    data = bytearray(target.read_bytes())
    data[100] ^= 1
    target.write_bytes(bytes(data))
    with pytest.raises(CorruptObject, match=r"'model.skops'.*changed or truncated"):
        loopml.load_model(tmp_path / "m")


def test_a_truncated_file_is_refused(tmp_path: Path, classifier: Any) -> None:
    loopml.save_model(classifier, tmp_path / "m")
    target = tmp_path / "m" / "model.skops"
    target.write_bytes(target.read_bytes()[:50])
    with pytest.raises(CorruptObject, match="model.skops"):
        loopml.load_model(str(tmp_path / "m"))


def test_a_truncated_manifest_is_refused(tmp_path: Path, classifier: Any) -> None:
    loopml.save_model(classifier, tmp_path / "m")
    target = tmp_path / "m" / "loopml-model.json"
    target.write_bytes(target.read_bytes()[:40])
    with pytest.raises(CorruptObject, match="loopml-model.json"):
        loopml.load_model(tmp_path / "m")


def test_a_missing_package_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="no model package"):
        loopml.load_model(tmp_path / "nothing")


def test_unknown_flavor_is_named(tmp_path: Path, classifier: Any) -> None:
    with pytest.raises(InvalidInput, match="unknown model flavor 'catboost'"):
        loopml.save_model(classifier, tmp_path / "m", flavor="catboost")


def test_a_flavor_that_does_not_handle_the_model_is_refused(
    tmp_path: Path, classifier: Any
) -> None:
    with pytest.raises(InvalidInput, match="flavor 'onnx' does not handle"):
        loopml.save_model(classifier, tmp_path / "m", flavor="onnx")
    assert not (tmp_path / "m").exists()


def test_read_model_info_of_a_local_folder(tmp_path: Path, classifier: Any) -> None:
    saved = loopml.save_model(classifier, tmp_path / "m")
    info = loopml.models.read_model_info(str(tmp_path / "m"))
    assert info == saved and info.run_id is None and info.signature is None
