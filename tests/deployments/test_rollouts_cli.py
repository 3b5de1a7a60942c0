"""``loopml deploy --strategy ...``, ``loopml models promote --candidate`` and ``loopml
deployments promote | rollback | abort | status`` with a rollout."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.deployments.test_rollouts_control import _traffic
from typer.testing import CliRunner

import loopml
from loopml.cli import app
from loopml.deployments import RolloutStatus, control


def _run(args: list[str]) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, args, env={"COLUMNS": "200"}, terminal_width=200)
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


def test_a_canary_from_the_command_line(
    versions: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(["deploy", "churn", "--model", "models:/churn@prod"])
    assert code == 0
    line = _fail(
        ["deploy", "churn", "--strategy", "canary", "--candidate", "models:/churn/2"], capsys
    )
    assert "loopml models promote churn/2 --to prod --candidate" in line
    code, out, _ = _run(["models", "promote", "churn/2", "--to", "prod", "--candidate"])
    assert code == 0 and "passed as a candidate" in out
    assert loopml.registry.get_model_version("churn", alias="prod").version == 1
    line = _fail(
        [
            "deploy",
            "churn",
            "--strategy",
            "canary",
            "--candidate",
            "models:/churn/2",
            "--policy",
            "min_request=3",
        ],
        capsys,
    )
    assert "unknown rollout policy key 'min_request'" in line
    line = _fail(
        [
            "deploy",
            "churn",
            "--strategy",
            "canary",
            "--candidate",
            "models:/churn/2",
            "--policy",
            "oops",
        ],
        capsys,
    )
    assert "--policy 'oops' is not KEY=VALUE" in line
    code, out, err = _run(
        [
            "deploy",
            "churn",
            "--strategy",
            "canary",
            "--candidate",
            "models:/churn/2",
            "--steps",
            "10,50,100",
            "--interval",
            "10s",
            "--policy",
            "min_requests=5",
            "--reason",
            "try v2",
        ]
    )
    assert code == 0, err
    r = loopml.get_rollout("churn")
    assert f"started canary {r.uri} on churn: models:/churn/2 takes 10 %" in out
    assert (r.steps, r.interval, r.policy.min_requests) == ((10, 50, 100), 10.0, 5)

    _traffic(r.step_started_at + 1, n=10)
    assert control("churn", owner="cli", now=r.step_started_at + 11) is not None
    code, out, _ = _run(["deployments", "status", "churn"])
    assert code == 0
    assert f"{r.uri}  canary (PROGRESSING)" in out
    assert "primary 50 %, candidate 50 %" in out and "10 → (50) → 100 %" in out
    assert "min_requests=5" in out
    assert "analysis of step 1 at 10 %: PASS" in out
    assert "error_rate" in out and "latency_p99" in out
    code, out, _ = _run(["deployments", "status", "churn", "--format", "json"])
    rows = json.loads(out)
    assert [(x["action"], x["weight"]) for x in rows][:2] == [("STEP", 50), ("ROLLOUT", 10)]

    code, out, _ = _run(["deployments", "promote", "churn", "--reason", "good"])
    assert code == 0 and "PROMOTED; it serves models:/churn/2" in out
    assert loopml.registry.get_model_version("churn", alias="prod").version == 2
    line = _fail(["deployments", "rollback", "churn"], capsys)
    assert "has no active rollout to roll back" in line


@pytest.mark.parametrize(
    ("verb", "status"), [("rollback", RolloutStatus.ROLLED_BACK), ("abort", RolloutStatus.ABORTED)]
)
def test_rollback_and_abort_from_the_command_line(
    served: list[Any], verb: str, status: RolloutStatus
) -> None:
    code, out, err = _run(
        [
            "deploy",
            "churn",
            "--strategy",
            "ab",
            "--candidate",
            "models:/churn/2",
            "--split",
            "20",
            "--sticky",
            "header:X-User",
        ]
    )
    assert code == 0, err
    code, out, _ = _run(["deployments", "status", "churn"])
    assert "20 %, sticky by header:X-User" in out and "primary 80 %, candidate 20 %" in out
    code, out, _ = _run(["deployments", verb, "churn", "--reason", "enough"])
    assert code == 0 and f"{status}; it serves models:/churn/1" in out
    assert loopml.get_rollout("churn").finish_reason == "enough"


def test_root_help_lists_the_deployments_verbs() -> None:
    code, out, _ = _run(["--help"])
    assert code == 0 and "decide a rollout: list, status, delete, sync, promote, rollback" in out
    code, out, _ = _run(["deployments", "--help"])
    for verb in ("promote", "rollback", "abort"):
        assert verb in out


def test_an_unreadable_rollout_is_one_error_line_and_abort_recovers(
    served: list[Any], capsys: pytest.CaptureFixture[str]
) -> None:
    from loopml.context import current

    loopml.deploy("churn", strategy="canary", candidate="models:/churn/2")
    r = loopml.get_rollout("churn")
    current().metadata.write(
        lambda conn: conn.execute(
            "UPDATE rollouts SET steps = ? WHERE id = ?", ("[5, 25", r.id)
        ).close()
    )
    code, out, err = _run(["deployments", "status", "churn"])
    assert code == 1 and "Traceback" not in out + err
    assert "deployments:/churn" in out and "models:/churn/1" in out  # the deployment, shown
    assert "ROLLOUT" in out  # and its history
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ")
    assert f"rollout:/{r.id} of deployment 'churn' cannot be read: its steps is '[5, 25'" in err
    code, out, err = _run(["deployments", "list"])
    assert code == 0 and "churn" in out and "models:/churn/1" in out, err
    line = _fail(["deploy", "churn", "--model", "models:/churn/2"], capsys)
    assert "loopml deployments abort churn" in line and "This deploy changed nothing" in line
    line = _fail(["deployments", "promote", "churn"], capsys)
    assert "cannot be read" in line
    code, out, err = _run(["deployments", "abort", "churn", "--reason", "broken"])
    assert code == 0, err
    assert f"rollout:/{r.id} of models:/churn/2 on churn: ABORTED; it serves models:/churn/1" in out
    code, out, err = _run(["deployments", "status", "churn"])
    assert code == 0 and err == "" and "ABORT" in out
    code, out, err = _run(["deploy", "churn", "--model", "models:/churn/2"])
    assert code == 0, err
