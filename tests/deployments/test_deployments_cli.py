"""``loopml deploy`` and ``loopml deployments list | status | delete | sync``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "80"}, terminal_width=80)
    return result.exit_code, result.stdout, result.stderr


def _fail(args: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    """The one error line of a command that must fail with exit code 1."""
    from loopml.cli import main

    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 1
    out = capsys.readouterr()
    assert "Traceback" not in out.out + out.err
    lines = out.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.err
    return lines[0]


def test_deploy_update_status_and_delete(versions: list[Any]) -> None:
    code, out, _ = _run(["deploy", "churn", "--model", "models:/churn@prod", "--reason", "go"])
    assert code == 0 and "deployed churn: models:/churn/1 (generation 1)" in out
    code, out, _ = _run(["deploy", "churn", "--model", "models:/churn@prod"])
    assert code == 0 and "churn serves models:/churn/1 already; nothing changed" in out
    code, out, _ = _run(["deploy", "churn", "--model", "models:/churn/2"])
    assert code == 0 and "deployed churn: models:/churn/2 (from v1, generation 2)" in out
    code, out, _ = _run(["deployments", "list", "--format", "json"])
    rows = json.loads(out)
    assert [(r["name"], r["model"], r["requested"], r["generation"]) for r in rows] == [
        ("churn", "models:/churn/2", "models:/churn/2", 2)
    ]
    code, out, _ = _run(["deployments", "status", "churn"])
    assert code == 0
    assert "deployments:/churn  (SERVING)" in out and "models:/churn/2" in out
    assert "generation:  2" in out and "UPDATE" in out and "CREATE" in out
    assert all(len(line) <= 80 for line in out.splitlines())
    code, out, _ = _run(["deployments", "status", "churn", "--format", "json"])
    history = json.loads(out)
    assert [(h["action"], h["from"], h["to"], h["reason"]) for h in history] == [
        ("UPDATE", 1, 2, ""),
        ("CREATE", None, 1, "go"),
    ]
    code, out, _ = _run(["deployments", "delete", "churn", "--reason", "retired"])
    assert code == 0 and "deleted deployments:/churn (it served models:/churn/2)" in out
    code, out, _ = _run(["deployments", "list"])
    assert code == 0 and "No deployments" in out


def test_commands_fail_in_one_line_and_change_nothing(
    versions: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    loopml.deploy("churn", "models:/churn/1")
    loopml.deploy("b", "models:/churn/2")
    before = loopml.deployments.changes_since(0)
    assert "no registered model 'nope'" in _fail(
        ["deploy", "churn", "--model", "models:/nope@prod"], capsys
    )
    assert "has no version 7" in _fail(["deploy", "churn", "--model", "models:/churn/7"], capsys)
    assert "invalid deployment name '../x'" in _fail(
        ["deploy", "../x", "--model", "models:/churn/1"], capsys
    )
    assert "no deployment 'other'; deployments: b, churn" in _fail(
        ["deployments", "delete", "other"], capsys
    )
    assert "no deployment 'other'" in _fail(["deployments", "status", "other"], capsys)
    assert "served by deployments:/churn" in _fail(["models", "archive", "churn/1"], capsys)
    assert "served by deployments:/b" in _fail(["models", "delete", "churn/2"], capsys)
    assert loopml.deployments.changes_since(0) == before


def test_read_only_commands_leave_no_state(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    for var in ("LOOPML_TRACKING_URI", "LOOPML_ARTIFACT_URI", "LOOPML_PROJECT_DIR"):
        monkeypatch.delenv(var, raising=False)
    loopml.context.reset()
    for args in (["deployments", "list"], ["deployments", "status", "churn"]):
        _run(args)
    assert not (tmp_path / ".loopml").exists()


def test_sync_applies_the_declared_deployments(versions: list[Any], project: Path) -> None:
    (project / "loopml.toml").write_text(
        '[deployments.churn]\nmodel = "models:/churn@prod"\nconfig = { max_batch_size = 32 }\n'
        '[deployments.shadow]\nmodel = "models:/churn/2"\nreason = "try v2"\n'
    )
    loopml.context.reset()
    code, out, _ = _run(["deployments", "sync"])
    assert code == 0, out
    assert "deployed churn: models:/churn/1" in out and "deployed shadow: models:/churn/2" in out
    assert loopml.get_deployment("churn").config == {"max_batch_size": 32}
    assert loopml.deployments.deployment_history("shadow")[0].reason == "try v2"
    code, out, _ = _run(["deployments", "sync"])
    assert "unchanged churn" in out and "unchanged shadow" in out
    loopml.promote_model("churn", 2, to="prod")
    code, out, _ = _run(["deployments", "sync"])
    assert "deployed churn: models:/churn/2" in out and "unchanged shadow" in out


@pytest.mark.parametrize(
    ("toml", "match"),
    [
        ("[deployments.churn]\nmodel = 3\n", r"\[deployments.churn\] model must be a string"),
        ("[deployments.churn]\nconfig = {}\n", r"\[deployments.churn\] names no model"),
        ('[deployments.churn]\nmodel = "x"\nmodle = 1\n', "unknown key 'modle'"),
        ('[deployments."a/b"]\nmodel = "models:/churn/1"\n', "is not a deployment name"),
        ("[deployments]\nchurn = 1\n", "deployments.churn must be a table"),
    ],
)
def test_a_bad_declaration_is_refused(project: Path, toml: str, match: str) -> None:
    (project / "loopml.toml").write_text(toml)
    loopml.context.reset()
    with pytest.raises(loopml.InvalidInput, match=match):
        loopml.deployments.sync_deployments()


def test_sync_changes_nothing_when_one_declared_model_is_unknown(
    versions: list[Any], project: Path
) -> None:
    (project / "loopml.toml").write_text(
        '[deployments.a]\nmodel = "models:/churn/1"\n[deployments.b]\nmodel = "models:/nope/1"\n'
    )
    loopml.context.reset()
    with pytest.raises(
        loopml.NotFound, match=r"\[deployments.b\] of loopml.toml: .* No deployment"
    ):
        loopml.deployments.sync_deployments()
    assert loopml.list_deployments() == []
    (project / "loopml.toml").write_text('[deployments.a]\nmodel = "churn"\n')
    loopml.context.reset()
    with pytest.raises(
        loopml.InvalidInput, match=r"\[deployments.a\] of loopml.toml: model must be"
    ):
        loopml.deployments.sync_deployments()
