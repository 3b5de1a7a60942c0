"""The rollout controller: one tick, safe to call from every worker of every host.

``control(name, owner=...)`` is meant to be called about once a second by each
process serving the deployment. It does nothing unless the deployment has an active
canary, shadow or A/B rollout and ``owner`` holds the rollout's lease: a
compare-and-set on the rollout's row that takes it when it is free or expired and
renews it when it is the owner's already (it lasts three intervals, at least 5 and
at most 30 seconds). So one owner analyses at a time, and when it dies (a server
killed in the middle of a canary) another takes over once the lease expires and
resumes from the step the store records.

The holder reads the prediction log of the current window (a canary's: since its
step started; a shadow's or A/B test's: since the rollout started) split by the
``variant`` column (``primary``, and ``candidate`` or ``shadow``) and analyses it
(:func:`~loopml.deployments.analyze`):

- before the window's interval has passed, it acts only on an early failure: a
  candidate with ``min_requests`` requests whose error rate fails is judged at once
  (:func:`~loopml.deployments.early_look` on each variant's outcomes, which an
  :class:`~loopml.predictions.OutcomeCounter` sums file by file, each file once);
- PASS: a canary moves to its next step (history STEP with the weight); passing the
  step before 100 % promotes it (the environment's alias moves) unless the
  environment's gates say ``approval = true``: then it moves to 100 % and waits,
  PROGRESSING, for :func:`~loopml.deployments.promote_rollout` by a person. A shadow
  or A/B test is never promoted by the controller: its analyses are recorded, one an
  interval, until a person decides;
- FAIL: the analysis is recorded; once ``failure_limit`` analyses have failed the
  rollout is ROLLED_BACK with the failing checks as its reason (else the step's window
  starts again);
- NOT_YET: recorded (one row a window, replaced as it grows) and judged again every
  fifth of an interval (at least a second) as the window grows; nothing moves, however
  long it takes.
- the log cannot be read (a damaged file, or one that is not the log's, in its
  folder): nothing can be judged, so the rollout is ROLLED_BACK, failing safe, with the
  reading error as its reason.

Every change is compare-and-set on the rollout's status and step, so two owners (a
lease that expired while its holder was still analysing) never move a rollout twice.
"""

from __future__ import annotations

import contextlib
import threading
import time
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from loopml import _validate
from loopml.context import current
from loopml.deployments import _repository, _rollout
from loopml.deployments._analysis import analyze, early_look
from loopml.deployments._api import _name
from loopml.deployments._records import Analysis, Rollout, RolloutStatus, Strategy, Verdict
from loopml.errors import CorruptObject

__all__ = ["control", "lease_seconds"]

_CUMULATIVE = (Strategy.SHADOW, Strategy.AB)
_VARIANT = {Strategy.SHADOW: "shadow"}


def lease_seconds(interval: float) -> float:
    """How long a controller's lease lasts for a rollout analysed every ``interval``
    seconds."""
    return max(5.0, min(3 * interval, 30.0))


def _when(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=timezone.utc)


def _approval(rollout: Rollout) -> bool:
    from loopml import evaluation

    if rollout.environment is None:
        return False
    return bool(evaluation.read_gates(rollout.environment).options.approval)


_counters: dict[tuple[str, str, int], tuple[threading.Lock, Any]] = {}
_counters_lock = threading.Lock()


def _counter(rollout: Rollout) -> tuple[threading.Lock, Any]:
    """This process's counter of the rollout's outcomes: it sums each file of the log
    once, so a tick costs the files written since the last one, however long the window
    has grown."""
    from loopml import predictions

    key = (current().artifacts.uri, rollout.deployment, rollout.id)
    with _counters_lock:
        found = _counters.get(key)
        if found is None:
            for other in [k for k in _counters if k[:2] == key[:2]]:
                del _counters[other]  # an earlier rollout of the deployment
            found = (threading.Lock(), predictions.OutcomeCounter(rollout.deployment))
            _counters[key] = found
        return found


def _rows(rollout: Rollout, start: float, end: float) -> tuple[object, object]:
    from loopml import predictions

    frame = predictions.read_predictions(
        rollout.deployment, start=_when(start), end=_when(end), with_feedback=True
    )
    if frame.empty or "variant" not in frame.columns:
        return frame, frame
    other = _VARIANT.get(rollout.strategy, "candidate")
    return frame[frame["variant"] == "primary"], frame[frame["variant"] == other]


def _early(rollout: Rollout, start: float) -> Analysis:
    """The look at a window still open: the variants' outcomes alone."""
    lock, counter = _counter(rollout)
    with lock:
        found = counter.since(_when(start))
    none = (0, 0, 0)
    other = _VARIANT.get(rollout.strategy, "candidate")
    return early_look(found.get("primary", none), found.get(other, none), rollout.policy)


