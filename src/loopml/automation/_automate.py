"""Continuous training: the triggers of loopml.toml → retrain → gates → rollout.

:func:`automate` checks every trigger once (``loopml automate --once``; the daemon
calls it every ``--interval`` seconds):

- a ``schedule`` trigger is due at the newest cron time (UTC) at or before now that
  comes after the trigger was first seen (one firing, however many were missed while
  nothing ran); a ``dataset`` trigger at each version of its dataset newer than the
  newest one when it was first seen, oldest first; an ``alert`` trigger at each alert
  of its monitor (of its ``rule`` when given) opened after it was first seen;
- each due event is claimed in the metadata store (``trigger_events``, unique per
  trigger and event key: ``schedule:<ISO time>``, ``data:/x@4``, ``alerts:/7``): of
  two ``loopml automate`` processes, one claims it and acts, the other skips it, so one
  event causes one retrain;
- a claim is a lease of ``lease`` seconds (:data:`LEASE`), renewed by a heartbeat
  thread while the retrain runs. An event left RUNNING by a process that died (killed,
  or its machine lost) is taken over by the next pass once its lease expired, or at
  once when its owner was a process of this host that no longer exists; the takeover
  is a compare-and-set, so of several passes exactly one takes it, counts the attempt
  and records whom it took the event from. The runs the old owner left RUNNING (the
  pipeline run tagged ``loopml.trigger_event`` with the event's URI, and its steps) are
  ended KILLED, naming the takeover, and the event is retrained from the start (a
  rollout the process it was taken from had already started is kept, not started
  twice). A process interrupted by Ctrl-C releases its event, which the next pass
  takes over at once: an interruption is not a failed retrain;
- the action is the code path a person runs: :func:`~loopml.run_and_register` runs
  the trigger's pipeline with the triggering dataset version passed explicitly in its
  ``param`` (``data:/x@4``: the version that fired a dataset trigger, the newest one
  when a schedule or an alert fired) and registers the model, the new version is
  promoted through the gates of ``environment`` (as a rollout's candidate when a
  deployment is named), and ``loopml.deploy(deployment, strategy=...,
  candidate=models:/m/N)`` starts the rollout the server's controller then analyses,
  promotes or rolls back. The strategy is the trigger's, else the deployment's own,
  else (a deployment that was only ever replaced) ``canary``; ``strategy = "replace"``
  promotes the version and points the deployment at the environment's alias at once;
- a retrain that fails or a gate that refuses is recorded (FAILED / REFUSED, with the
  error) and raises an alert: a row of ``alerts`` filed under the trigger's name
  (``loopml monitor alerts <trigger>``), rule ``automation: retrain failed`` or
  ``automation: gate refused``, sent to the trigger's ``sinks``. Nothing is deployed,
  so the champion keeps serving. The trigger's next success resolves its alerts;
- the rollout a SUCCEEDED event started is watched by every pass until it settles: when
  the server's controller (or a person) rolls it back or aborts it, the event becomes
  ROLLED_BACK and raises the alert ``automation: rollout rolled back``, once (one pass
  wins the compare-and-set that settles it); when it is promoted for good (a
  blue-green one once a newer rollout replaced it, since until then it can be flipped
  back), the trigger's rolled-back alert is resolved.

Lineage records the chain: the cause (``data:/x@4`` or ``alerts:/7``) ``fired`` the
event ``triggers:/<name>/<id>``, which ``triggered`` the pipeline run and the step run
that ``registered`` the model version, which is the ``candidate`` of ``rollout:/<N>``,
the ``rollout`` of ``deployments:/<name>``; a schedule's event has no cause above it.
So ``loopml lineage models:/churn/5`` shows why that version exists.

Example::

    report = loopml.automation.automate()
    for event in report.events:
        print(event.message)   # triggers:/fresh-data/1 (data:/churn@4): SUCCEEDED -> ...
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from loopml import _validate
from loopml.automation import _repository as repo
from loopml.automation._records import (
    RELEASED,
    AutomateReport,
    EventStatus,
    Trigger,
    TriggerEvent,
    TriggerKind,
    TriggerState,
)
from loopml.automation._triggers import check_gates, check_targets, read_triggers
from loopml.errors import GateFailed, InvalidInput, NotFound

__all__ = [
    "FAILED_RULE",
    "LEASE",
    "REFUSED_RULE",
    "ROLLED_BACK_RULE",
    "automate",
    "check_triggers",
    "list_events",
    "trigger_status",
]

#: the rule of the alert a failed retrain (or a step after it) raises
FAILED_RULE = "automation: retrain failed"
#: the rule of the alert a refusing gate raises
REFUSED_RULE = "automation: gate refused"
#: the rule of the alert a rollout the controller (or a person) rolled back raises
ROLLED_BACK_RULE = "automation: rollout rolled back"

#: seconds a claim holds an event without being renewed (its heartbeat renews it every
#: quarter of that while the retrain runs)
LEASE = 60.0

_MAX_ERROR = 2000


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def automate(
    triggers: Sequence[str] | None = None,
    *,
    now: float | None = None,
    lease: float = LEASE,
    stop: threading.Event | None = None,
) -> AutomateReport:
    """Check the triggers of loopml.toml (those named in ``triggers``, default all) once,
    take over their events left RUNNING by a process that is gone, settle the rollouts
    their events started that ended, and act on each due event this process claims (see
    the module docstring). ``now`` (seconds since the
    epoch) is the time schedules are checked at; ``lease`` the seconds a claim holds an
    event between two renewals. Once ``stop`` is set (a daemon asked to end), no further
    event is claimed or taken over: the retrain under way finishes and is recorded, and
    the events still due wait for the next pass.

    Interrupted (Ctrl-C) during a retrain, the event is not recorded as failed: it is
    released, and the next pass takes it over and retrains it.

    A trigger that cannot be read (a cron expression that does not parse, an unknown
    key), whose environment has gates that do not parse, or that names a dataset,
    deployment or monitor that does not exist stops the call before anything runs,
    naming it (see :func:`check_triggers`).
    """
    from loopml.context import current

    chosen = check_triggers(triggers)
    at = time.time() if now is None else _validate.seconds(now, "now")
    lease = _validate.seconds(lease, "lease")
    if lease < 1:
        raise InvalidInput(f"lease must be at least 1 second, got {lease:g}.")
    meta = current().metadata
    seen, running, unsettled = repo.pass_state(meta)
    owner = _owner()
    events: list[TriggerEvent] = []
    by_name = {t.name: t for t in chosen}
    stopped = stop.is_set if stop is not None else (lambda: False)
    for stale, why, gone in _stale(running, by_name):
        if stopped():
            break
        taken = repo.take_over(
            meta, stale, owner, lease_until=time.time() + lease, now=time.time(), gone=gone, why=why
        )
        if taken is not None:
            _end_left_runs(taken)
            events.append(_act(meta, by_name[taken.trigger], taken, lease))
    settled = _settle(meta, unsettled, by_name)
    for trigger in chosen:
        base = _baseline(meta, trigger, seen.get(trigger.name), at)
        for key, cause, dataset in _due(meta, trigger, base, at):
            if stopped():
                break
            event = repo.claim(
                meta,
                trigger.name,
                key,
                cause=cause,
                dataset=dataset,
                owner=owner,
                lease_until=time.time() + lease,
            )
            if event is not None:
                events.append(_act(meta, trigger, event, lease))
    return AutomateReport([t.name for t in chosen], events, settled)


def check_triggers(triggers: Sequence[str] | None = None) -> list[Trigger]:
    """The triggers of loopml.toml (those named in ``triggers``, default all) that
    :func:`automate` would check, once they are known to run: InvalidInput or NotFound
    naming the trigger when one cannot be read, names no such trigger, has gates that
    do not parse, or names a dataset, deployment or monitor that does not exist.
    ``loopml automate`` calls it at its start, so such a mistake stops the daemon at
    once rather than failing each of its passes."""
    chosen = _choose(read_triggers(), triggers)
    check_gates(chosen)
    check_targets(chosen)
    return chosen


def _stale(
    running: list[TriggerEvent], triggers: dict[str, Trigger]
) -> list[tuple[TriggerEvent, str, bool]]:
    """``(event, why, gone)`` for each RUNNING event of ``triggers`` its owner no longer
    holds: ``gone`` when the owner was a process of this host that no longer exists
    (taken at once), else when its lease expired (the owner may be on another host)."""
    found = []
    now = time.time()
    host = socket.gethostname()
    for event in running:
        if event.trigger not in triggers:
            continue
        owner_host, _, pid = (event.owner or "").rpartition(":")
        if event.lease_until == RELEASED:
            found.append((event, "it was interrupted and released the event", True))
        elif owner_host == host and pid.isdigit() and not _alive(int(pid)):
            found.append((event, f"process {pid} of this host is gone", True))
        elif event.lease_until is None or event.lease_until < now:
            expired = "never" if event.lease_until is None else _shown_time(event.lease_until)
            found.append((event, f"its lease expired at {expired}", False))
    return found


def _end_left_runs(event: TriggerEvent) -> None:
    """End KILLED, naming the takeover, the runs the owner ``event`` was just taken over
    from left RUNNING: its pipeline runs (tagged ``loopml.trigger_event`` with the event's
    URI; the event records its run only once the retrain finished) and their steps, so
    no run of a process that is gone shows RUNNING for ever. A failure to end them stops
    the pass before the retrain starts: the event, held by this process, is taken over
    again (and these runs ended) once its lease expires."""
    from loopml.tracking import search_runs

    quoted = event.uri.replace("\\", "\\\\").replace("'", "\\'")
    left = search_runs(f"tags.loopml.trigger_event = '{quoted}' and status = 'RUNNING'")
    why = (
        f"{event.uri} was taken over by {event.owner} (attempt {event.attempts}) from "
        f"{event.taken_from}: this run of an earlier attempt never ended, and the new "
        "attempt retrains from the start."
    )
    for run in left:
        _kill(run.id, why)


def _kill(run_id: str, why: str) -> None:
    """End run ``run_id`` and its RUNNING descendants (the deepest first) KILLED, with
    ``why`` as their error."""
    from loopml.tracking import RunStatus, attach_run, child_runs

    for child in child_runs(run_id):
        if child.status == RunStatus.RUNNING:
            _kill(child.id, why)
    with attach_run(run_id) as run:
        run.end(RunStatus.KILLED, error=why)


def _alive(pid: int) -> bool:
    """Whether process ``pid`` of this host exists (one of another user counts)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists, but belongs to someone else
        return True
    return True


