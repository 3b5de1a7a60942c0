"""Reading the stored rows of rollouts and their analyses, defensively.

A row is read column by column, each checked against what it should hold (a known
strategy and status, steps and policy that parse as JSON and are in range, a step
inside the steps, numbers that are numbers). The first column that fails makes
:class:`~loopml.errors.CorruptRecord`, naming the record, the column, the value
(shortened) and what to do; nothing downstream meets a bare ``JSONDecodeError``,
``ValueError`` or ``IndexError``.

``rollout(row, lenient=True)`` reads what it can instead, the unreadable columns at
neutral values (a strategy of ``replace``, no steps, the default policy), and lists the
columns it could not read: for the record of an unreadable rollout that is being
aborted, which has no other way to be shown.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any, TypeVar

from loopml._validate import shown
from loopml.deployments._records import (
    Analysis,
    AnalysisCheck,
    Rollout,
    RolloutPolicy,
    RolloutStatus,
    Strategy,
    Verdict,
)
from loopml.errors import CorruptRecord, LoopmlError

__all__ = ["analysis", "rollout", "unreadable"]

T = TypeVar("T")
_FINISHED = {s.value for s in RolloutStatus if s.finished}
_ROLLOUT_STRATEGIES = [s for s in Strategy if s is not Strategy.REPLACE]


class _Bad(Exception):
    """Why one column's value cannot be read."""


def _whole(low: int, high: int = 2**63 - 1) -> Callable[[Any], int]:
    def read(value: Any) -> int:
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise _Bad("not a whole number")
        if not low <= value <= high:
            raise _Bad(f"not from {low} to {high}")
        return value

    return read


