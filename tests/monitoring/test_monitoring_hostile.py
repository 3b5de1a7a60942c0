"""Hostile inputs and a tampered store: a monitor keeps computing what it can, says what
it could not, and a damaged record is a clear error with a way out, never a crash or a
silent wrong result."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import loopml
from loopml.context import current
from loopml.monitoring import WindowStatus
from loopml.predictions import PredictionLogger, PredictionRecord

from .conftest import START, Served, churn_frame


def _tamper(sql: str, params: tuple[Any, ...] = ()) -> None:
    current().metadata.write(lambda conn: conn.execute(sql, params).close())


def test_text_in_one_numeric_input_leaves_drift_of_every_column_computed(
    served: Served,
) -> None:
    frame = churn_frame(300, seed=21)
    predicted = served.model.predict(frame[["tenure", "charges"]])
    with PredictionLogger("churn") as log:
        for i, row in enumerate(frame.itertuples(index=False)):
            log.log(
                PredictionRecord(
                    f"m-{i}",
                    # a third of tenure is text: the column comes back as text
                    inputs={"tenure": "n/a" if i % 3 == 0 else row.tenure, "charges": row.charges},
                    prediction="unknown" if i % 3 == 0 else int(predicted[i]),
                    model_name="churn",
                    model_version=1,
                    latency_ms=5.0,
                    timestamp=START + timedelta(seconds=i),
                )
            )
    loopml.monitoring.add_monitor("churn")
    (window,) = loopml.monitoring.run_monitors(now=START + timedelta(hours=1)).windows

    m = window.metrics
    assert window.status == WindowStatus.OK
    assert m["data.type_error_rate"] > 0  # the text is counted as a type error...
    assert m["drift.charges"] < 0.1  # ...and the clean column is still checked
    assert "drift.tenure" in m and m["drift_share"] == 0.5  # a third missing: drifted
    assert "prediction_drift" in m
    assert not any("could not be computed" in n for n in window.details["notes"])