def _shown_time(at: float) -> str:
    return datetime.fromtimestamp(at, timezone.utc).isoformat(timespec="seconds")


class _Heartbeat:
    """Renews ``event``'s lease every quarter of ``lease`` seconds from a daemon thread,
    from ``with`` to its end; ``lost`` says another process took the event over."""

    def __init__(self, meta: Any, event: TriggerEvent, lease: float) -> None:
        self._meta = meta
        self._event = event
        self._lease = lease
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"loopml-lease-{event.id}", daemon=True
        )
        self.lost = False

    def _run(self) -> None:
        while not self._stop.wait(self._lease / 4):
            try:
                held = repo.renew(
                    self._meta, self._event.id, self._event.owner or "", time.time() + self._lease
                )
            except Exception:  # a store hiccup: try again at the next beat
                continue
            if not held:
                self.lost = True
                return

    def __enter__(self) -> _Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def _choose(every: list[Trigger], names: Sequence[str] | None) -> list[Trigger]:
    if names is None:
        return every
    by_name = {t.name: t for t in every}
    chosen = []
    for name in names:
        if name not in by_name:
            raise NotFound(
                f"no trigger {name!r} in loopml.toml (triggers: "
                f"{', '.join(by_name) or 'none'}); declare it under [triggers.{name}]."
            )
        chosen.append(by_name[name])
    return chosen


