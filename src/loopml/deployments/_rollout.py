"""Rollouts: a candidate version moved onto a deployment by blue-green, canary, shadow
or A/B, then promoted, rolled back or aborted.

``deploy(name, strategy="canary", candidate="models:/churn/5")`` checks everything
before anything is recorded: the strategy's settings (steps, interval, split, sticky
key, policy), that the candidate passed the gates of the deployment's environment as a
candidate (``loopml models promote churn/5 --to prod --candidate``), that it is not
what the deployment serves, that its package loads, hash-checked, and answers its
input example, and that the deployment has no rollout in progress. Then, in one
transaction, the rollout is stored, the deployment points at it and holds the
candidate's package, and the change is recorded under a new generation, so a server
polling :func:`~loopml.deployments.changes_since` starts routing by it.

The deployment's environment is the alias it was deployed by
(``models:/churn@prod`` → ``prod``), else the one environment whose alias points at
the version it serves.

- :func:`promote_rollout`: the candidate becomes the deployment's version and the
  environment's alias moves to it (the candidate's promotion becomes PROMOTED), in
  one transaction.
- :func:`rollback`: traffic returns to the primary; the alias stays where it is
  (except after a blue-green flip, below).
- :func:`abort`: the same, recorded as ABORTED (stopped by a person, not judged).
- :func:`record_smoke_test`: a blue-green candidate's warm-up result, reported by a
  server. Passed: traffic flips to the candidate at once and the rollout is promoted
  (under ``approval = true`` it waits at 100 % for :func:`promote_rollout`). A server
  keeps the primary loaded after a flip, and :func:`rollback` flips the deployment
  back to it, as long as nothing was deployed since (the deployment holds both
  versions' packages meanwhile, so neither can be deleted or archived); the
  environment's alias returns, in the same transaction, to the version it pointed at
  before the promotion, unless it was moved off the candidate since. Failed: the
  rollout is ROLLED_BACK with the detail.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

from loopml import _validate
from loopml._user import current_user
from loopml.context import current
from loopml.deployments import _repository
from loopml.deployments._api import _config, _model, _name, _reason, deploy, loaded_package
from loopml.deployments._records import (
    Analysis,
    Deployment,
    Rollout,
    RolloutPolicy,
    RolloutStatus,
    Strategy,
)
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.uri import parse_model_uri, parse_rollout_uri

__all__ = [
    "abort",
    "get_rollout",
    "list_rollouts",
    "parse_interval",
    "parse_steps",
    "promote_rollout",
    "record_smoke_test",
    "rollback",
    "rollout_analyses",
    "start",
]

DEFAULT_STEPS = (5, 25, 50, 100)
DEFAULT_INTERVAL = 60.0
MIN_INTERVAL = 2.0
MAX_INTERVAL = 7 * 24 * 3600.0
DEFAULT_SPLIT = 50
_UNITS = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}
_INTERVAL = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")
_STICKY = re.compile(r"^(header|field):([A-Za-z0-9_.-]{1,128})$")


def parse_steps(value: str | Sequence[int] | None) -> tuple[int, ...]:
    """A canary's weight schedule: ``"5,25,50,100"`` or ``[5, 25, 50, 100]`` (the
    default), percents strictly increasing from 1 to 100, ending at 100, with at least
    one step below 100.

    Example::

        parse_steps("10, 50, 100")   # (10, 50, 100)
    """
    if value is None:
        return DEFAULT_STEPS
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",")]
        try:
            steps = [int(p) for p in parts]
        except ValueError:
            raise InvalidInput(
                f"steps must be whole percents separated by commas, e.g. '5,25,50,100'; got "
                f"{_validate.shown(value)}."
            ) from None
    elif isinstance(value, (list, tuple)) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        steps = list(value)
    else:
        raise InvalidInput(
            f"steps must be text like '5,25,50,100' or a list of whole percents, got "
            f"{_validate.shown(value)}."
        )
    shown = _validate.shown(value)
    bad = [s for s in steps if not 1 <= s <= 100]
    if bad:
        raise InvalidInput(f"steps {shown}: every step is a percent from 1 to 100, not {bad[0]}.")
    if any(b <= a for a, b in itertools.pairwise(steps)):
        raise InvalidInput(
            f"steps {shown} must increase strictly, e.g. '5,25,50,100': each step sends more "
            "traffic to the candidate than the one before."
        )
    if not steps or steps[-1] != 100:
        raise InvalidInput(
            f"steps {shown} must end at 100 (the candidate takes all traffic), e.g. '5,25,50,100'."
        )
    if len(steps) < 2:
        raise InvalidInput(
            f"steps {shown}: a canary needs a step below 100 to be analysed at, e.g. "
            "'10,100' (or use strategy blue_green to switch at once)."
        )
    return tuple(steps)


def parse_interval(value: str | float | None) -> float:
    """Seconds from ``45``, ``"45"``, ``"30s"``, ``"2m"`` or ``"1h"`` (the default: 60),
    at least 2 seconds and at most a week.

    Example::

        parse_interval("2m")   # 120.0
    """
    if value is None:
        return DEFAULT_INTERVAL
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (m := _INTERVAL.match(value)):
        seconds = float(m.group(1)) * _UNITS[m.group(2) or ""]
    else:
        raise InvalidInput(
            f"interval must be seconds (45) or text like '30s', '2m' or '1h', got "
            f"{_validate.shown(value)}."
        )
    if not MIN_INTERVAL <= seconds <= MAX_INTERVAL:  # NaN fails too
        raise InvalidInput(
            f"interval {_validate.shown(value)} is {seconds:g} seconds: give one from "
            f"{MIN_INTERVAL:g} seconds to a week (e.g. '30s')."
        )
    return seconds


def _split(value: Any) -> int:
    if value is None:
        return DEFAULT_SPLIT
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 99:
        raise InvalidInput(
            f"split must be the candidate's percent of traffic, a whole number from 1 to 99, "
            f"got {_validate.shown(value)}."
        )
    return value


def _sticky(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not _STICKY.match(value):
        raise InvalidInput(
            f"sticky must be 'header:NAME' (e.g. 'header:X-User') or 'field:NAME' (e.g. "
            f"'field:user_id'), got {_validate.shown(value)}."
        )
    return value


def _settings(
    kind: Strategy, steps: Any, interval: Any, split: Any, sticky: Any
) -> tuple[tuple[int, ...], float, int, str | None]:
    """The strategy's settings, checked; those another strategy takes are refused."""
    only = {"steps": (Strategy.CANARY, steps), "split": (Strategy.AB, split)}
    for key, (owner, value) in only.items():
        if value is not None and kind is not owner:
            raise InvalidInput(f"{key} belongs to the {owner} strategy, not {kind}.")
    if sticky is not None and kind is not Strategy.AB:
        raise InvalidInput(f"sticky belongs to the ab strategy, not {kind}.")
    return (
        parse_steps(steps) if kind is Strategy.CANARY else (),
        parse_interval(interval),
        _split(split) if kind is Strategy.AB else 0,
        _sticky(sticky),
    )


