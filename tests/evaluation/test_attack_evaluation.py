"""Hostile data, models, stored records and paths against evaluate, its report, the model
card and reproduce: each is one clear loopml error (or a correct figure), never a
traceback from deep inside, and bad input stores nothing."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import loopml
from loopml.cli import app
from loopml.errors import CorruptObject

runner = CliRunner()


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


def _tamper(table: str, column: str, value: str, row_id: int) -> None:
    from loopml.context import current

    def tx(conn: Any) -> None:
        conn.execute(f"UPDATE {table} SET {column} = ? WHERE id = ?", (value, row_id)).close()

    current().metadata.write(tx)


@pytest.mark.parametrize(
    "stored",
    [
        "{not json",
        '"a string"',
        "[1, 2]",
        "null",
        '{"metrics": {"f1": "high"}}',
        '{"model_uri": "m", "manifest_digest": "d", "target": "t", "task": "classification", '
        '"rows": "many", "data_digest": "x", "metrics": {}}',
        '{"model_uri": "m", "manifest_digest": "d", "target": "t", "task": "classification", '
        '"rows": 3, "data_digest": "x", "metrics": {"f1": 0.5}, "worst_slices": {"c": 3}}',
        '{"model_uri": "m", "manifest_digest": "d", "target": "t", "task": "classification", '
        '"rows": 3, "data_digest": "x", "metrics": {}, "importance": {"a": {"mean": "x"}}}',
    ],
)
def test_a_tampered_stored_evaluation_is_corrupt_object_and_lineage_still_prints(
    churn_model: str, churn: Any, project: Path, stored: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ev = loopml.evaluate(churn_model, churn, target="churned", latency=False, importance=False)
    assert ev.id is not None
    _tamper("evaluations", "result", stored, ev.id)
    for read in (
        lambda: loopml.evaluation.get_evaluation(ev.id),  # type: ignore[arg-type]
        lambda: loopml.evaluation.list_evaluations("churn"),
        lambda: loopml.lineage.resolve(str(ev.uri)),
    ):
        with pytest.raises(CorruptObject, match=rf"evaluation:/{ev.id} is corrupt"):
            read()
    # the graph around it still prints, naming the node as corrupt
    graph = loopml.get_lineage(churn_model)
    assert graph.labels[str(ev.uri)].startswith("corrupt")
    done = runner.invoke(app, ["lineage", churn_model])
    assert done.exit_code == 0, done.output
    assert "corrupt" in done.output
    assert "is corrupt" in _fail(["lineage", str(ev.uri)], capsys)
    # the model card says so where the evaluation would be, and shows the rest
    pytest.importorskip("plotly")
    card = loopml.evaluation.model_card(churn_model, project / "card.html").read_text()
    assert "is corrupt" in card and "Environment history" in card


def test_a_tampered_stored_reproduction_is_corrupt_object(project: Path) -> None:
    from loopml.evaluation._reproduce import _from_row

    good = (1, "churn", 1, "r1", "r2", "REPRODUCED", 1e-6, '{"metrics": []}', "ok", "u", 1.0)
    assert _from_row(good).status == "REPRODUCED"
    for comparison in ("{not json", "[1]", '{"metrics": [{"metric": "f1", "original": "x"}]}'):
        with pytest.raises(CorruptObject, match="reproduction 1 of models:/churn/1 is corrupt"):
            _from_row((*good[:7], comparison, *good[8:]))
    with pytest.raises(CorruptObject):
        _from_row((*good[:5], "MAYBE", *good[6:]))
