"""The optuna study behind a tuning run, in this process or in a Ray actor.

The study hands out trials (``ask``), hears intermediate values and says
whether to prune (``report``), and takes results (``tell``). Trials from
earlier runs of a study are added back when it is continued.
"""

from __future__ import annotations

import math
from typing import Any

from loopml.pipelines.tuning._space import Distribution, optuna_distributions, suggest

__all__ = ["RemoteStudy", "StudyServer"]


class StudyServer:
    """The optuna study: hands out trials, hears intermediate values, takes results."""

    def __init__(
        self,
        direction: str,
        sampler: str,
        pruner: str,
        seed: int | None,
        space: dict[str, Distribution],
        previous: list[tuple[dict[str, Any], float | None, str]],
    ) -> None:
        import optuna

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        chosen = (
            optuna.samplers.RandomSampler(seed=seed)
            if sampler == "random"
            else optuna.samplers.TPESampler(seed=seed)
        )
        prune = optuna.pruners.MedianPruner() if pruner == "median" else optuna.pruners.NopPruner()
        self.space = space
        self.study = optuna.create_study(
            direction="maximize" if direction == "maximize" else "minimize",
            sampler=chosen,
            pruner=prune,
        )
        dists = optuna_distributions(space)
        states = {
            "COMPLETE": optuna.trial.TrialState.COMPLETE,
            "PRUNED": optuna.trial.TrialState.PRUNED,
        }
        for params, value, state in previous:
            if state not in states or set(params) != set(dists):
                continue
            self.study.add_trial(
                optuna.trial.create_trial(
                    params=params,
                    distributions=dists,
                    value=value if state == "COMPLETE" else None,
                    state=states[state],
                )
            )
        self.trials: dict[int, Any] = {}

    def ask(self) -> tuple[int, dict[str, Any]]:
        trial = self.study.ask()
        self.trials[trial.number] = trial
        return trial.number, suggest(trial, self.space)

    def report(self, number: int, value: float, step: int) -> bool:
        trial = self.trials[number]
        if not math.isfinite(value):
            return False
        trial.report(value, step)
        return bool(trial.should_prune())

    def tell(self, number: int, state: str, value: float | None) -> None:
        import optuna

        trial = self.trials.pop(number)
        if state == "COMPLETE":
            self.study.tell(trial, value)
        elif state == "PRUNED":
            self.study.tell(trial, state=optuna.trial.TrialState.PRUNED)
        else:
            self.study.tell(trial, state=optuna.trial.TrialState.FAIL)


class RemoteStudy:
    """A :class:`StudyServer` living in a Ray actor, called synchronously."""

    def __init__(self, ray: Any, handle: Any) -> None:
        self.ray = ray
        self.handle = handle

    def ask(self) -> tuple[int, dict[str, Any]]:
        return self.ray.get(self.handle.ask.remote())

    def report(self, number: int, value: float, step: int) -> bool:
        return self.ray.get(self.handle.report.remote(number, value, step))

    def tell(self, number: int, state: str, value: float | None) -> None:
        self.ray.get(self.handle.tell.remote(number, state, value))
