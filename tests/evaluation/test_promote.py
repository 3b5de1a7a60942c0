"""``loopml.promote``: gates evaluated on declared data against the champion; every request
stored; refusals, overrides, approvals; the environment moves only when it may."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

import loopml
from loopml.errors import Conflict, GateFailed, InvalidInput, NotFound
from loopml.evaluation import GateStatus, PromotionStatus

pytest.importorskip("sklearn")
pytest.importorskip("skops")

STAGING = """
[gates.staging]
"metrics.accuracy" = ">= 0.7"
"metrics.accuracy - champion.metrics.accuracy" = ">= -0.01"
"slices.region.accuracy" = ">= 0.5"
"latency.p99_ms" = "<= 5000"

[gates.staging.options]
data = "data:/holdout"
target = "churned"
"""


def _frame(seed: int, n: int = 400) -> Any:
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "tenure": rng.uniform(0, 60, n),
            "charges": rng.uniform(20, 120, n),
            "region": rng.choice(["north", "south", "east"], n),
            "sex": rng.choice(["f", "m"], n),
        }
    )
    score = 0.05 * frame["charges"] - 0.08 * frame["tenure"] + rng.normal(0, 0.5, n)
    frame["churned"] = (score > 0).astype("int64")
    return frame


def _register(estimator: Any, train: Any) -> int:
    features = train[["tenure", "charges"]]
    estimator.fit(features, train["churned"])
    with loopml.start_run():
        info = loopml.log_model(estimator, input_example=features.head())
    return loopml.register_model(info.uri, "churn").version


@pytest.fixture
def models(backend: str, project: Path) -> dict[str, int]:
    """A holdout dataset and three versions of churn: v1 and v3 good, v2 a constant."""
    from sklearn.dummy import DummyClassifier
    from sklearn.linear_model import LogisticRegression

    holdout = project / "holdout.csv"
    _frame(1).to_csv(holdout, index=False)
    loopml.add_dataset(holdout, name="holdout")
    train = _frame(0, 800)
    return {
        "good": _register(LogisticRegression(), train),
        "weak": _register(DummyClassifier(strategy="constant", constant=0), train),
        "also_good": _register(LogisticRegression(C=0.5), train),
    }


def _toml(project: Path, text: str) -> None:
    (project / "loopml.toml").write_text(text)
    loopml.context.reset()


def _alias(env: str) -> int | None:
    try:
        return loopml.get_model_version("churn", alias=env).version
    except NotFound:
        return None


def test_a_passing_candidate_is_promoted_with_every_check_recorded(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, STAGING)
    done = loopml.promote("churn/1", to="staging")
    assert done.status == PromotionStatus.PROMOTED and done.moved
    assert [c.status for c in done.checks] == [
        GateStatus.PASSED,
        GateStatus.SKIPPED,  # no champion yet: skipped, not passed
        GateStatus.PASSED,
        GateStatus.PASSED,
    ]
    assert done.checks[0].value is not None and done.checks[0].value >= 0.7
    assert done.dataset == "data:/holdout@1" and done.champion_version is None
    assert _alias("staging") == 1
    (move,) = loopml.model_history("churn", "staging")
    assert move.id == done.transition_id and "gates: 3 passed, 1 skipped" in str(move.reason)
    (stored,) = loopml.evaluation.list_promotions("churn")
    assert stored == done
    evaluation = loopml.evaluation.get_evaluation(done.evaluation_id or 0)
    assert evaluation.version == 1 and evaluation.dataset == "data:/holdout@1"
    lineage = loopml.get_lineage("models:/churn/1", depth=1)
    below = {(c.uri, c.relation) for c in lineage.downstream.children}
    assert (f"promotion:/{done.id}", "promotion") in below
    assert loopml.lineage.resolve(f"promotion:/{done.id}") == done


def test_a_weak_candidate_is_refused_listing_every_failing_check(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, STAGING)
    loopml.promote("churn/1", to="staging")
    with pytest.raises(GateFailed) as exc:
        loopml.promote("churn/2", to="staging")
    message = str(exc.value)
    assert "\n" not in message
    assert "churn v2 → staging: refused, 3 failing check(s)" in message
    assert "metrics.accuracy >= 0.7" in message
    assert "metrics.accuracy - champion.metrics.accuracy >= -0.01" in message
    assert "slices.region.accuracy >= 0.5" in message
    refused = exc.value.promotion
    assert refused.status == PromotionStatus.REFUSED and refused.champion_version == 1
    assert [c.expression for c in refused.failures] == [
        "metrics.accuracy",
        "metrics.accuracy - champion.metrics.accuracy",
        "slices.region.accuracy",
    ]
    assert refused.champion_evaluation_id is not None
    assert _alias("staging") == 1  # nothing moved
    assert [p.status for p in loopml.evaluation.list_promotions("churn")] == [
        PromotionStatus.REFUSED,
        PromotionStatus.PROMOTED,
    ]


def test_a_champion_comparison_reads_both_evaluations_on_the_same_data(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, STAGING)
    first = loopml.promote("churn/1", to="staging")
    second = loopml.promote("models:/churn/3", to="staging")
    assert second.status == PromotionStatus.PROMOTED and second.champion_version == 1
    delta = second.checks[1]
    assert delta.status == GateStatus.PASSED and delta.value is not None
    candidate = loopml.evaluation.get_evaluation(second.evaluation_id or 0)
    champion = loopml.evaluation.get_evaluation(second.champion_evaluation_id or 0)
    assert delta.value == pytest.approx(
        candidate.metrics["accuracy"] - champion.metrics["accuracy"]
    )
    assert candidate.data_digest == champion.data_digest
    # the champion's evaluation of the first promotion was reused, not computed again
    assert second.champion_evaluation_id == first.evaluation_id
    assert _alias("staging") == 3


def test_a_stored_evaluation_of_the_same_package_and_data_is_reused(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, STAGING)
    for _ in range(2):
        with pytest.raises(GateFailed):
            loopml.promote("churn/2", to="staging")
    first, second = loopml.evaluation.list_promotions("churn", 2)
    assert first.evaluation_id == second.evaluation_id
    assert len(loopml.evaluation.list_evaluations("churn", 2)) == 1


def test_force_needs_a_reason_and_is_recorded_with_the_failing_checks(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, STAGING)
    with pytest.raises(InvalidInput, match="force=True needs a reason"):
        loopml.promote("churn/2", to="staging", force=True)
    assert loopml.evaluation.list_promotions("churn") == []
    forced = loopml.promote("churn/2", to="staging", force=True, reason="hotfix, see INC-12")
    assert forced.status == PromotionStatus.FORCED and forced.forced
    assert [c.expression for c in forced.failures] == [
        "metrics.accuracy",
        "slices.region.accuracy",
    ]
    assert forced.reason == "hotfix, see INC-12"
    assert _alias("staging") == 2
    assert loopml.model_history("churn", "staging")[0].reason == "hotfix, see INC-12"


def test_an_environment_without_gates_promotes_as_before(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, STAGING)
    done = loopml.promote("churn", to="dev", version=2, reason="try it")
    assert done.status == PromotionStatus.PROMOTED and done.checks == ()
    assert done.dataset is None and done.evaluation_id is None
    assert _alias("dev") == 2
    assert loopml.evaluation.list_evaluations() == []
    again = loopml.promote("churn@dev", to="dev")  # already there: recorded, nothing moves
    assert again.status == PromotionStatus.PROMOTED and again.transition_id == done.transition_id
    assert len(loopml.model_history("churn", "dev")) == 1


APPROVAL = """
[gates.prod]
"metrics.accuracy" = ">= 0.7"