# -- what is due ----------------------------------------------------------------------


def _baseline(
    meta: Any, trigger: Trigger, stored: tuple[str, float, float] | None, at: float
) -> float:
    """Where ``trigger`` starts watching: stored the first time it is seen (or when
    loopml.toml changed what it watches)."""
    if stored is not None and stored[0] == trigger.spec:
        return stored[1]
    if trigger.kind is TriggerKind.DATASET:
        assert trigger.dataset is not None
        value = float(_newest(trigger.dataset)[0])
    elif trigger.kind is TriggerKind.ALERT:
        from loopml.monitoring import list_alerts

        found = list_alerts()
        value = float(found[0].id) if found else 0.0
    else:
        value = at
    return repo.set_baseline(
        meta, trigger.name, trigger.spec, value, None if stored is None else stored[0]
    )


def _newest(dataset: str) -> tuple[int, str]:
    """The newest version of ``dataset``: its number and URI."""
    from loopml.data import dataset_versions

    versions = dataset_versions(dataset)
    if not versions:
        raise NotFound(f"dataset {dataset!r} has no version.")
    return versions[-1].version, versions[-1].uri


def _due(
    meta: Any, trigger: Trigger, base: float, at: float
) -> list[tuple[str, str | None, str | None]]:
    """``(event key, cause, dataset version)`` of each event of ``trigger`` due now that
    no process claimed yet, oldest first."""
    due: list[tuple[str, str | None, str | None]] = []
    if trigger.kind is TriggerKind.DATASET:
        from loopml.data import dataset_versions

        assert trigger.dataset is not None
        due = [(v.uri, v.uri, v.uri) for v in dataset_versions(trigger.dataset) if v.version > base]
    elif trigger.kind is TriggerKind.ALERT:
        from loopml.monitoring import list_alerts

        fresh = [
            a
            for a in reversed(list_alerts(trigger.monitor))
            if a.id > base and (trigger.rule is None or a.rule == trigger.rule)
        ]
        if fresh:
            dataset = _newest(trigger.dataset)[1] if trigger.dataset else None
            due = [(str(a.uri), str(a.uri), dataset) for a in fresh]
    else:
        assert trigger.schedule is not None
        fired = _previous(trigger.schedule, at)
        if fired.timestamp() > base:
            dataset = _newest(trigger.dataset)[1] if trigger.dataset else None
            due = [(f"schedule:{fired.isoformat()}", None, dataset)]
    if not due:
        return []
    claimed = repo.event_keys(meta, trigger.name)
    return [d for d in due if d[0] not in claimed]


