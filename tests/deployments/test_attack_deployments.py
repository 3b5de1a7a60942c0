"""Batch scoring and deploy against hostile inputs: an output that is the input itself, a
package corrupt in the store while an intact copy sits in the local model cache."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import CorruptObject, InvalidInput, NotFound

pd = pytest.importorskip("pandas")


def _frame() -> Any:
    return pd.DataFrame({"tenure": [1.0, 20.0, 50.0], "charges": [90.0, 40.0, 30.0]})


def _same_path(project: Path, source: Path) -> Path:
    return source


def _another_spelling(project: Path, source: Path) -> Path:
    (project / "sub").mkdir()
    return project / "sub" / ".." / "." / source.name


def _hard_link(project: Path, source: Path) -> Path:
    link = project / f"hard{source.suffix}"
    os.link(source, link)
    return link


def _symbolic_link(project: Path, source: Path) -> Path:
    link = project / f"soft{source.suffix}"
    link.symlink_to(source.name)
    return link


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
@pytest.mark.parametrize("spell", [_same_path, _another_spelling, _hard_link, _symbolic_link])
def test_predict_never_overwrites_its_own_input(
    versions: list[Any], project: Path, suffix: str, spell: Callable[[Path, Path], Path]
) -> None:
    source = project / f"in{suffix}"
    if suffix == ".csv":
        _frame().to_csv(source, index=False)
    else:
        _frame().to_parquet(source)
    before = source.read_bytes()
    output = spell(project, source)
    for overwrite in (True, False):
        with pytest.raises(InvalidInput, match="is the same file as the input") as caught:
            loopml.predict_batch("models:/churn/1", source, output, overwrite=overwrite)
        assert f"output {str(output.absolute())!r}" in str(caught.value)
        assert f"the input {str(source)!r}" in str(caught.value)
        assert "Name another output file" in str(caught.value)
    assert source.read_bytes() == before
    assert output.exists() and output.read_bytes() == before
    assert [r for r in loopml.search_runs() if r.kind == "predict"] == []
    assert not [p for p in project.iterdir() if p.name.startswith(".in")]  # no staged output


def test_the_command_refuses_an_output_that_is_its_input(
    versions: list[Any], project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from loopml.cli import main

    _frame().to_parquet(project / "in.parquet")
    before = (project / "in.parquet").read_bytes()
    args = ["predict", "models:/churn/1", "--input", "in.parquet", "--overwrite"]
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--output", "./in.parquet"])
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "is the same file as the input 'in.parquet'" in err
    assert (project / "in.parquet").read_bytes() == before


def test_an_output_that_is_a_file_of_the_input_dataset_is_refused(
    versions: list[Any], project: Path
) -> None:
    _frame().to_parquet(project / "customers.parquet")
    loopml.add_dataset(project / "customers.parquet", name="customers")
    stored = loopml.get_dataset("data:/customers@1").path
    before = stored.read_bytes()
    with pytest.raises(
        InvalidInput, match=r"is the same file as the input .* \(of data:/customers@1\)"
    ):
        loopml.predict_batch("models:/churn/1", "data:/customers@1", stored, overwrite=True)
    assert stored.read_bytes() == before


def test_an_output_beside_the_input_is_still_written(versions: list[Any], project: Path) -> None:
    _frame().to_parquet(project / "in.parquet")
    (project / "out.parquet").write_bytes(b"old")
    done = loopml.predict_batch(
        "models:/churn/1", project / "in.parquet", project / "out.parquet", overwrite=True
    )
    assert done.rows == 3 and pd.read_parquet(project / "out.parquet").shape == (3, 1)


def _damage(project: Path, digest: str, how: str) -> None:
    stored = loopml.Client(project).artifacts.path(digest)
    if how == "missing":
        stored.unlink()
    else:
        stored.chmod(0o644)
        stored.write_bytes(stored.read_bytes()[:-10] + b"0123456789")


@pytest.mark.parametrize("how", ["corrupt", "missing"])
@pytest.mark.parametrize("which", ["file", "manifest"])
def test_deploy_checks_the_stored_package_not_the_cached_copy(
    versions: list[Any], project: Path, how: str, which: str
) -> None:
    loopml.deploy("churn", "models:/churn/1")
    before = loopml.deployments.changes_since(0)
    version = loopml.get_model_version("churn", 2)
    loopml.load_model("models:/churn/2")  # an intact copy in the local model cache
    info = loopml.registry.get_model_package("churn", 2)
    files = {e["blake3"]: n for n, e in info.metadata["files"].items()}
    digest = version.manifest_digest if which == "manifest" else sorted(files)[0]
    _damage(project, digest, how)
    if which == "file":
        assert loopml.load_model("models:/churn/2").predict(_frame()) is not None  # the cache

    error = CorruptObject if how == "corrupt" else NotFound
    with pytest.raises(error) as caught:
        loopml.deploy("churn", "models:/churn/2")
    message = str(caught.value)
    assert "deployment 'churn' was not changed" in message
    if (which, how) == ("manifest", "missing"):  # the load itself reads the manifest
        assert f"manifest {digest[:12]}" in message and "no longer stored" in message
    else:
        assert digest in message and "loopml fsck" in message
    if which == "file" and how == "corrupt":
        assert f"({files[digest]}) of models:/churn/2's package is corrupt" in message
    assert loopml.deployments.changes_since(0) == before
    assert loopml.get_deployment("churn").version == 1