[gates.prod.options]
data = "data:/holdout"
target = "churned"
approval = true
"""


def test_approval_holds_a_passing_candidate_until_someone_approves(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, APPROVAL)
    waiting = loopml.promote("churn/1", to="prod")
    assert waiting.status == PromotionStatus.PENDING_APPROVAL and not waiting.moved
    assert _alias("prod") is None
    assert "waiting for approval" in waiting.message
    approved = loopml.approve("churn/1", to="prod", reason="looked at the slices")
    assert approved.id == waiting.id and approved.status == PromotionStatus.APPROVED
    assert approved.decided_by and approved.decided_at is not None
    assert approved.decision_reason == "looked at the slices"
    assert _alias("prod") == 1
    assert loopml.model_history("churn", "prod")[0].id == approved.transition_id
    with pytest.raises(InvalidInput, match="not pending approval for prod .is APPROVED."):
        loopml.approve("churn/1", to="prod")


def test_a_second_request_for_one_version_supersedes_the_first(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, APPROVAL)
    first = loopml.promote("churn/1", to="prod")
    second = loopml.promote("churn/1", to="prod")
    assert first.status == second.status == PromotionStatus.PENDING_APPROVAL
    older = loopml.evaluation.get_promotion(first.id)
    assert older.status == PromotionStatus.REJECTED
    assert older.decision_reason == f"superseded by promotion:/{second.id}"
    assert loopml.approve("churn/1", to="prod").id == second.id
    assert _alias("prod") == 1


def test_a_rejected_candidate_never_moves(models: dict[str, int], project: Path) -> None:
    _toml(project, APPROVAL)
    loopml.promote("churn/3", to="prod")
    rejected = loopml.reject("churn/3", to="prod", reason="not this quarter")
    assert rejected.status == PromotionStatus.REJECTED and rejected.decided_by
    assert _alias("prod") is None
    with pytest.raises(InvalidInput, match="not pending approval for prod .is REJECTED."):
        loopml.approve("churn/3", to="prod")


def test_approving_a_version_that_is_not_pending_is_one_line(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, APPROVAL)
    with pytest.raises(InvalidInput) as exc:
        loopml.approve("churn/1", to="prod")
    assert str(exc.value).startswith(
        "churn v1 is not pending approval for prod (was never promoted there)"
    )
    assert "\n" not in str(exc.value) and _alias("prod") is None


def test_an_approval_whose_champion_moved_since_is_a_conflict(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, APPROVAL)
    loopml.promote("churn/3", to="prod")
    loopml.promote_model("churn", 1, to="prod", reason="moved by hand meanwhile")
    with pytest.raises(Conflict, match="prod of churn moved since v3 was checked against"):
        loopml.approve("churn/3", to="prod")
    assert _alias("prod") == 1
    (pending,) = [
        p for p in loopml.evaluation.list_promotions("churn", 3) if p.status == "PENDING_APPROVAL"
    ]
    assert pending.decided_by is None


def test_force_skips_the_approval_and_says_so(models: dict[str, int], project: Path) -> None:
    _toml(project, APPROVAL)
    forced = loopml.promote("churn/1", to="prod", force=True, reason="incident rollback")
    assert forced.status == PromotionStatus.FORCED and forced.failures == []
    assert _alias("prod") == 1


def test_a_metric_nobody_computed_is_a_recorded_failed_check(
    models: dict[str, int], project: Path
) -> None:
    from sklearn.svm import LinearSVC

    _register(LinearSVC(), _frame(0, 800))  # v4: no predict_proba, so no roc_auc
    _toml(
        project,
        '[gates.staging]\n"metrics.roc_auc" = ">= 0.6"\n"fairness.gender.'
        'demographic_parity_difference" = "<= 0.2"\n"slices.city.accuracy" = ">= 0.5"\n'
        '[gates.staging.options]\ndata = "data:/holdout"\ntarget = "churned"\n',
    )
    with pytest.raises(GateFailed) as exc:
        loopml.promote("churn/4", to="staging")
    failures = exc.value.promotion.failures
    assert [c.expression for c in failures] == [
        "metrics.roc_auc",
        "fairness.gender.demographic_parity_difference",
        "slices.city.accuracy",
    ]
    assert "the model has no predict_proba" in str(failures[0].message)
    assert "column 'gender': it is not in the evaluation data" in str(failures[1].message)
    assert "column 'city'" in str(failures[2].message)
    assert _alias("staging") is None


def test_an_importance_gate_reads_the_permutation_importance(
    models: dict[str, int], project: Path
) -> None:
    _toml(
        project,
        '[gates.staging]\n"importance.tenure" = ">= 0.01"\n"importance.charges" = ">= 0.01"\n'
        '[gates.staging.options]\ndata = "data:/holdout"\ntarget = "churned"\n',
    )
    done = loopml.promote("churn/1", to="staging")
    evaluation = loopml.evaluation.get_evaluation(done.evaluation_id or 0)
    assert [c.value for c in done.checks] == [
        pytest.approx(evaluation.importance["tenure"]["mean"]),
        pytest.approx(evaluation.importance["charges"]["mean"]),
    ]
    card = loopml.evaluation.model_card("models:/churn/1", project / "card.html")
    html = Path(card).read_text()
    assert "importance.tenure" in html and "PROMOTED" in html


def test_fairness_on_a_column_of_the_data_is_checked(models: dict[str, int], project: Path) -> None:
    _toml(
        project,
        '[gates.staging]\n"fairness.sex.demographic_parity_difference" = "<= 0.5"\n'
        '[gates.staging.options]\ndata = "data:/holdout"\ntarget = "churned"\n',
    )
    done = loopml.promote("churn/1", to="staging")
    (check,) = done.checks
    assert check.status == GateStatus.PASSED and check.value is not None
    evaluation = loopml.evaluation.get_evaluation(done.evaluation_id or 0)
    assert check.value == pytest.approx(evaluation.fairness["sex"]["demographic_parity_difference"])


@pytest.mark.parametrize(
    ("toml", "call", "error", "message"),
    [
        (STAGING, {"to": "production"}, InvalidInput, "unknown environment 'production'"),
        (
            STAGING.replace('metrics.accuracy"', 'metrics.acuracy"', 1),
            {"to": "staging"},
            InvalidInput,
            "unknown metric 'acuracy'",
        ),
        (
            STAGING.replace('target = "churned"', 'target = "label"'),
            {"to": "staging"},
            InvalidInput,
            "the target column 'label' is not in the evaluation data",
        ),
        (
            STAGING.replace("data:/holdout", "data:/no-such-data"),
            {"to": "staging"},
            NotFound,
            "no-such-data",
        ),
        (STAGING, {"to": "staging", "force": "yes"}, InvalidInput, "force must be True or False"),
    ],
)
def test_bad_input_is_one_line_and_leaves_everything_where_it_was(
    models: dict[str, int],
    project: Path,
    toml: str,
    call: dict[str, Any],
    error: type[Exception],
    message: str,
) -> None:
    _toml(project, toml.replace("[gates.staging]", "[models]\n\n[gates.staging]"))
    with pytest.raises(error) as exc:
        loopml.promote("churn/1", **call)
    assert message in str(exc.value) and "\n" not in str(exc.value)
    assert _alias("staging") is None
    assert loopml.evaluation.list_promotions("churn") == []
    assert loopml.evaluation.list_evaluations() == []  # failed before evaluating


def test_labels_of_another_kind_than_the_predictions_are_one_line(
    models: dict[str, int], project: Path
) -> None:
    text = _frame(2, 50).assign(churned=lambda f: f["churned"].map({0: "stay", 1: "leave"}))
    text.to_csv(project / "text.csv", index=False)
    loopml.add_dataset(project / "text.csv", name="text-labels")
    _toml(project, STAGING.replace("data:/holdout", "data:/text-labels"))
    with pytest.raises(InvalidInput) as exc:
        loopml.promote("churn/1", to="staging")
    first_label = text["churned"].iloc[0]
    assert str(exc.value).startswith(
        f"the target column 'churned' holds text ({first_label!r}) but the model predicts numbers"
    )
    assert loopml.evaluation.list_promotions("churn") == [] and _alias("staging") is None


def test_a_bad_model_reference_is_one_line(models: dict[str, int], project: Path) -> None:
    _toml(project, STAGING)
    with pytest.raises(InvalidInput, match="which version of 'churn'"):
        loopml.promote("churn", to="staging")
    with pytest.raises(NotFound, match="has no version 9"):
        loopml.promote("churn/9", to="staging")
    with pytest.raises(InvalidInput, match="malformed model reference"):
        loopml.promote("churn/1/2", to="staging")
    with pytest.raises(InvalidInput, match="names its version already"):
        loopml.promote("churn/1", to="staging", version=2)
    loopml.archive_model_version("churn", 2)
    with pytest.raises(InvalidInput, match="churn v2 is archived"):
        loopml.promote("churn/2", to="staging")
    assert loopml.evaluation.list_promotions("churn") == []


VALIDATED = """
[gates.staging]
"metrics.accuracy" = ">= 0.7"

