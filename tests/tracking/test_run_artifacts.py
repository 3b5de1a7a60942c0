from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import loopml
from loopml.context import current
from loopml.errors import InvalidInput, NotFound
from loopml.store.artifacts import hash_bytes
from loopml.tracking import download_artifact, get_artifact, list_artifacts, start_run


def _refs(owner: str) -> set[str]:
    with current().metadata.read() as conn:
        return set(conn.column("SELECT digest FROM object_refs WHERE owner = ?", (owner,)))


def test_file_is_stored_content_addressed_under_artifact_path(backend: str, project: Path) -> None:
    (project / "model.pkl").write_bytes(b"weights")
    with start_run("exp") as run:
        entries = loopml.log_artifact(project / "model.pkl", "models")
    assert [e.path for e in entries] == ["models/model.pkl"]
    entry = entries[0]
    assert entry.digest == hash_bytes(b"weights") and entry.size == 7
    assert entry.uri == f"runs:/{run.id}/models/model.pkl"
    assert current().artifacts.get_bytes(entry.digest) == b"weights"
    assert _refs(run.uri) == {entry.digest}
    assert list_artifacts(run.id) == entries


def test_folder_gives_one_entry_per_file_under_its_name(backend: str, project: Path) -> None:
    out = project / "plots"
    (out / "sub").mkdir(parents=True)
    (out / "a.txt").write_text("a")
    (out / "sub" / "b.txt").write_text("b")
    (out / "same.txt").write_text("a")
    with start_run("exp") as run:
        run.log_artifact(out)
        run.log_artifact(out, artifact_path="copy")
    paths = [e.path for e in list_artifacts(run.id)]
    assert paths == [
        "copy/plots/a.txt",
        "copy/plots/same.txt",
        "copy/plots/sub/b.txt",
        "plots/a.txt",
        "plots/same.txt",
        "plots/sub/b.txt",
    ]
    assert [e.path for e in list_artifacts(run.id, "plots/sub")] == ["plots/sub/b.txt"]
    assert len(_refs(run.uri)) == 2  # identical bytes are one object

    folder = get_artifact(f"runs:/{run.id}/plots")
    assert (folder / "a.txt").read_text() == "a" and (folder / "sub" / "b.txt").read_text() == "b"
    copy = download_artifact(f"runs:/{run.id}/plots", dest=project / "dl")
    assert download_artifact(run.id, "plots", project / "dl2") == project / "dl2" / "plots"
    single = download_artifact(run.id[:8], "plots/sub/b.txt", project / "dl3")
    assert single == project / "dl3" / "b.txt" and single.read_text() == "b"
    assert copy == project / "dl" / "plots" and (copy / "sub" / "b.txt").read_text() == "b"


def test_relogging_a_path_replaces_it_and_releases_the_old_object(
    backend: str, project: Path
) -> None:
    f = project / "notes.txt"
    f.write_text("first")
    with start_run("exp") as run:
        first = run.log_artifact(f)[0]
        f.write_text("second")
        second = run.log_artifact(f)[0]
    assert [e.digest for e in list_artifacts(run.id)] == [second.digest]
    assert _refs(run.uri) == {second.digest}
    assert first.digest != second.digest
    assert get_artifact(f"runs:/{run.id}/notes.txt").read_text() == "second"


def test_missing_file_is_not_found_naming_the_path(backend: str, project: Path) -> None:
    with start_run("exp") as run:
        with pytest.raises(NotFound, match="nope.bin"):
            run.log_artifact(project / "nope.bin")
        with pytest.raises(InvalidInput, match="no '..'"):
            run.log_dict({}, "../escape.json")


def test_dict_is_stored_as_json_or_yaml(backend: str) -> None:
    data = {"classes": ["a", "b"], "n": np.int64(3), "weights": np.array([0.5, 1.5])}
    with start_run("exp") as run:
        loopml.log_dict(data, "cfg/labels.json")
        run.log_dict({"lr": 0.1, "layers": [1, 2]}, "params.yaml")
    labels = json.loads(get_artifact(f"runs:/{run.id}/cfg/labels.json").read_text())
    assert labels == {"classes": ["a", "b"], "n": 3, "weights": [0.5, 1.5]}
    import yaml

    assert yaml.safe_load(get_artifact(f"runs:/{run.id}/params.yaml").read_text()) == {
        "lr": 0.1,
        "layers": [1, 2],
    }


def test_unserializable_dict_is_invalid_input(backend: str) -> None:
    with start_run("exp") as run, pytest.raises(InvalidInput, match="as JSON"):
        run.log_dict({"f": object()}, "bad.json")


def test_matplotlib_figure_is_stored_as_png(backend: str) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(2, 2))
    fig.add_subplot().plot([0, 1], [1, 0])
    with start_run("exp") as run:
        entry = loopml.log_figure(fig, "plots/curve")
        svg = run.log_figure(fig, "plots/curve.svg")
        with pytest.raises(InvalidInput, match="suffix"):
            run.log_figure(fig, "plots/curve.txt")
    assert entry.path == "plots/curve.png"
    png = get_artifact(entry.uri).read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert b"<svg" in get_artifact(svg.uri).read_bytes()


def test_plotly_like_figure_is_stored_as_html_and_others_are_refused(backend: str) -> None:
    class FakePlotly:
        def write_html(self, file: object, **kwargs: object) -> None:
            file.write("<html>plot</html>")  # type: ignore[attr-defined]

    with start_run("exp") as run:
        entry = run.log_figure(FakePlotly(), "interactive")
        with pytest.raises(InvalidInput, match="matplotlib Figure"):
            run.log_figure({"not": "a figure"}, "x.png")
    assert entry.path == "interactive.html"
    assert get_artifact(entry.uri).read_text() == "<html>plot</html>"


def test_reading_a_missing_artifact_lists_what_the_run_has(backend: str) -> None:
    with start_run("exp") as run:
        run.log_dict({"a": 1}, "a.json")
    with pytest.raises(NotFound, match=r"no artifact 'b.json'; it has: a.json"):
        get_artifact(f"runs:/{run.id}/b.json")
    with pytest.raises(NotFound, match="no run with id"):
        get_artifact(f"runs:/{'0' * 32}/a.json")
    everything = download_artifact(run.id, dest=Path.cwd() / "all")
    assert (everything / "a.json").is_file()