def _previous(expression: str, at: float) -> datetime:
    """The newest time ``expression`` names at or before ``at`` (UTC)."""
    from croniter import croniter

    start = datetime.fromtimestamp(at, timezone.utc)
    if croniter.match(expression, start.replace(second=0, microsecond=0)) and start.second == 0:
        return start.replace(microsecond=0)
    found: datetime = croniter(expression, start).get_prev(datetime)
    return found


def next_firing(expression: str, at: float) -> datetime:
    """The first time after ``at`` that ``expression`` names (UTC)."""
    from croniter import croniter

    found: datetime = croniter(expression, datetime.fromtimestamp(at, timezone.utc)).get_next(
        datetime
    )
    return found


# -- how the rollouts ended -----------------------------------------------------------


def _settle(
    meta: Any, unsettled: list[TriggerEvent], triggers: dict[str, Trigger]
) -> list[TriggerEvent]:
    """The events of ``triggers`` whose rollout settled since the last pass, as settled by
    this process (ROLLED_BACK, alerted; or promoted for good)."""
    mine = [e for e in unsettled if e.trigger in triggers]
    if not mine:
        return []
    from loopml.deployments import get_rollout

    settled = []
    for event in mine:
        assert event.rollout_id is not None
        try:
            rollout = get_rollout(event.rollout_id)
        except NotFound:
            continue
        status = str(rollout.status)
        trigger = triggers[event.trigger]
        if status in ("ROLLED_BACK", "ABORTED"):
            done = repo.settle(
                meta,
                event,
                status,
                status=EventStatus.ROLLED_BACK,
                error=_rolled_back(rollout, status),
            )
            if done is not None:
                settled.append(_alert_rolled_back(meta, trigger, done))
        elif status == "PROMOTED" and _for_good(rollout):
            done = repo.settle(meta, event, status)
            if done is not None:
                with contextlib.suppress(Exception):  # an old alert must not stop the pass
                    from loopml.monitoring import resolve_raised

                    resolve_raised(trigger.name, ROLLED_BACK_RULE)
                settled.append(done)
        elif status != event.rollout_status:
            repo.watch_rollout(meta, event.id, status)
    return settled