def _why(rollout: Rollout, analysis: Analysis) -> str:
    failing = "; ".join(c.detail or c.name for c in analysis.failures)
    at = f" at {rollout.weight} %" if rollout.strategy is Strategy.CANARY else ""
    return f"analysis failed{at} ({analysis.counts['candidate']} candidate requests): {failing}"


def control(name: str, *, owner: str, now: float | None = None) -> Analysis | None:
    """One tick of deployment ``name``'s rollout controller, as ``owner`` (a name unique
    to the calling process, e.g. ``f"{host}:{pid}"``); ``now`` (seconds since the epoch)
    defaults to the clock. Returns the analysis it stored, or None when it stored none
    (no active rollout, another owner holds the lease, the window is still open).

    Example::

        import os, socket
        me = f"{socket.gethostname()}:{os.getpid()}"
        loopml.deployments.control("churn", owner=me)   # about once a second
    """
    name = _name(name)
    owner = _validate.text(owner, "owner")
    at = time.time() if now is None else float(now)
    meta = current().metadata
    rollout = _repository.active_rollout(meta, name)
    if rollout is None or rollout.strategy is Strategy.BLUE_GREEN:
        return None
    if rollout.strategy is Strategy.CANARY and rollout.weight == 100:
        return None  # waiting at 100 % for a person (approval = true)
    if not _repository.take_lease(meta, rollout.id, owner, at, lease_seconds(rollout.interval)):
        return None
    started = rollout.step_started_at or rollout.created_at
    if rollout.strategy in _CUMULATIVE:
        # judged on everything since the start once an interval; in between, only the
        # current interval's rows are read, for an early failure
        opened = max(started, _repository.last_analysis_at(meta, rollout.id) or started)
        due = at >= opened + rollout.interval
        since = rollout.created_at if due else opened
    else:
        due = at >= started + rollout.interval
        if due:  # a window judged NOT_YET is judged again as it grows, not every tick
            last = _repository.last_analysis_at(meta, rollout.id)
            if last is not None and last >= started + rollout.interval:
                due = at >= last + max(1.0, rollout.interval / 5)
        since = started
    try:
        if due:
            primary, candidate = _rows(rollout, since, at)
            analysis = analyze(
                primary, candidate, rollout.policy, ab=rollout.strategy is Strategy.AB
            )
        else:
            # before the window ends only a failing error rate acts: latency and
            # distributions are judged on the whole window, not its first noisy seconds
            analysis = _early(rollout, since)
            if analysis.verdict is not Verdict.FAIL:
                return None
    except CorruptObject as exc:
        _unjudgeable(rollout, exc, at)
        return None
    analysis = replace(analysis, step=rollout.step, created_at=at, rollout_id=rollout.id)
    try:
        _act(rollout, analysis, at)
    except _repository.Stale:  # another owner moved it meanwhile
        return None
    return analysis


def _unjudgeable(rollout: Rollout, exc: CorruptObject, at: float) -> None:
    """The prediction log cannot be read (a file in it is damaged, or not the log's): the
    candidate cannot be judged, so traffic goes back to the primary, with the reason."""
    with contextlib.suppress(_repository.Stale):  # another owner moved it meanwhile
        _repository.finish(
            current().metadata,
            rollout.deployment,
            RolloutStatus.ROLLED_BACK,
            user=None,
            reason=f"the prediction log cannot be read, so the candidate cannot be judged: {exc}",
            rollout_id=rollout.id,
            step=rollout.step,
            now=at,
        )


def _act(rollout: Rollout, analysis: Analysis, at: float) -> None:
    meta = current().metadata
    if analysis.verdict is Verdict.FAIL:
        failed = _repository.failures(meta, rollout.id) + 1
        window = _repository.window_of(rollout)
        if failed >= rollout.policy.failure_limit:
            _repository.finish(
                meta,
                rollout.deployment,
                RolloutStatus.ROLLED_BACK,
                user=None,
                reason=_why(rollout, analysis),
                rollout_id=rollout.id,
                step=rollout.step,
                analysis=analysis,
                now=at,
                window=window,
            )
            return
        _repository.keep(
            meta, rollout.id, rollout.step, analysis, now=at, new_window=True, window=window
        )
        return
    if analysis.verdict is Verdict.NOT_YET or rollout.strategy in _CUMULATIVE:
        _repository.keep(meta, rollout.id, rollout.step, analysis, now=at, new_window=False)
        return
    passed = f"analysis passed at {rollout.weight} % ({analysis.counts['candidate']} requests)"
    following = rollout.steps[rollout.step + 1]
    if following == 100 and not _approval(rollout):
        _rollout.promote(rollout, reason=passed, step=rollout.step, analysis=analysis, now=at)
        return
    _repository.advance(meta, rollout.id, rollout.step, analysis, user=None, reason=passed, now=at)
