"""``loopml evaluate`` and ``loopml models card``: figures, deltas, reports, bad input."""

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
    assert out.err.startswith("error: "), out.err
    return " ".join(out.err.split())


@pytest.fixture
def holdout(churn: Any, project: Path) -> str:
    churn.to_csv(project / "holdout.csv", index=False)
    return loopml.add_dataset("holdout.csv", name="holdout").uri


@pytest.fixture
def second(churn: Any, churn_model: str) -> str:
    """``models:/churn/2``: a weaker model on tenure alone (charges ignored)."""
    from sklearn.linear_model import LogisticRegression

    features = churn[["tenure", "charges"]]
    clf = LogisticRegression().fit(features.assign(charges=0.0), churn["churned"])
    with loopml.start_run():
        info = loopml.log_model(clf, input_example=features.head())
    return loopml.register_model(info.uri, "churn").uri


def test_evaluate_prints_the_figures_by_the_names_gates_use(churn_model: str, holdout: str) -> None:
    code, out, err = _run(
        [
            "evaluate",
            churn_model,
            "--data",
            holdout,
            "--target",
            "churned",
            "--slice",
            "region",
            "--sensitive",
            "sex",
            "--format",
            "json",
        ]
    )
    assert code == 0, err
    rows = {r["metric"]: r["value"] for r in json.loads(out)}
    [ev] = loopml.evaluation.list_evaluations("churn", 1)
    assert ev.dataset == holdout and ev.uri in err  # the headline goes to stderr with json
    assert rows["metrics.f1"] == pytest.approx(ev.metrics["f1"])
    for region in ("north", "south", "east"):
        assert rows[f"slices.region.{region}.f1"] == pytest.approx(
            ev.slices["region"][region]["f1"]
        )
    assert rows["fairness.sex.demographic_parity_difference"] == pytest.approx(
        ev.fairness["sex"]["demographic_parity_difference"]
    )
    assert {"latency.p99_ms", "importance.tenure", "importance.charges"} <= set(rows)
    code, out, _ = _run(["evaluate", churn_model, "--data", holdout, "--target", "churned"])
    assert code == 0 and "metrics.roc_auc" in out
    assert all(len(line) <= 80 for line in out.splitlines())