def _for_good(rollout: Any) -> bool:
    """Whether promoted ``rollout`` can no longer be rolled back: any but a blue-green
    one, which can be flipped back until a newer rollout of its deployment started."""
    from loopml.deployments import get_rollout

    if str(rollout.strategy) != "blue_green":
        return True
    try:
        return bool(get_rollout(rollout.deployment).id != rollout.id)
    except NotFound:  # the deployment is gone
        return True


def _rolled_back(rollout: Any, status: str) -> str:
    what = "aborted" if status == "ABORTED" else "rolled back"
    why = f" ({rollout.finish_reason})" if rollout.finish_reason else ""
    return (
        f"{rollout.uri} of {rollout.candidate} on deployment {rollout.deployment} was "
        f"{what}{why}; {rollout.deployment} serves {rollout.primary} again."
    )


def _alert_rolled_back(meta: Any, trigger: Trigger, event: TriggerEvent) -> TriggerEvent:
    """Raise the alert of ``event``, whose rollout was rolled back; the event with it."""
    from loopml.monitoring import raise_alert

    message = f"trigger {trigger.name}: {event.error} ({event.uri}, {event.model_version})"
    try:
        alert = raise_alert(
            trigger.name,
            ROLLED_BACK_RULE,
            message,
            deployment=trigger.deployment,
            sinks=trigger.sinks,
            details={
                "trigger": trigger.name,
                "event": event.uri,
                "rollout": f"rollout:/{event.rollout_id}",
            },
        )
    except Exception:  # the event is recorded as rolled back whatever the alert did
        return event
    repo.add_edges(meta, [(event.uri, str(alert.uri), "raised")])
    return repo.set_alert(meta, event.id, alert.id)


# -- the action -----------------------------------------------------------------------


def _act(meta: Any, trigger: Trigger, event: TriggerEvent, lease: float) -> TriggerEvent:
    """Retrain → register → gates → rollout for ``event`` (claimed by this process, its
    lease renewed meanwhile); the event as finished. Whatever goes wrong is recorded on
    the event and alerted; an interruption (Ctrl-C) releases the event to the next pass
    instead."""
    try:
        with _Heartbeat(meta, event, lease):
            return _retrain(meta, trigger, event)
    except KeyboardInterrupt:
        # a person stopped this process, not the retrain: the next pass retrains it (the
        # heartbeat has stopped, so it cannot renew the lease after it was let go)
        with contextlib.suppress(Exception):
            repo.release(meta, event)
        raise
    except BaseException as exc:  # the event must not stay RUNNING
        _fail(meta, trigger, event, EventStatus.FAILED, f"interrupted ({type(exc).__name__})")
        raise


def _retrain(meta: Any, trigger: Trigger, event: TriggerEvent) -> TriggerEvent:
    from loopml.automation._register import run_and_register
    from loopml.errors import PipelineFailed
    from loopml.uri import RunURI

    if event.cause is not None and event.cause != event.uri:
        repo.add_edges(meta, [(event.cause, event.uri, "fired")])
    reason = f"trigger {trigger.name}: {event.key}"
    params = dict(trigger.params)
    if trigger.param is not None:
        params[trigger.param] = event.dataset
    try:
        done = run_and_register(
            trigger.pipeline,
            trigger.model,
            params=params,
            reason=reason,
            tags={"loopml.trigger": trigger.name, "loopml.trigger_event": event.uri},
        )
    except PipelineFailed as exc:
        run = getattr(exc, "run", None)
        run_id = getattr(run, "id", None)
        if run_id is not None:
            repo.add_edges(meta, [(event.uri, str(RunURI(run_id)), "triggered")])
        return _fail(meta, trigger, event, EventStatus.FAILED, _pipeline_failed(exc), run_id=run_id)
    except Exception as exc:
        return _fail(
            meta,
            trigger,
            event,
            EventStatus.FAILED,
            f"the retrain failed: {type(exc).__name__}: {exc}",
        )
    version = done.version
    ran = {str(RunURI(done.run.id))}
    if version.run_id:
        ran.add(str(RunURI(version.run_id)))
    repo.add_edges(meta, [(event.uri, r, "triggered") for r in sorted(ran)])
    event = repo.update(meta, event, run_id=done.run.id, model_version=version.uri)
    try:
        return _release(meta, trigger, event, version, reason)
    except Exception as exc:
        return _fail(
            meta,
            trigger,
            event,
            EventStatus.FAILED,
            f"{version.uri} was registered but not rolled out: {type(exc).__name__}: {exc}",
            what="the gates or the rollout failed",
        )


