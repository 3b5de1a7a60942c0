"""What tuning hands back: a :class:`Study` and its :class:`Trial` records."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml import _files, _validate
from loopml._enum import StrEnum
from loopml.errors import NotFound
from loopml.pipelines.tuning._space import Distribution

__all__ = ["Study", "Trial", "TrialOutcome", "TrialState"]


class TrialState(StrEnum):
    """How a trial ended, in optuna's words (a trial is more than its pipeline run: a run
    that finished without logging the metric, or logged NaN or an infinity, is a FAIL).
    The values are what the database stores; a trial stored RUNNING by a tuner that died
    is read back as FAIL."""

    RUNNING = "RUNNING"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAIL = "FAIL"


@dataclass(frozen=True)
class TrialOutcome:
    """How one trial's pipeline run went, as the trial loop records it."""

    state: TrialState
    run_id: str | None = None
    value: float | None = None
    error: str | None = None
    duration: float | None = None


@dataclass
class Trial:
    """One trial: its number, :class:`TrialState`, the parameters it tried (dotted keys),
    its value, and its pipeline run."""

    number: int
    state: TrialState
    params: dict[str, Any]
    value: float | None
    run_id: str | None
    duration: float | None = None
    error: str | None = field(default=None, repr=False)


@dataclass
class Study:
    """A tuning study: what was tuned, how, and every trial so far."""

    name: str
    pipeline: str
    metric: str
    direction: str
    space: dict[str, Distribution]
    run_id: str | None = None
    trials: list[Trial] = field(default_factory=list)

    @property
    def best_trial(self) -> Trial:
        """The completed trial with the best value."""
        done = [t for t in self.trials if t.state == TrialState.COMPLETE and t.value is not None]
        if not done:
            states = ", ".join(f"{t.number}: {t.state.value}" for t in self.trials) or "none"
            raise NotFound(
                f"study {self.name!r} has no completed trial (trials {states}). Look at a "
                "failed trial's pipeline run for its error, or run more trials."
            )
        pick = max if self.direction == "maximize" else min
        return pick(done, key=lambda t: t.value if t.value is not None else math.nan)

    @property
    def best_params(self) -> dict[str, Any]:
        return dict(self.best_trial.params)

    @property
    def best_value(self) -> float | None:
        return self.best_trial.value

    def write_best(self, path: str | os.PathLike[str] = "params.yaml") -> Path:
        """Merge the best trial's parameters into ``path`` (a params.yaml, created when
        missing), atomically; returns the path."""
        import yaml

        from loopml.pipelines._params import read_params_yaml

        target = _validate.path(path, "path")
        data: dict[str, Any] = read_params_yaml(target) or {}
        for key, value in self.best_params.items():
            node = data
            *parents, last = key.split(".")
            for part in parents:
                child = node.get(part)
                if not isinstance(child, dict):
                    child = node[part] = {}
                node = child
            node[last] = value
        return _files.write_text(target, yaml.safe_dump(data, sort_keys=False), "parameters file")

    def params_set_in_config(self) -> list[str]:
        """Those of the best trial's parameters that ``[params]`` of ``loopml.toml`` also
        sets: they win over ``params.yaml``, so :meth:`write_best` alone would not change
        what the next run uses."""
        from loopml.context import current
        from loopml.pipelines._params import flatten

        table = flatten(current().settings.params)
        return [k for k in self.best_params if k in table]