def _environment(name: str, model_name: str, version: int, model_uri: str) -> str:
    """The environment deployment ``name`` serves (``model_name`` v``version``, asked for
    as ``model_uri``): the alias it was deployed by, else the one environment whose alias
    points at its version."""
    from loopml import registry

    known = registry.environments()
    alias = parse_model_uri(model_uri).alias
    if alias in known:
        return str(alias)
    holding = []
    for env in known:
        try:
            if registry.get_model_version(model_name, alias=env).version == version:
                holding.append(env)
        except NotFound:
            continue
    if len(holding) == 1:
        return holding[0]
    which = "no environment" if not holding else f"several environments ({', '.join(holding)})"
    raise InvalidInput(
        f"deployment {name!r} serves {model_uri}, and {which} of {model_name} points at "
        f"v{version}: a rollout must know whose gates its candidate passed. Deploy it by its "
        f"environment's alias first: loopml deploy {name} --model "
        f"models:/{model_name}@<environment>."
    )


def _answers(model: Any, target: str, name: str) -> None:
    """The candidate answers its input example (when its package has one)."""
    example = (model.metadata or {}).get("input_example")
    if not example:
        return
    import pandas as pd

    try:
        model.predict(pd.DataFrame(example))
    except Exception as exc:  # the model's own error, whatever it is
        raise InvalidInput(
            f"{target} raised {type(exc).__name__} on its own input example, so no rollout "
            f"was started on {name!r}: {str(exc)[:200]}"
        ) from None


