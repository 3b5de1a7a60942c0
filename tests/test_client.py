"""``loopml.Client``: a project held explicitly, isolated from other clients and the default."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import loopml
from loopml.context import current


def _project(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "loopml.toml").write_text("")
    return root


def test_two_clients_on_two_projects_do_not_see_each_other(project: Path, tmp_path: Path) -> None:
    a = loopml.Client(_project(tmp_path / "a"))
    b = loopml.Client(_project(tmp_path / "b"), flush_interval=0.5)
    assert a.settings.project_root != b.settings.project_root
    assert b.settings.tracking.flush_interval == 0.5 and a.settings.tracking.flush_interval == 1.0
    with a.start_run(experiment="only-a") as run:
        run.log_metric("m", 1.0)
    (tmp_path / "d.csv").write_text("x\n1\n")
    b.add_dataset(tmp_path / "d.csv", "only-b")
    assert [r.id for r in a.search_runs()] == [run.id]
    assert b.search_runs() == []
    assert [v.name for v in b.list_datasets()] == ["only-b"]
    assert a.list_datasets() == []
    # the default context (the project fixture, the working directory) saw none of it
    assert loopml.search_runs() == [] and loopml.list_datasets() == []
    assert (tmp_path / "a" / ".loopml" / "loopml.db").is_file()
    assert not (project / ".loopml" / "loopml.db").exists() or loopml.search_runs() == []


def test_module_functions_inside_a_client_call_use_that_client(
    project: Path, tmp_path: Path
) -> None:
    other = _project(tmp_path / "other")
    (other / "loopml.toml").write_text('[pipeline]\nentry = "client_flow:chain"\n')
    (other / "client_flow.py").write_text(
        "import loopml\n\n\n@loopml.step\ndef score(n: int) -> int:\n"
        "    loopml.log_metric('score', float(n))\n    return n\n\n\n"
        "@loopml.pipeline\ndef chain(n: int = 3):\n    return score(n)\n"
    )
    client = loopml.Client(other)
    run = client.run_pipeline()
    step = client.get_run(run.steps[0].run_id)
    assert step.metrics == {"score": 3.0}
    assert Path.cwd() == project  # the working directory stayed where it was
    assert loopml.search_runs() == []  # nothing reached the default project's store


def test_a_materializer_registered_on_one_client_is_not_seen_by_another(
    project: Path, tmp_path: Path
) -> None:
    class Box:
        pass

    a = loopml.Client(_project(tmp_path / "a"))
    b = loopml.Client(_project(tmp_path / "b"))
    a.register_materializer(Box, save=lambda v: b"box", load=lambda data: Box(), ext="box")
    assert Box in a.materializers and Box not in b.materializers
    assert Box not in current().materializers


def test_settings_and_registries_are_plain_public_attributes(project: Path) -> None:
    client = loopml.Client(project, tracking_uri="sqlite:///other.db")
    assert client.settings.store.tracking_uri == f"sqlite:///{project / 'other.db'}"
    assert isinstance(client.materializers, dict) and isinstance(client.executors, dict)
    assert client.metadata.dialect == "sqlite"
    assert repr(client).startswith("Client(")


def test_a_client_method_keeps_its_docstring_and_signature() -> None:
    import inspect

    assert loopml.Client.search_runs.__doc__ == loopml.search_runs.__doc__
    client = loopml.Client()
    params = inspect.signature(client.search_runs).parameters
    assert list(params)[:4] == ["filter", "experiment", "order_by", "max_results"]


def test_the_default_context_follows_the_working_directory(tmp_path: Path) -> None:
    a = _project(tmp_path / "a")
    b = _project(tmp_path / "b")
    here = os.getcwd()
    try:
        os.chdir(a)
        assert current().settings.project_root == a
        os.chdir(b)
        assert current().settings.project_root == b
    finally:
        os.chdir(here)


def test_configure_wins_over_the_environment_and_the_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "loopml.toml").write_text("[tracking]\nflush_interval = 3.0\n")
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "2.0")
    assert current().settings.tracking.flush_interval == 2.0
    loopml.configure(flush_interval=0.25)
    assert current().settings.tracking.flush_interval == 0.25


def test_editing_loopml_toml_is_seen_without_a_restart(project: Path) -> None:
    assert current().settings.pipeline.entry is None
    (project / "loopml.toml").write_text('[pipeline]\nentry = "pipeline:train"\n')
    assert current().settings.pipeline.entry == "pipeline:train"