def _pipeline_failed(exc: Exception) -> str:
    """What a failed retrain says: the failing step and the last line of its traceback
    (the exception), not the whole traceback, which stays with the step run."""
    run = getattr(exc, "run", None)
    steps = getattr(run, "steps", None) or []
    failed = next((s for s in steps if str(getattr(s, "status", "")) == "FAILED"), None)
    if run is None or failed is None or not failed.error:
        return f"the retrain failed: {exc}"
    lines = [line for line in failed.error.strip().splitlines() if line.strip()]
    return (
        f"the retrain failed: step {failed.name!r} of pipeline {run.name!r} raised "
        f"{lines[-1].strip() if lines else 'an error'} (run {run.id}; its traceback is "
        f"stored with step run {failed.run_id})"
    )


def _release(
    meta: Any, trigger: Trigger, event: TriggerEvent, version: Any, reason: str
) -> TriggerEvent:
    """``version`` through the gates of the trigger's environment and onto its
    deployment."""
    from loopml.deployments import deploy, get_deployment
    from loopml.evaluation import promote
    from loopml.uri import ModelURI

    if trigger.environment is None:
        return _succeed(meta, trigger, event)
    serving = get_deployment(trigger.deployment) if trigger.deployment else None
    if serving is not None and (serving.model_name, serving.version) == (
        version.name,
        version.version,
    ):
        return _succeed(meta, trigger, event)  # the model did not change: nothing to roll out
    rolling = _rolling_out(serving, version)
    if rolling is not None:  # another event's rollout of these very bytes: follow it
        return _succeed(meta, trigger, event, rollout_id=rolling)
    strategy = _strategy(trigger, serving)
    candidate = serving is not None and strategy != "replace"
    if candidate and event.attempts > 1:
        started = _started_before(trigger, event, version)
        if started is not None:  # the process it was taken from got that far
            return _succeed(meta, trigger, event, rollout_id=started)
    try:
        promotion = promote(
            version.name,
            trigger.environment,
            version=version.version,
            candidate=candidate,
            reason=reason,
        )
    except GateFailed as exc:
        return _fail(meta, trigger, event, EventStatus.REFUSED, str(exc))
    if str(promotion.status) not in ("PROMOTED", "CANDIDATE"):
        return _fail(
            meta,
            trigger,
            event,
            EventStatus.REFUSED,
            f"{version.uri} passed the gates of {trigger.environment} but is "
            f"{promotion.status} (waiting for a person's approval: loopml models approve); "
            "nothing was rolled out",
        )
    if serving is None:
        return _succeed(meta, trigger, event)
    assert trigger.deployment is not None
    if strategy == "replace":
        deploy(
            trigger.deployment,
            str(ModelURI(version.name, alias=trigger.environment)),
            reason=reason,
        )
        return _succeed(meta, trigger, event)
    moved = deploy(
        trigger.deployment,
        strategy=strategy,
        candidate=version.uri,
        steps=trigger.steps,
        interval=trigger.interval,
        reason=reason,
    )
    return _succeed(meta, trigger, event, rollout_id=moved.rollout_id)


def _rolling_out(serving: Any, version: Any) -> int | None:
    """The id of the rollout in progress on ``serving`` whose candidate is ``version``
    (two triggers that fired on the same data retrain the same model), else None."""
    if serving is None or serving.rollout_id is None:
        return None
    from loopml.deployments import get_rollout

    try:
        rollout = get_rollout(serving.rollout_id)
    except NotFound:
        return None
    same = (rollout.candidate_model, rollout.candidate_version) == (version.name, version.version)
    return rollout.id if same and not rollout.status.finished else None


def _started_before(trigger: Trigger, event: TriggerEvent, version: Any) -> int | None:
    """The id of the rollout of ``version`` on the trigger's deployment that an earlier
    attempt at ``event`` started (it was killed before recording it), or None."""
    from loopml.deployments import get_rollout

    assert trigger.deployment is not None
    try:
        rollout = get_rollout(trigger.deployment)
    except NotFound:
        return None
    mine = (rollout.candidate_model, rollout.candidate_version) == (
        version.name,
        version.version,
    )
    return int(rollout.id) if mine and rollout.created_at >= event.created_at else None