def start(
    name: str,
    model: str | None,
    kind: Strategy,
    *,
    candidate: str | None,
    steps: Any,
    interval: Any,
    split: Any,
    sticky: Any,
    policy: Any,
    reason: Any,
    config: Any,
) -> Deployment:
    """Start a ``kind`` rollout of ``candidate`` on deployment ``name`` (see the module
    docstring); returns the deployment, its ``rollout_id`` set."""
    from loopml import evaluation, registry

    name = _name(name)
    if candidate is None:
        raise InvalidInput(
            f"a {kind} rollout needs the candidate to roll out: candidate='models:/NAME/"
            "VERSION' (--candidate URI)."
        )
    wanted = _model(candidate)
    plan = _settings(kind, steps, interval, split, sticky)
    rules = RolloutPolicy.from_dict(policy)
    reason = _reason(reason)
    if config is not None:
        _config(config)
    meta = current().metadata
    existing = _repository.find(meta, name)
    if model is not None:
        asked = _model(model)
        primary = registry.get_model_version(str(asked))
        if existing is not None and (existing.model_name, existing.version) != (
            primary.name,
            primary.version,
        ):
            raise InvalidInput(
                f"deployment {name!r} serves {existing.version_uri}, not {primary.uri}: the "
                "primary of a rollout is the version the deployment serves. Give that model "
                "(or none), or deploy the primary first."
            )
        served = (primary.name, primary.version, str(asked))
    elif existing is None:
        raise NotFound(
            f"no deployment {name!r} to roll out on: give the primary too, e.g. "
            f"loopml deploy {name} --model models:/<model>@<environment> --strategy {kind} "
            "--candidate URI."
        )
    if existing is not None:
        served = (existing.model_name, existing.version, existing.model_uri)
        if config is not None and existing.config != _config(config):
            raise InvalidInput(
                f"config cannot change with a rollout: deploy {name!r} with the new config "
                "first, then start the rollout."
            )
        busy = _repository.active_rollout(meta, name)
        if busy is not None:
            raise _repository._busy_error(busy)
    version = registry.get_model_version(str(wanted))
    if version.status != registry.ModelStatus.READY:
        raise InvalidInput(
            f"{version.uri} is {str(version.status).lower()}: only a READY version is rolled out."
        )
    if (version.name, version.version) == served[:2]:
        raise InvalidInput(
            f"deployment {name!r} serves {version.uri} already: the candidate must be another "
            "version."
        )
    env = _environment(name, *served)
    if evaluation.candidate_promotion(version.name, version.version, env) is None:
        raise InvalidInput(
            f"{version.uri} has not passed the gates of {env} as a candidate: run loopml "
            f"models promote {version.name}/{version.version} --to {env} --candidate first "
            "(loopml.promote(..., candidate=True)). No rollout was started."
        )
    loaded, digests = loaded_package(version, name)
    _answers(loaded, version.uri, name)
    if existing is None:  # every check passed: the deployment starts with its primary
        assert model is not None
        existing = deploy(name, model, reason=reason, config=config)
    steps_, seconds, split_, sticky_ = plan
    status = RolloutStatus.PENDING if kind is Strategy.BLUE_GREEN else RolloutStatus.PROGRESSING
    values = {
        "strategy": kind.value,
        "status": status.value,
        "environment": env,
        "primary_model": existing.model_name,
        "primary_version": existing.version,
        "candidate_model": version.name,
        "candidate_version": version.version,
        "candidate_uri": str(wanted),
        "steps": steps_,
        "step": 0,
        "interval_seconds": seconds,
        "split": split_,
        "sticky": sticky_,
        "policy": rules,
        "reason": reason,
        "user": current_user(),
    }
    _repository.start_rollout(
        meta,
        name=name,
        expected=existing.generation,
        values=values,
        digests=digests,
        hold=lambda conn: registry.lock_version(conn, version.name, version.version),
    )
    return _repository.get(meta, name)