[gates.staging.options]
data = "data:/holdout"
target = "churned"
require_validation = true
"""


def test_require_validation_fails_without_a_stored_validation(
    models: dict[str, int], project: Path
) -> None:
    _toml(project, VALIDATED)
    with pytest.raises(GateFailed) as exc:
        loopml.promote("churn/1", to="staging")
    (check,) = exc.value.promotion.failures
    assert check.expression == "validation.errors"
    assert "data:/holdout@1 has no stored validation" in str(check.message)


def test_require_validation_reads_the_stored_result_or_validates_with_the_suite(
    models: dict[str, int], project: Path
) -> None:
    from loopml.validation import Suite, expect_column_values_between, expect_columns

    strict = Suite([expect_column_values_between("tenure", 0, 10)], name="strict")
    loopml.validate("data:/holdout@1", strict)  # stored: it fails
    _toml(project, VALIDATED)
    with pytest.raises(GateFailed) as exc:
        loopml.promote("churn/1", to="staging")
    (check,) = exc.value.promotion.failures
    assert check.value == 1.0 and "FAILED" in str(check.message)

    # a suite named in the options validates data that has no stored result
    (project / "data2.csv").write_text((project / "holdout.csv").read_text())
    loopml.add_dataset(project / "data2.csv", name="other")
    Suite([expect_columns(["tenure", "churned"])], name="ok").save(project / "ok.suite.json")
    _toml(
        project,
        VALIDATED.replace("data:/holdout", "data:/other") + 'suite = "ok.suite.json"\n',
    )
    done = loopml.promote("churn/1", to="staging")
    assert done.checks[0].expression == "validation.errors" and done.checks[0].passed
    assert done.dataset == "data:/other@1"
    validated = [e for e in loopml.lineage.downstream("data:/other@1") if e.relation == "validated"]
    assert len(validated) == 1


def test_two_promotions_at_once_leave_one_winner(
    models: dict[str, int], project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from loopml.evaluation import _promote

    _toml(project, STAGING)
    loopml.promote("churn/1", to="staging")  # evaluate both once, so the race is short
    loopml.promote("churn/3", to="staging")
    loopml.promote_model("churn", 1, to="staging", reason="back")
    both_checked = threading.Barrier(2, timeout=30)
    decide = _promote._decide

    def checked_then_wait(*args: Any) -> Any:
        both_checked.wait()
        return decide(*args)

    monkeypatch.setattr(_promote, "_decide", checked_then_wait)
    client = loopml.Client()
    outcomes: dict[int, object] = {}

    def promote(version: int) -> None:
        try:
            outcomes[version] = client.promote(
                f"churn/{version}", to="staging", force=True, reason=f"race {version}"
            )
        except Conflict as exc:
            outcomes[version] = exc

    threads = [threading.Thread(target=promote, args=(v,)) for v in (2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    conflicts = [o for o in outcomes.values() if isinstance(o, Conflict)]
    assert len(conflicts) == 1, outcomes
    winner = next(v for v, o in outcomes.items() if not isinstance(o, Conflict))
    assert _alias("staging") == winner
    races = [p for p in client.list_promotions("churn") if str(p.reason).startswith("race")]
    assert [p.version for p in races] == [winner]  # the loser recorded nothing


# -- the CLI ----------------------------------------------------------------------------


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> Any:
    """Run ``loopml ARGS`` at 80 columns: (exit code, stdout, stderr)."""
    from loopml.cli import _output, main

    monkeypatch.setattr(_output.console, "_width", 80)
    monkeypatch.setattr(_output.err_console, "_width", 80)

    def run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = 0
        try:
            main(list(args))
        except SystemExit as exc:
            code = int(exc.code or 0)
        out, err = capsys.readouterr()
        for line in (out + err).splitlines():
            assert len(line) <= 80, line
        return code, out, err

    return run


def test_cli_promote_prints_every_check_and_exits_1_when_refused(
    models: dict[str, int], project: Path, cli: Any
) -> None:
    _toml(project, STAGING)
    code, out, err = cli("models", "promote", "churn/1", "--to", "staging")
    assert code == 0, err
    header = out.splitlines()[0].split()
    assert header[:2] == ["check", "value"] and "threshold" in header and "status" in header
    assert "metrics.accuracy" in out and "skipped" in out and "passed" in out
    assert "staging of churn: nothing → v1 (PROMOTED: 3 of 4 checks passed, 1 skipped)" in " ".join(
        out.split()
    )

    code, out, err = cli("models", "promote", "churn/2", "--to", "staging")
    assert code == 1
    assert out.count("failed") == 3  # the table lists each failing check
    assert err.startswith("error: churn v2 → staging: refused, 3 failing check(s)")
    assert "Traceback" not in err
    assert _alias("staging") == 1

    code, out, err = cli("models", "promote", "churn/2", "--to", "staging", "--format", "json")
    import json

    rows = json.loads(out)
    assert [r["status"] for r in rows] == ["failed", "failed", "failed", "passed"]
    assert set(rows[0]) == {"check", "value", "op", "threshold", "status", "message"}

    code, out, err = cli(
        "models", "promote", "churn/2", "--to", "staging", "--force", "--reason", "hotfix"
    )
    assert code == 0, err
    assert "FORCED past 3 failing check(s): hotfix" in " ".join(out.split())
    assert _alias("staging") == 2


def test_cli_approve_reject_and_history(models: dict[str, int], project: Path, cli: Any) -> None:
    _toml(project, APPROVAL)
    code, out, err = cli("models", "promote", "churn/1", "--to", "prod")
    assert code == 0 and "waiting for approval" in " ".join(out.split()), err
    code, out, err = cli("models", "approve", "churn/1", "--to", "prod", "--reason", "ok")
    assert code == 0 and "prod of churn: nothing → v1 (APPROVED by" in " ".join(out.split())
    cli("models", "promote", "churn/3", "--to", "prod")
    code, out, err = cli("models", "reject", "churn/3", "--to", "prod")
    assert code == 0 and "rejected by" in out
    code, out, err = cli("models", "approve", "churn/3", "--to", "prod")
    assert code == 1 and err.startswith("error: churn v3 is not pending approval for prod")
    cli("models", "promote", "churn/2", "--to", "prod")  # refused: accuracy too low
    code, out, err = cli("models", "history", "churn", "--format", "json")
    import json

    rows = json.loads(out)
    assert [(r["to"], r["status"]) for r in rows] == [
        (2, "REFUSED"),
        (3, "REJECTED"),
        (1, "APPROVED"),
    ]
    assert rows[0]["from"] == 1 and rows[0]["checks"] == "0 passed, 1 failed"
    code, out, err = cli("models", "history", "churn")
    assert code == 0 and "REFUSED" in out and "APPROVED" in out
    loopml.promote_model("churn", 3, to="dev")
    code, out, err = cli("models", "history", "churn", "--env", "dev", "--format", "json")
    assert [r["status"] for r in json.loads(out)] == ["MOVED"]


def test_cli_promote_to_an_unknown_environment_is_one_line(
    models: dict[str, int], project: Path, cli: Any
) -> None:
    _toml(project, STAGING)
    code, out, err = cli("models", "promote", "churn/1", "--to", "qa")
    assert code == 1 and out == ""
    assert err.startswith("error: unknown environment 'qa': expected one of dev, staging, prod")
    assert loopml.evaluation.list_promotions("churn") == []