def _strategy(trigger: Trigger, serving: Any) -> str:
    if trigger.strategy is not None:
        return trigger.strategy
    own = str(serving.strategy) if serving is not None else "replace"
    return "canary" if own == "replace" else own


def _succeed(meta: Any, trigger: Trigger, event: TriggerEvent, **values: Any) -> TriggerEvent:
    from loopml.monitoring import resolve_raised

    rules = [FAILED_RULE, REFUSED_RULE]
    if values.get("rollout_id") is None and trigger.deployment is not None:
        rules.append(ROLLED_BACK_RULE)  # replaced at once: the new version serves
    for rule in rules:
        # resolving an old alert must not fail the retrain that worked
        with contextlib.suppress(Exception):
            resolve_raised(trigger.name, rule)
    return repo.finish(meta, event, EventStatus.SUCCEEDED, **values)


def _fail(
    meta: Any,
    trigger: Trigger,
    event: TriggerEvent,
    status: EventStatus,
    error: str,
    what: str | None = None,
    **values: Any,
) -> TriggerEvent:
    """Record ``event`` as ``status`` with ``error`` and raise the alert that says so."""
    from loopml.monitoring import raise_alert

    error = _squeeze(error)
    what = what or (
        "a gate refused the retrained model"
        if status is EventStatus.REFUSED
        else ("the retrain failed")
    )
    keeps = (
        f"; deployment {trigger.deployment} keeps serving its champion"
        if trigger.deployment
        else ""
    )
    message = f"trigger {trigger.name}: {what} for {event.key} ({event.uri}){keeps}. {error}"
    alert_id = None
    try:
        alert = raise_alert(
            trigger.name,
            REFUSED_RULE if status is EventStatus.REFUSED else FAILED_RULE,
            message,
            deployment=trigger.deployment,
            sinks=trigger.sinks,
            details={"trigger": trigger.name, "event": event.uri, "cause": event.cause},
        )
        alert_id = alert.id
        repo.add_edges(meta, [(event.uri, str(alert.uri), "raised")])
    except Exception as exc:  # the event is recorded whatever the alert did
        error += f" (its alert could not be raised: {type(exc).__name__}: {exc})"
    return repo.finish(meta, event, status, error=error, alert_id=alert_id, **values)


def _squeeze(error: str) -> str:
    """``error`` on one line, at most :data:`_MAX_ERROR` characters: a longer one (a
    step's traceback) keeps its start and its end, where the exception is named."""
    error = " ".join(error.split())
    if len(error) <= _MAX_ERROR:
        return error
    head = _MAX_ERROR // 4
    tail = _MAX_ERROR - head - len(" ... ")
    return f"{error[:head]} ... {error[-tail:]}"


# -- reading --------------------------------------------------------------------------


def list_events(trigger: str | None = None, *, limit: int = 50) -> list[TriggerEvent]:
    """The events triggers fired on (of ``trigger``), newest first, with what each caused.

    Example::

        for e in loopml.automation.list_events("nightly"):
            print(e.uri, e.status, e.model_version, e.rollout_id, e.error)
    """
    from loopml.context import current

    if trigger is not None:
        _validate.text(trigger, "trigger")
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
        raise InvalidInput(f"limit must be a whole number from 1 up, got {_validate.shown(limit)}.")
    return repo.events_of(current().metadata, trigger, limit)


def trigger_status(*, now: float | None = None) -> list[TriggerState]:
    """Each trigger of loopml.toml: since when it watches, its last event, its next
    firing (a schedule's next cron time) and its events counted by status."""
    from loopml.context import current

    at = time.time() if now is None else _validate.seconds(now, "now")
    every = read_triggers()
    meta = current().metadata
    seen = repo.baselines(meta)
    last = repo.last_events(meta)
    counts = repo.status_counts(meta)
    states = []
    for t in every:
        stored = seen.get(t.name)
        states.append(
            TriggerState(
                trigger=t,
                since=stored[2] if stored is not None else None,
                last=last.get(t.name),
                next=next_firing(t.schedule, at) if t.schedule else None,
                counts=counts.get(t.name, {}),
            )
        )
    return states