def get_rollout(id_or_deployment: int | str) -> Rollout:
    """Rollout ``id`` (a number or ``rollout:/<id>``), or a deployment's rollout by the
    deployment's name (its active one, else its newest); NotFound when there is none.

    Example::

        r = loopml.get_rollout("churn")
        r.status, r.weights     # (PROGRESSING, {'primary': 75, 'candidate': 25})
    """
    meta = current().metadata
    key = id_or_deployment
    if isinstance(key, str) and key.startswith("rollout:/"):
        key = parse_rollout_uri(key).id
    if isinstance(key, int) and not isinstance(key, bool):
        number = _validate.count(key, "rollout id", high=2**31 - 1)
        found = _repository.get_rollout(meta, number)
        if found is None:
            raise NotFound(
                f"no rollout {number}: loopml deployments status NAME shows a deployment's."
            )
        return found
    name = _name(key)
    _repository.get(meta, name)  # NotFound naming the deployments there are
    latest = _repository.latest_rollout(meta, name)
    if latest is None:
        raise NotFound(
            f"deployment {name!r} has had no rollout: start one with loopml deploy {name} "
            "--strategy canary --candidate URI."
        )
    return latest


def list_rollouts(deployment: str | None = None) -> list[Rollout]:
    """Every rollout (of ``deployment``), newest first.

    Example::

        [(r.uri, r.status) for r in loopml.deployments.list_rollouts("churn")]
    """
    name = None if deployment is None else _name(deployment)
    return _repository.list_rollouts(current().metadata, name)


def rollout_analyses(rollout_id: int | str) -> list[Analysis]:
    """The stored analyses of a rollout (its id, ``rollout:/<id>`` or a deployment's
    name, as :func:`get_rollout` takes), oldest first.

    Example::

        [(a.step, a.verdict) for a in loopml.deployments.rollout_analyses("churn")]
    """
    found = get_rollout(rollout_id)
    return _repository.analyses(current().metadata, found.id)


def promote(
    rollout: Rollout,
    *,
    reason: str | None,
    step: int | None = None,
    analysis: Analysis | None = None,
    now: float | None = None,
) -> Rollout:
    """Promote ``rollout`` (still at ``step`` when given): the deployment serves the
    candidate and, when the candidate's promotion still waits, the environment's alias
    moves to it, in one transaction. :class:`_repository.Stale` when the rollout moved
    meanwhile."""
    from loopml import evaluation

    kwargs: dict[str, Any] = {
        "user": current_user(),
        "reason": reason,
        "rollout_id": rollout.id,
        "step": step,
        "analysis": analysis,
        "now": now,
    }
    env = rollout.environment
    if env is not None and evaluation.candidate_promotion(
        rollout.candidate_model, rollout.candidate_version, env
    ):
        made: list[Rollout] = []
        evaluation.complete_candidate(
            rollout.candidate_model,
            rollout.candidate_version,
            env,
            reason=f"{rollout.uri} promoted" + (f": {reason}" if reason else ""),
            on_move=lambda conn: made.append(
                _repository.promote_in(conn, rollout.deployment, **kwargs)
            ),
        )
        return made[-1]
    if env is not None:  # its promotion was superseded meanwhile: say so, move nothing
        note = f"{env} not moved: {rollout.candidate} is no longer a candidate for {env}"
        kwargs["reason"] = f"{reason} ({note})" if reason else note
    return _repository.promote(current().metadata, rollout.deployment, **kwargs)