def test_against_champion_evaluates_both_on_the_same_data_and_prints_deltas(
    churn_model: str, second: str, holdout: str, project: Path
) -> None:
    loopml.set_alias("churn", "champion", 1)
    report = project / "vs.html"
    code, out, err = _run(
        [
            *("evaluate", second, "--data", holdout, "--target", "churned"),
            *("--against", "champion", "--html", str(report), "--format", "json"),
        ]
    )
    assert code == 0, err
    champ, cand = loopml.evaluation.list_evaluations("churn")[:2]  # newest first
    assert (cand.version, champ.version) == (2, 1)
    assert cand.data_digest == champ.data_digest
    rows = {r["metric"]: r for r in json.loads(out)}
    f1 = rows["metrics.f1"]
    assert f1["candidate"] == pytest.approx(cand.metrics["f1"])
    assert f1["champion"] == pytest.approx(champ.metrics["f1"])
    assert f1["delta"] == pytest.approx(cand.metrics["f1"] - champ.metrics["f1"])
    assert f1["better"] == ("better" if f1["delta"] > 0 else "worse")
    assert "Metrics against the champion" in report.read_text(encoding="utf-8")
    # in the table: at 80 columns, the deltas in a Rich table
    loopml.promote_model("churn", 1, to="prod")
    code, out, _ = _run(
        [
            *("evaluate", second, "--data", holdout, "--target", "churned"),
            *("--against", "champion", "--env", "prod"),
        ]
    )
    assert code == 0, out
    lines = out.splitlines()
    assert lines[0].startswith("evaluation:/") and "champion evaluation:/" in out
    assert any(line.split()[:1] == ["metrics.f1"] for line in lines)
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if line.startswith("metric"))
    assert header.split()[:4] == ["metric", "candidate", "champion", "delta"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--target", "churned", "--against", "champion"], "model 'churn' has no champion"),
        (["--target", "churned", "--against", "champion", "--env", "prod"], "under 'prod'"),
        (["--target", "churned", "--env", "prod"], "use it with --against champion"),
        (["--target", "label"], "target column 'label' is not in the evaluation data"),
        (["--target", "churned", "--slice", "zone"], "slice column 'zone' is not in"),
        (["--target", "churned", "--sensitive", "gender"], "sensitive column 'gender'"),
        (["--target", "churned", "--html", "nowhere/r.html"], "is not an existing folder"),
        (["--target", "churned", "--html", "."], "is a folder"),
    ],
)
def test_bad_input_is_one_error_line_and_stores_nothing(
    churn_model: str,
    holdout: str,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = _fail(["evaluate", churn_model, "--data", holdout, *args], capsys)
    assert message in err, err
    assert loopml.evaluation.list_evaluations() == []


def test_data_without_the_target_column_is_refused(
    churn: Any, churn_model: str, project: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    churn.drop(columns=["churned"]).to_csv(project / "unlabelled.csv", index=False)
    uri = loopml.add_dataset("unlabelled.csv", name="unlabelled").uri
    err = _fail(["evaluate", churn_model, "--data", uri, "--target", "churned"], capsys)
    assert "target column 'churned' is not in the evaluation data" in err
    err = _fail(["evaluate", churn_model, "--data", uri], capsys)
    assert "cannot tell the target column" in err
    assert loopml.evaluation.list_evaluations() == []


def test_the_model_card_gathers_evaluation_gates_training_and_history(
    churn: Any, churn_model: str, holdout: str, project: Path
) -> None:
    import re

    from loopml.context import current

    with loopml.start_run() as run:
        run.use_dataset(holdout)
        loopml.log_param("C", 1.0)
        loopml.log_metric("train_f1", 0.77)
        from sklearn.linear_model import LogisticRegression

        features = churn[["tenure", "charges"]]
        info = loopml.log_model(
            LogisticRegression(C=0.3).fit(features, churn["churned"]),
            input_example=features.head(),
        )
    v = loopml.register_model(info.uri, "churn", description="churn <b>model</b> of May")
    ev = loopml.evaluate(v.uri, holdout, target="churned", slices=["region"])
    loopml.promote_model("churn", v.version, to="staging", reason="first look")
    checks = [
        {
            "expression": "metrics.f1",
            "op": ">=",
            "threshold": 0.99,
            "value": ev.metrics["f1"],
            "status": "failed",
            "message": None,
        },
        {
            "expression": "latency.p99_ms",
            "op": "<=",
            "threshold": 20.0,
            "value": 1.0,
            "status": "passed",
            "message": None,
        },
    ]

    def tx(conn: Any) -> None:
        conn.execute(
            "INSERT INTO promotions (name, version, environment, status, champion_version, "
            'evaluation_id, checks, forced, reason, "user", created_at, decided_by, '
            "decided_at, decision_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                "churn",
                v.version,
                "prod",
                "FORCED",
                1,
                ev.id,
                json.dumps(checks),
                True,
                "hotfix for the outage",
                "ana",
                1.7e9,
                "bo",
                1.7e9 + 60,
                "signed off",
            ),
        )

    current().metadata.write(tx)
    code, out, err = _run(["models", "card", f"churn/{v.version}", "--output", "card.html"])
    assert code == 0, err
    assert "card.html" in out
    html = (project / "card.html").read_text(encoding="utf-8")
    text = re.sub(r"<script.*?</script>", "", html, flags=re.S)
    assert "churn &lt;b&gt;model&lt;/b&gt; of May" in text
    for expected in (
        f"Model card: churn v{v.version}",
        ev.uri,
        ">Slices<",
        "FORCED",
        "hotfix for the outage",
        "metrics.f1 &gt;= 0.99",
        "signed off",
        holdout,
        ">C<",
        "train_f1",
        "first look",
        f"runs:/{run.id}",
        ">Lineage (upstream)<",
    ):
        assert expected in text, expected
    assert html.count("Plotly.newPlot(") >= 4
    # the default path; a version never evaluated
    code, out, _ = _run(["models", "card", "churn/1"])
    assert code == 0 and (project / "churn-1-card.html").exists()
    page = (project / "churn-1-card.html").read_text(encoding="utf-8")
    assert "Not evaluated yet" in page and "No promotion through gates" in page


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["churn"], "Give NAME/VERSION or NAME@ALIAS"),
        (["churn/9"], "version 9"),
        (["churn@champion"], "no alias 'champion'"),
        (["churn/1", "--output", "no/such/dir/card.html"], "is not an existing folder"),
    ],
)
def test_model_card_bad_input_is_one_error_line(
    churn_model: str,
    project: Path,
    args: list[str],
    message: str,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert message in _fail(["models", "card", *args], capsys)
    assert not list(project.glob("*.html"))


def test_model_card_in_the_sdk_takes_a_models_uri(churn_model: str, project: Path) -> None:
    from loopml.errors import InvalidInput

    path = loopml.evaluation.model_card("models:/churn/1", project / "c.html")
    assert path == project / "c.html" and path.stat().st_size > 100_000
    with pytest.raises(InvalidInput, match="models:/NAME/VERSION"):
        loopml.evaluation.model_card("churn/1", project / "d.html")
