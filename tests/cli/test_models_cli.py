"""``loopml models``: list, show, register, alias, promote, archive, delete, history."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from tests.registry.conftest import install_fake_models, model_logger
from typer.testing import CliRunner

import loopml
from loopml.cli import app

_ENV = {"COLUMNS": "80"}


@pytest.fixture(autouse=True)
def fake_models(monkeypatch: pytest.MonkeyPatch) -> None:
    install_fake_models(monkeypatch)


@pytest.fixture
def log_model(tmp_path: Path) -> Callable[..., str]:
    return model_logger(tmp_path)


def _run(args: list[str]) -> tuple[int, str]:
    result = CliRunner().invoke(app, args, env=_ENV, terminal_width=80)
    return result.exit_code, result.output


def _assert_fits(output: str) -> None:
    for line in output.splitlines():
        assert len(line) <= 80, line


def test_register_promote_and_history_at_80_columns(
    backend: str, log_model: Callable[..., str]
) -> None:
    source = log_model(metric=0.912345)
    code, out = _run(["models", "register", source, "churn", "--tag", "team=risk"])
    assert code == 0, out
    assert "registered models:/churn/1" in out
    code, out = _run(["models", "register", source, "churn"])
    assert code == 0 and "already registered as churn v1" in " ".join(out.split())
    loopml.register_model(log_model(), "churn", description="second cut")
    code, out = _run(["models", "promote", "churn/1", "--to", "staging", "--reason", "first"])
    assert code == 0 and "staging of churn: nothing → v1" in out, out
    code, out = _run(["models", "promote", "churn/2", "--to", "staging"])
    assert code == 0 and "v1 → v2" in out
    code, out = _run(["models", "history", "churn"])
    assert code == 0, out
    _assert_fits(out)
    lines = out.splitlines()
    assert lines[0].split()[:3] == ["env", "from", "to"]
    assert lines[1].split()[:3] == ["staging", "1", "2"]
    assert "first" in lines[2]
    code, out = _run(["models", "history", "churn", "--env", "staging", "--format", "json"])
    data = json.loads(out)
    assert [(d["from"], d["to"]) for d in data] == [(1, 2), (None, 1)]


def test_list_and_show_print_versions_aliases_signature_metrics_and_lineage(
    backend: str, log_model: Callable[..., str]
) -> None:
    source = log_model(metric=0.912345)
    mv = loopml.register_model(source, "churn")
    loopml.set_alias("churn", "champion", 1)
    code, out = _run(["models", "list"])
    assert code == 0, out
    _assert_fits(out)
    assert re.search(r"churn\s+1\s+1\s+champion=1", out), out
    code, out = _run(["models", "list", "--filter", "alias = 'champion'", "--format", "json"])
    assert [(d["name"], d["version"], d["aliases"]) for d in json.loads(out)] == [
        ("churn", 1, "champion")
    ]
    code, out = _run(["models", "show", "churn@champion"])
    assert code == 0, out
    _assert_fits(out)
    assert "models:/churn/1  (READY)" in out
    assert "x: double" in out  # the signature
    assert "0.9123" in out  # the run's metric, whole
    assert f"registered runs:/{mv.run_id}" in out  # lineage upstream
    code, out = _run(["models", "show", "churn", "--format", "csv"])
    assert out.splitlines()[0].startswith("name,version,status,aliases")


def test_alias_set_and_delete(backend: str, log_model: Callable[..., str]) -> None:
    loopml.register_model(log_model(), "churn")
    code, out = _run(["models", "alias", "churn", "champion", "1"])
    assert code == 0 and "champion → models:/churn/1" in out
    code, out = _run(["models", "alias", "churn", "champion", "--delete"])
    assert code == 0 and "removed champion of churn" in out
    assert loopml.get_model_version("churn", 1).aliases == ()


def test_archive_and_delete(backend: str, log_model: Callable[..., str]) -> None:
    loopml.register_model(log_model(), "churn")
    loopml.register_model(log_model(), "churn")
    code, out = _run(["models", "archive", "churn/1"])
    assert code == 0 and "archived models:/churn/1" in out
    code, out = _run(["models", "delete", "churn/2"])
    assert code == 0 and "deleted models:/churn/2" in out
    assert [v.version for v in loopml.search_model_versions()] == [1]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["models", "show", "nope"], "no registered model 'nope'"),
        (["models", "show", "churn/9"], "has no version 9"),
        (["models", "show", "churn@gone"], "has no alias 'gone'"),
        (["models", "promote", "churn/1", "--to", "qa"], "unknown environment 'qa'"),
        (["models", "promote", "churn", "--to", "prod"], "expected NAME/VERSION"),
        (["models", "alias", "churn", "champion"], "which version should"),
        (["models", "register", "runs:/abcdef/model", "churn"], "no run"),
        (["models", "register", "not-a-uri", "churn"], "malformed run URI"),
        (["models", "history", "churn", "--env", "qa"], "unknown environment 'qa'"),
        (["models", "list", "--filter", "metrics.x > 1"], "unknown field"),
    ],
)
def test_bad_input_is_one_error_line(
    backend: str,
    log_model: Callable[..., str],
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from loopml.cli import main

    loopml.register_model(log_model(), "churn")
    with pytest.raises(SystemExit) as exit_:
        main(args)
    assert exit_.value.code == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and message in " ".join(err.split()), err
    assert [v.version for v in loopml.search_model_versions()] == [1]
    assert loopml.model_history("churn") == []


def test_show_still_works_when_the_run_behind_a_version_is_purged(
    backend: str, log_model: Callable[..., str]
) -> None:
    mv = loopml.register_model(log_model(), "churn")
    loopml.tracking.delete_run(mv.run_id)
    loopml.gc(dry_run=False)
    code, out = _run(["models", "show", "churn/1"])
    assert code == 0, out
    assert f"run {mv.run_id}: removed" in " ".join(out.split())