def _stale(name: str) -> Conflict:
    return Conflict(
        f"the rollout of deployment {name!r} was changed by someone else meanwhile; nothing "
        f"was changed by this call. See loopml deployments status {name}."
    )


def promote_rollout(name: str, *, reason: str | None = None) -> Rollout:
    """Promote deployment ``name``'s active rollout: its candidate becomes the
    deployment's version (history PROMOTE, a new generation) and the environment's alias
    moves to it; the rollout is PROMOTED. InvalidInput when there is no active rollout.

    Example::

        loopml.promote_rollout("churn", reason="the A/B test favours v5")
    """
    name = _name(name)
    reason = _reason(reason)
    found = _repository.active(current().metadata, name, "promote")
    try:
        return promote(found, reason=reason)
    except _repository.Stale:
        raise _stale(name) from None


def rollback(name: str, *, reason: str | None = None) -> Rollout:
    """Roll back deployment ``name``'s active rollout: traffic returns to the primary, the
    environment's alias stays where it is (a rollout that is not promoted never moved
    it), the rollout is ROLLED_BACK with ``reason``. A blue-green rollout that was
    promoted is flipped back the same way while the deployment serves its candidate;
    then, when the environment's alias still points at the candidate the promotion
    moved it to, it returns to the version it pointed at before, recorded in the
    model's history, in the same transaction as the flip-back. InvalidInput when there
    is no rollout to roll back.

    Example::

        loopml.rollback("churn", reason="p99 doubled on the dashboard")
    """
    name = _name(name)
    reason = _reason(reason)
    meta = current().metadata
    kwargs: dict[str, Any] = {"user": current_user(), "reason": reason, "flip_back": True}
    back = _repository.flippable(meta, name)
    if back is None:
        return _repository.finish(meta, name, RolloutStatus.ROLLED_BACK, **kwargs)
    kwargs["rollout_id"] = back.id
    try:
        target, note = _alias_before(back)
        if target is not None:
            try:
                return _flip_back_with_alias(back, target, kwargs)
            except _AliasStays as stays:
                note = str(stays)
        if note is not None:
            kwargs["reason"] = f"{reason} ({note})" if reason else note
        return _repository.finish(meta, name, RolloutStatus.ROLLED_BACK, **kwargs)
    except _repository.Stale:
        raise _stale(name) from None


class _AliasStays(Exception):
    """The environment's alias could not be moved back (the message says why)."""


def _alias_before(rollout: Rollout) -> tuple[int | None, str | None]:
    """Where the environment's alias returns to when promoted blue-green ``rollout`` is
    flipped back: the version it pointed at before the rollout's promotion moved it to
    the candidate, as long as it still points at the candidate. Else None, with a note
    saying why it stays (None when the rollout has no environment)."""
    from loopml import registry

    env = rollout.environment
    if env is None:
        return None, None
    model, version = rollout.candidate_model, rollout.candidate_version
    try:
        now_at: int | None = registry.get_model_version(model, alias=env).version
    except NotFound:
        now_at = None
    if now_at != version:
        shown = "nothing" if now_at is None else f"v{now_at}"
        return None, f"{env} not moved back: it points at {shown} now, not at {rollout.candidate}"
    moves = registry.model_history(model, env)
    last = moves[0] if moves else None
    if last is None or last.to_version != version or last.created_at < rollout.created_at:
        return None, f"{env} not moved back: {rollout.uri} did not move it"
    if last.from_version is None or last.from_version == version:
        return None, f"{env} not moved back: it pointed at nothing before {rollout.uri}"
    return last.from_version, None


