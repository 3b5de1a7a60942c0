from __future__ import annotations

from pathlib import Path

import pytest

import loopml
import loopml.context
from loopml.config import load_settings
from loopml.errors import InvalidInput


def test_defaults_live_in_the_project_state_folder(project: Path) -> None:
    s = loopml.context.current().settings
    assert s.project_root == project
    assert s.tracking_uri == f"sqlite:///{project / '.loopml' / 'loopml.db'}"
    assert s.artifact_uri == str(project / ".loopml" / "artifacts")
    assert s.store.tracking_uri == s.tracking_uri
    assert s.store.artifact_uri == s.artifact_uri
    assert s.state_dir == project / ".loopml"
    assert s.lock_path == project / "loopml.lock"
    assert load_settings() == s


def test_project_root_is_found_by_walking_up(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert loopml.context.current().settings.project_root == project
    assert load_settings().project_root == project


def test_resolution_order_argument_env_file_default(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "loopml.toml").write_text(
        '[store]\ntracking_uri = "sqlite:///from-file.db"\nartifact_uri = "file-objects"\n'
    )
    loopml.context.reset()
    s = loopml.context.current().settings
    assert s.tracking_uri == f"sqlite:///{project / 'from-file.db'}"
    assert s.artifact_uri == str(project / "file-objects")

    monkeypatch.setenv("LOOPML_TRACKING_URI", "sqlite:////tmp/from-env.db")
    assert loopml.context.current().settings.tracking_uri == "sqlite:////tmp/from-env.db"
    assert loopml.context.current().settings.artifact_uri == str(project / "file-objects")

    got = load_settings(explicit={"tracking_uri": "postgresql://u@h/db"}).tracking_uri
    assert got == "postgresql://u@h/db"
    loopml.configure(artifact_uri="s3://bucket/x")
    assert loopml.context.current().settings.artifact_uri == "s3://bucket/x"
    assert loopml.context.current().settings.tracking_uri == "sqlite:////tmp/from-env.db"


def test_reset_forgets_configured_settings(project: Path) -> None:
    loopml.configure(artifact_uri="s3://bucket/x")
    assert loopml.context.current().settings.artifact_uri == "s3://bucket/x"
    loopml.context.reset()
    assert loopml.context.current().settings.artifact_uri == str(project / ".loopml" / "artifacts")


def test_bad_toml_names_the_file(project: Path) -> None:
    (project / "loopml.toml").write_text("[store\n")
    loopml.context.reset()
    with pytest.raises(InvalidInput, match=r"loopml\.toml is not valid TOML"):
        loopml.context.current().settings  # noqa: B018


def test_bad_flush_interval_is_rejected(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "soon")
    with pytest.raises(InvalidInput, match="'soon'"):
        loopml.context.current().settings  # noqa: B018


def test_unknown_section_is_rejected_by_name(project: Path) -> None:
    (project / "loopml.toml").write_text('[storage]\ntracking_uri = "sqlite:///x.db"\n')
    with pytest.raises(InvalidInput, match=r"loopml\.toml.*unknown section \[storage\]"):
        load_settings()
    loopml.context.reset()
    with pytest.raises(InvalidInput, match=r"\[storage\]"):
        loopml.context.current().settings  # noqa: B018


def test_unknown_key_in_a_known_section_is_rejected_by_name(project: Path) -> None:
    (project / "loopml.toml").write_text('[store]\ntracking_url = "sqlite:///x.db"\n')
    with pytest.raises(InvalidInput, match=r"unknown key 'tracking_url' in \[store\]"):
        load_settings()


def test_wrongly_typed_value_is_rejected_by_name(project: Path) -> None:
    (project / "loopml.toml").write_text('[tracking]\nflush_interval = "soon"\n')
    with pytest.raises(InvalidInput, match=r"\[tracking\] flush_interval must be a number"):
        load_settings()
    (project / "loopml.toml").write_text("[tune]\nn_trials = 2.5\n")
    with pytest.raises(InvalidInput, match=r"\[tune\] n_trials must be a whole number, got 2\.5"):
        load_settings()


def test_params_section_takes_any_keys(project: Path) -> None:
    (project / "loopml.toml").write_text('[params]\nmax_depth = 4\n[params.model]\nkind = "rf"\n')
    assert load_settings().params == {"max_depth": 4, "model": {"kind": "rf"}}


def test_executor_comes_from_env_and_beats_the_file(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert loopml.context.current().settings.pipeline.executor == "local"
    (project / "loopml.toml").write_text('[pipeline]\nexecutor = "ray"\n')
    loopml.context.reset()
    assert loopml.context.current().settings.pipeline.executor == "ray"
    monkeypatch.setenv("LOOPML_EXECUTOR", "local")
    assert loopml.context.current().settings.pipeline.executor == "local"
    loopml.configure(executor="ray://head:10001")
    assert loopml.context.current().settings.pipeline.executor == "ray://head:10001"


def test_configured_flush_interval_reaches_settings(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert loopml.context.current().settings.tracking.flush_interval == 1.0
    (project / "loopml.toml").write_text("[tracking]\nflush_interval = 5\n")
    loopml.context.reset()
    assert loopml.context.current().settings.tracking.flush_interval == 5.0
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "2.5")
    assert loopml.context.current().settings.tracking.flush_interval == 2.5
    settings = loopml.configure(flush_interval=0.25)
    assert settings.tracking.flush_interval == 0.25
    assert loopml.context.current().settings.tracking.flush_interval == 0.25
