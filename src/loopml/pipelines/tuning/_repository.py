"""Every SQL statement of tuning: studies and their trials (``tuning_studies``,
``tuning_trials``)."""

from __future__ import annotations

import math
import time
from typing import Any

import orjson

from loopml.errors import Conflict, NotFound
from loopml.pipelines.tuning._records import Trial, TrialState
from loopml.store.metadata import Connection, MetadataStore

__all__ = ["StudyRow", "load_study_row", "mark_best", "open_study", "save_trial"]

#: (name, pipeline, metric, direction, space JSON)
StudyRow = tuple[str, str, str, str, str]

_TRIAL_COLUMNS = "number, state, params, value, run_id, started_at, ended_at"


def open_study(
    meta: MetadataStore,
    name: str,
    pipeline: str,
    metric: str,
    direction: str,
    space_json: str,
    sampler: str,
) -> list[Trial]:
    """Create the study's row, or check an existing one tunes the same pipeline for the
    same metric, and return its trials."""
    found: list[Trial] = []

    def tx(conn: Connection) -> None:
        found.clear()
        row = conn.first(
            "SELECT pipeline, metric, direction FROM tuning_studies WHERE name = ?", (name,)
        )
        if row is None:
            conn.execute(
                "INSERT INTO tuning_studies (name, pipeline, metric, direction, space, sampler, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (name, pipeline, metric, direction, space_json, sampler, time.time()),
            ).close()
            return
        if tuple(row) != (pipeline, metric, direction):
            raise Conflict(
                f"study {name!r} tunes pipeline {row[0]!r} for {row[2]} {row[1]!r}, not "
                f"{pipeline!r} for {direction} {metric!r}. Pick another study name to start "
                "a new study."
            )
        found.extend(_trials(conn, name))

    meta.write(tx)
    return found


def _trials(conn: Connection, name: str) -> list[Trial]:
    rows = conn.all(
        f"SELECT {_TRIAL_COLUMNS} FROM tuning_trials WHERE study = ? ORDER BY number", (name,)
    )
    return [
        Trial(
            int(number),
            TrialState.FAIL if state == TrialState.RUNNING else TrialState(state),
            orjson.loads(params),
            value,
            run_id,
            (ended - started) if ended else None,
        )
        for number, state, params, value, run_id, started, ended in rows
    ]


def save_trial(
    meta: MetadataStore,
    study: str,
    tuning_run: str,
    trial: Trial,
    started: float,
    ended: float | None,
) -> None:
    """Insert or update one trial's row."""
    value = trial.value
    row = {
        "study": study,
        "number": trial.number,
        "tuning_run_id": tuning_run,
        "run_id": trial.run_id,
        "state": trial.state.value,
        "params": orjson.dumps(trial.params).decode(),
        "value": value if value is None or math.isfinite(value) else None,
        "started_at": started,
        "ended_at": ended,
    }
    update = ("tuning_run_id", "run_id", "state", "params", "value", "started_at", "ended_at")
    meta.write(
        lambda conn: conn.upsert("tuning_trials", [row], keys=("study", "number"), update=update)
    )


def mark_best(meta: MetadataStore, study: str, number: int) -> None:
    """Record the study's best trial."""
    meta.write(
        lambda conn: conn.execute(
            "UPDATE tuning_studies SET best_trial = ? WHERE name = ?", (number, study)
        ).close()
    )


def load_study_row(meta: MetadataStore, name: str) -> tuple[StudyRow, list[Trial], str | None]:
    """The study's row, its trials, and the tuning run that started its latest trial."""
    with meta.read() as conn:
        row = conn.first(
            "SELECT name, pipeline, metric, direction, space FROM tuning_studies WHERE name = ?",
            (name,),
        )
        if row is None:
            known = conn.column("SELECT name FROM tuning_studies ORDER BY created_at DESC LIMIT 5")
            raise NotFound(
                f"no tuning study {name!r}; recent studies: {', '.join(known) or 'none'}."
            )
        trials = _trials(conn, name)
        last: Any = conn.scalar(
            "SELECT tuning_run_id FROM tuning_trials WHERE study = ? "
            "ORDER BY started_at DESC LIMIT 1",
            (name,),
        )
    return (row[0], row[1], row[2], row[3], row[4]), trials, last