def _flip_back_with_alias(rollout: Rollout, target: int, kwargs: dict[str, Any]) -> Rollout:
    """Flip promoted blue-green ``rollout`` back and move its environment's alias from the
    candidate back to ``target``, in one transaction; :class:`_AliasStays` when the
    alias could not move (it moved meanwhile, ``target`` is no longer READY), nothing
    being changed then."""
    from loopml import registry
    from loopml.errors import LoopmlError

    assert rollout.environment is not None
    made: list[Rollout] = []
    raised: list[BaseException] = []

    def on_move(conn: Any, transition: Any) -> None:
        made.clear()
        try:
            made.append(
                _repository.finish_in(conn, rollout.deployment, RolloutStatus.ROLLED_BACK, **kwargs)
            )
        except BaseException as exc:
            raised.append(exc)
            raise

    said = kwargs["reason"]
    try:
        registry.promote_model(
            rollout.candidate_model,
            target,
            to=rollout.environment,
            reason=f"{rollout.uri} rolled back" + (f": {said}" if said else ""),
            expected=rollout.candidate_version,
            on_move=on_move,
        )
    except LoopmlError as exc:
        if any(exc is e for e in raised):
            raise
        raise _AliasStays(
            f"{rollout.environment} not moved back to v{target}: {str(exc)[:200]}"
        ) from None
    return made[-1]


def abort(name: str, *, reason: str | None = None) -> Rollout:
    """Stop deployment ``name``'s active rollout: traffic returns to the primary, the
    rollout is ABORTED with ``reason``. InvalidInput when there is no active rollout.

    A rollout whose record cannot be read (:class:`~loopml.errors.CorruptRecord`) is
    aborted too: it is marked ABORTED (unless its status says it is over), the
    deployment keeps serving the version its own record names, lets go of the rollout
    when its row still cannot be read, and the abort is recorded; the rollout returned
    holds the columns that could be read (the others at neutral values) and its
    ``finish_reason`` names those that could not.

    Example::

        loopml.deployments.abort("churn", reason="wrong candidate")
    """
    name = _name(name)
    reason = _reason(reason)
    return _repository.finish(
        current().metadata, name, RolloutStatus.ABORTED, user=current_user(), reason=reason
    )


def record_smoke_test(
    name: str, rollout_id: int, *, passed: bool, detail: str | None = None
) -> Rollout:
    """What a server reports after warming blue-green rollout ``rollout_id`` of
    deployment ``name`` and predicting recorded requests (or the input example) with
    it. ``passed``: traffic flips to the candidate and the rollout is promoted (under
    ``approval = true`` for the environment it waits at 100 % for
    :func:`promote_rollout`). Not passed: ROLLED_BACK, with ``detail``. A rollout
    already decided is returned as it is, so every server may report.

    Example::

        loopml.deployments.record_smoke_test("churn", 7, passed=True, detail="20 requests")
    """
    from loopml import evaluation

    name = _name(name)
    if not isinstance(passed, bool):
        raise InvalidInput(f"passed must be True or False, got {_validate.shown(passed)}.")
    detail = _reason(detail)
    found = get_rollout(_validate.count(rollout_id, "rollout id", high=2**31 - 1))
    if found.deployment != name or found.strategy is not Strategy.BLUE_GREEN:
        raise InvalidInput(
            f"{found.uri} is a {found.strategy} rollout of deployment {found.deployment!r}: "
            f"a smoke test is reported for a blue_green rollout of {name!r}."
        )
    if found.status is not RolloutStatus.PENDING:
        return found
    meta = current().metadata
    said = "smoke test " + ("passed" if passed else "failed") + (f": {detail}" if detail else "")
    try:
        if not passed:
            return _repository.finish(
                meta,
                name,
                RolloutStatus.ROLLED_BACK,
                user=current_user(),
                reason=said,
                rollout_id=found.id,
            )
        if found.environment and evaluation.read_gates(found.environment).options.approval:
            return _repository.flip(meta, name, found.id, user=current_user(), reason=said)
        return promote(found, reason=said)
    except _repository.Stale:  # another server reported first
        return get_rollout(found.id)