def _seconds(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise _Bad("not a number")
    if not math.isfinite(value):
        raise _Bad("not a finite number")
    return float(value)


def _optional(read: Callable[[Any], T]) -> Callable[[Any], T | None]:
    return lambda value: None if value is None else read(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad("not text")
    return value


def _json(value: Any) -> Any:
    if not isinstance(value, str):
        raise _Bad("not JSON text")
    try:
        return json.loads(value)
    except (ValueError, RecursionError) as exc:
        raise _Bad(f"not JSON: {str(exc)[:80]}") from None


def _strategy(value: Any) -> Strategy:
    if value not in [s.value for s in _ROLLOUT_STRATEGIES]:
        raise _Bad(f"not one of {', '.join(s.value for s in _ROLLOUT_STRATEGIES)}")
    return Strategy(value)


def _status(value: Any) -> RolloutStatus:
    if value not in [s.value for s in RolloutStatus]:
        raise _Bad(f"not one of {', '.join(s.value for s in RolloutStatus)}")
    return RolloutStatus(value)


def _verdict(value: Any) -> Verdict:
    if value not in [v.value for v in Verdict]:
        raise _Bad(f"not one of {', '.join(v.value for v in Verdict)}")
    return Verdict(value)


def _steps(value: Any) -> tuple[int, ...]:
    steps = _json(value)
    if not isinstance(steps, list):
        raise _Bad("not a list of percents")
    read = _whole(1, 100)
    try:
        return tuple(read(s) for s in steps)
    except _Bad:
        raise _Bad("not a list of whole percents from 1 to 100") from None


def _policy(value: Any) -> RolloutPolicy:
    values = _json(value)
    if not isinstance(values, dict):
        raise _Bad("not a table of thresholds")
    try:
        return RolloutPolicy.from_dict(values)
    except (LoopmlError, TypeError) as exc:
        raise _Bad(str(exc).rstrip(".")) from None


def _checks(value: Any) -> list[AnalysisCheck]:
    checks = _json(value)
    if not isinstance(checks, list):
        raise _Bad("not a list of checks")
    try:
        return [AnalysisCheck.from_dict(c) for c in checks]
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise _Bad(f"a check does not read: {type(exc).__name__} {str(exc)[:60]}") from None


class _Row:
    """One stored row read column by column: the first failing column raises
    :class:`CorruptRecord` (``what(column, value, why)`` words it), or, ``lenient``, is
    listed in ``bad`` and read as its default."""

    def __init__(
        self, row: tuple[Any, ...], what: Callable[[str, Any, str], str], lenient: bool
    ) -> None:
        self.row = row
        self.what = what
        self.lenient = lenient
        self.bad: list[str] = []

    def __call__(self, index: int, column: str, read: Callable[[Any], T], default: T) -> T:
        value = self.row[index]
        try:
            return read(value)
        except _Bad as why:
            self.fail(column, value, str(why))
            return default

    def fail(self, column: str, value: Any, why: str) -> None:
        if not self.lenient:
            raise CorruptRecord(self.what(column, value, why))
        self.bad.append(column)


def _rollout_problem(row: tuple[Any, ...]) -> Callable[[str, Any, str], str]:
    name = str(row[1])
    status = row[3]
    if status in _FINISHED:
        hint = (
            f"It is over ({status}) and routes no traffic; while it is the deployment's "
            f"latest rollout, loopml deployments abort {name} makes the deployment let go "
            "of it."
        )
    else:
        hint = (
            f"Abort it: loopml deployments abort {name} (until then servers answer with the "
            "version the deployment's own record names)."
        )

    def what(column: str, value: Any, why: str) -> str:
        return (
            f"rollout:/{row[0]} of deployment {name!r} cannot be read: its {column} is "
            f"{shown(value)} ({why}). {hint}"
        )

    return what


def rollout(row: tuple[Any, ...], *, lenient: bool = False) -> Rollout:
    """The rollout of a ``rollouts`` row (its columns in the repository's order);
    :class:`CorruptRecord` when a column cannot be read (see the module docstring for
    ``lenient``)."""
    return _read_rollout(row, lenient)[0]


def unreadable(row: tuple[Any, ...]) -> list[str]:
    """The columns of a ``rollouts`` row that cannot be read (none: it reads)."""
    return _read_rollout(row, True)[1]


def _read_rollout(row: tuple[Any, ...], lenient: bool) -> tuple[Rollout, list[str]]:
    read = _Row(row, _rollout_problem(row), lenient)
    strategy = read(2, "strategy", _strategy, Strategy.REPLACE)
    no_steps: tuple[int, ...] = ()
    steps = read(9, "steps", _steps, no_steps)
    step = read(10, "step", _whole(0), 0)
    if strategy is Strategy.CANARY and not 0 <= step < len(steps):
        read.fail("step", step, f"a canary of {len(steps)} steps has no step {step + 1}")
        step = 0
    found = Rollout(
        id=int(row[0]),
        deployment=str(row[1]),
        strategy=strategy,
        status=read(3, "status", _status, RolloutStatus.ABORTED),
        primary_model=read(4, "primary_model", _text, ""),
        primary_version=read(5, "primary_version", _whole(1), 0),
        candidate_model=read(6, "candidate_model", _text, ""),
        candidate_version=read(7, "candidate_version", _whole(1), 0),
        candidate_uri=read(8, "candidate_uri", _text, ""),
        steps=steps,
        step=step,
        interval=read(11, "interval_seconds", _seconds, 0.0),
        split=read(12, "split", _whole(0, 100), 0),
        sticky=read(13, "sticky", _optional(_text), None),
        policy=read(14, "policy", _policy, RolloutPolicy()),
        reason=read(15, "reason", _optional(_text), None),
        user=read(16, "user", _optional(_text), None),
        created_at=read(17, "created_at", _seconds, 0.0),
        updated_at=read(18, "updated_at", _seconds, 0.0),
        step_started_at=read(19, "step_started_at", _optional(_seconds), None),
        finished_at=read(20, "finished_at", _optional(_seconds), None),
        finish_reason=read(21, "finish_reason", _optional(_text), None),
        environment=read(22, "environment", _optional(_text), None),
    )
    return found, read.bad


def analysis(row: tuple[Any, ...]) -> Analysis:
    """The analysis of a ``rollout_analyses`` row; :class:`CorruptRecord` naming it when a
    column cannot be read."""

    def what(column: str, value: Any, why: str) -> str:
        return (
            f"analysis {row[0]} of rollout:/{row[1]} cannot be read: its {column} is "
            f"{shown(value)} ({why}). The rollout's own record is not affected; restore "
            "the row from a backup of the metadata database to read the analyses again."
        )

    read = _Row(row, what, lenient=False)
    return Analysis(
        verdict=read(3, "verdict", _verdict, Verdict.NOT_YET),
        checks=read(4, "checks", _checks, []),
        counts={
            "primary": read(5, "primary_count", _whole(0), 0),
            "candidate": read(6, "candidate_count", _whole(0), 0),
        },
        step=read(2, "step", _whole(0), 0),
        created_at=read(7, "created_at", _seconds, 0.0),
        rollout_id=int(row[1]),
        id=int(row[0]),
    )
