from __future__ import annotations

from pathlib import Path

import pytest

from loopml import config
from loopml.errors import InvalidInput


def test_defaults_live_in_the_project_state_folder(project: Path) -> None:
    s = config.get_settings()
    assert s.project_root == project
    assert s.tracking_uri == f"sqlite:///{project / '.loopml' / 'loopml.db'}"
    assert s.artifact_uri == str(project / ".loopml" / "artifacts")


def test_project_root_is_found_by_walking_up(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    deep = project / "a" / "b"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    assert config.get_settings().project_root == project


def test_resolution_order_argument_env_file_default(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "loopml.toml").write_text(
        '[store]\ntracking_uri = "sqlite:///from-file.db"\nartifact_uri = "file-objects"\n'
    )
    config.reset()
    s = config.get_settings()
    assert s.tracking_uri == f"sqlite:///{project / 'from-file.db'}"
    assert s.artifact_uri == str(project / "file-objects")

    monkeypatch.setenv("LOOPML_TRACKING_URI", "sqlite:////tmp/from-env.db")
    assert config.get_settings().tracking_uri == "sqlite:////tmp/from-env.db"
    assert config.get_settings().artifact_uri == str(project / "file-objects")

    got = config.get_settings(tracking_uri="postgresql://u@h/db").tracking_uri
    assert got == "postgresql://u@h/db"
    config.configure(artifact_uri="s3://bucket/x")
    assert config.get_settings().artifact_uri == "s3://bucket/x"


def test_bad_toml_names_the_file(project: Path) -> None:
    (project / "loopml.toml").write_text("[store\n")
    config.reset()
    with pytest.raises(InvalidInput, match=r"loopml\.toml is not valid TOML"):
        config.get_settings()


def test_bad_flush_interval_is_rejected(project: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LOOPML_FLUSH_INTERVAL", "soon")
    with pytest.raises(InvalidInput, match="'soon'"):
        config.get_settings()
