"""Every SQL statement of tuning: studies and their trials (``tuning_studies``,
``tuning_trials``)."""

from __future__ import annotations

import math
import random
import time
from typing import Any

import orjson

from loopml.errors import Conflict, NotFound
from loopml.pipelines.tuning._records import Trial, TrialState
from loopml.store.metadata import Connection, MetadataStore

__all__ = [
    "StudyRow",
    "add_trial",
    "finish_trial",
    "load_study_row",
    "load_trials",
    "mark_best",
    "open_study",
]

#: (name, pipeline, metric, direction, space JSON)
StudyRow = tuple[str, str, str, str, str]

_TRIAL_COLUMNS = "number, state, params, value, run_id, started_at, ended_at"
#: tries at a trial number before giving up (each clash means another tuner took one)
_ALLOCATION_ATTEMPTS = 100


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
    same metric, and return its trials. Two tuners opening a new study at once both
    succeed: the row is inserted only when missing."""
    row = {
        "name": name,
        "pipeline": pipeline,
        "metric": metric,
        "direction": direction,
        "space": space_json,
        "sampler": sampler,
        "created_at": time.time(),
    }

    def tx(conn: Connection) -> list[Trial]:
        conn.upsert("tuning_studies", [row], keys=("name",))
        found = conn.first(
            "SELECT pipeline, metric, direction FROM tuning_studies WHERE name = ?", (name,)
        )
        if found is not None and tuple(found) != (pipeline, metric, direction):
            raise Conflict(
                f"study {name!r} tunes pipeline {found[0]!r} for {found[2]} {found[1]!r}, not "
                f"{pipeline!r} for {direction} {metric!r}. Pick another study name to start "
                "a new study."
            )
        return _trials(conn, name)

    return meta.write(tx)


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


def add_trial(
    meta: MetadataStore, study: str, tuning_run: str, params: dict[str, Any], started: float
) -> int:
    """Store a new RUNNING trial under the study's next free number and return that number.

    The number is one past the largest stored, read and inserted in one
    transaction; when another tuner inserted the same number first, the
    insert clashes on the (study, number) key and is tried again. So trials
    are never numbered from memory, and no stored trial is ever overwritten.
    """
    text = orjson.dumps(params).decode()

    def tx(conn: Connection) -> int:
        number = int(
            conn.scalar(
                "SELECT COALESCE(MAX(number), -1) + 1 FROM tuning_trials WHERE study = ?",
                (study,),
            )
        )
        conn.execute(
            "INSERT INTO tuning_trials (study, number, tuning_run_id, state, params, "
            "started_at) VALUES (?, ?, ?, ?, ?, ?)",
            (study, number, tuning_run, TrialState.RUNNING.value, text, started),
        ).close()
        return number

    for attempt in range(1, _ALLOCATION_ATTEMPTS + 1):
        try:
            return meta.write(tx)
        except Conflict:
            if attempt == _ALLOCATION_ATTEMPTS:
                raise
            time.sleep(random.uniform(0, 0.002 * min(attempt, 50)))
    raise AssertionError("unreachable")  # pragma: no cover


def finish_trial(
    meta: MetadataStore,
    study: str,
    tuning_run: str,
    trial: Trial,
    started: float,
    ended: float,
) -> None:
    """Record how the trial this tuning run added (:func:`add_trial`) ended. Only that
    row is touched: a row of the number stored by another tuning run is never updated."""
    value = trial.value
    fields = (
        trial.run_id,
        trial.state.value,
        orjson.dumps(trial.params).decode(),
        value if value is None or math.isfinite(value) else None,
        started,
        ended,
    )

    def tx(conn: Connection) -> None:
        cur = conn.execute(
            "UPDATE tuning_trials SET run_id = ?, state = ?, params = ?, value = ?, "
            "started_at = ?, ended_at = ? WHERE study = ? AND number = ? AND tuning_run_id = ?",
            (*fields, study, trial.number, tuning_run),
        )
        updated = cur.rowcount
        cur.close()
        if updated == 0:  # the row went (removed by hand): store it again, or clash
            conn.execute(
                "INSERT INTO tuning_trials (run_id, state, params, value, started_at, "
                "ended_at, study, number, tuning_run_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (*fields, study, trial.number, tuning_run),
            ).close()

    meta.write(tx)


def load_trials(meta: MetadataStore, study: str) -> list[Trial]:
    """The study's stored trials, by number."""
    with meta.read() as conn:
        return _trials(conn, study)


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
