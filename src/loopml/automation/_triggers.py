"""The triggers of loopml.toml (``[triggers.<name>]``), read and checked.

Each trigger fires on one thing and names one action::

    [triggers.nightly]
    schedule = "0 3 * * *"          # a cron expression (UTC), read by croniter
    dataset = "churn"               # its newest version goes to the pipeline...
    param = "data"                  # ...as the parameter data = "data:/churn@<N>"
    environment = "prod"            # the gates the new version passes
    deployment = "churn"            # where it is rolled out
    strategy = "canary"             # default: the deployment's own (canary if replace)

    [triggers.fresh-data]
    dataset = "churn"               # fires on each new version of data:/churn
    param = "data"

    [triggers.drift]
    alert = "churn"                 # fires on each new alert of monitor churn
    rule = "drift_share > 0.3"      # (of this rule only)
    dataset = "churn"
    param = "data"

Also: ``pipeline`` (default ``[pipeline] entry``), ``params`` (a table), ``model``
(default ``[model] name``), ``steps`` and ``interval`` (a canary's), ``sinks`` (where a
failure's alert goes; default ``["log"]``).

What can be checked without looking anything up is checked here (a cron expression
that does not parse, never fires, or picks a random time each time it is read (``R``);
a strategy that does not exist; steps or an interval a rollout would refuse, or that
the strategy does not take; a dataset without the parameter that receives it, or
``params`` that also set that parameter; a deployment without the environment whose
gates guard it); that the gates of each trigger's environment parse
(:func:`check_gates`) and that the dataset, deployment and monitor exist, and that the
monitor has the rule an alert trigger waits for (:func:`check_targets`) is checked
before any trigger runs, so a mistake in loopml.toml stops ``loopml automate`` at its
start, naming the trigger, rather than failing each retrain after it ran (or never
firing). An alert trigger's ``rule`` is read as the monitor writes its rules
(``drift_share>0.30`` is ``drift_share > 0.3``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from loopml._validate import shown
from loopml.automation._records import Trigger, TriggerKind
from loopml.errors import InvalidInput, NotFound

__all__ = ["STRATEGIES", "check_gates", "check_targets", "cron_valid", "read_triggers"]

#: the rollout strategies a trigger may name (``replace`` switches all traffic at once)
STRATEGIES = ("replace", "blue_green", "canary", "shadow", "ab")


def cron_valid(expression: str) -> bool:
    """Whether croniter reads ``expression`` (five or six fields, ``@daily``...)."""
    from croniter import croniter

    try:
        return bool(croniter.is_valid(expression))
    except Exception:  # croniter raises several kinds on nonsense
        return False


# croniter's ``R`` (a random value, drawn again each time the expression is read): a
# trigger reads its schedule at every pass, so it would fire at another time each pass
_RANDOM_FIELD = re.compile(r"(?:^|[\s,])R(?:$|[\s,(/])", re.IGNORECASE)


def _cron_problem(expression: str) -> str | None:
    """Why ``expression`` (read by :func:`cron_valid`) cannot drive a trigger: it picks a
    random time, or names no time that exists (``0 0 31 2 *``); None when it can."""
    from croniter import croniter

    if _RANDOM_FIELD.search(expression):
        return (
            "picks a random time (R) each time it is read, so the trigger would fire at "
            "another time at each check: write the minute and hour (e.g. '17 3 * * *')"
        )
    try:
        croniter(expression, datetime(2000, 1, 1, tzinfo=timezone.utc)).get_next(datetime)
    except Exception:  # croniter's CroniterBadDateError: no such date within its reach
        return "names no time that exists (such as 31 February), so it would never fire"
    return None


def read_triggers(settings: Any = None) -> list[Trigger]:
    """The triggers of loopml.toml, checked (see the module docstring), in the order
    written."""
    if settings is None:
        from loopml.context import current

        settings = current().settings
    return [_trigger(name, table, settings) for name, table in settings.triggers.items()]


def _bad(name: str, text: str) -> InvalidInput:
    return InvalidInput(f"[triggers.{name}] {text}")


def _trigger(name: str, table: Mapping[str, Any], settings: Any) -> Trigger:
    if "schedule" in table:
        kind = TriggerKind.SCHEDULE
    elif "alert" in table:
        kind = TriggerKind.ALERT
    else:
        kind = TriggerKind.DATASET
    schedule = table.get("schedule")
    if schedule is not None:
        schedule = " ".join(str(schedule).split())
        if not cron_valid(schedule):
            raise _bad(
                name,
                f"schedule {shown(table['schedule'])} is not a cron expression: expected "
                "five fields, minute hour day-of-month month day-of-week (e.g. '0 3 * * *', "
                "every day at 03:00 UTC), or '@hourly', '@daily', '@weekly'.",
            )
        problem = _cron_problem(schedule)
        if problem is not None:
            raise _bad(name, f"schedule {shown(table['schedule'])} {problem}.")
    dataset, param = table.get("dataset"), table.get("param")
    if dataset is not None:
        from loopml.uri import check_name

        dataset = str(dataset).removeprefix("data:/")
        if "@" in dataset:
            raise _bad(
                name,
                f"dataset {table['dataset']!r} names a version: name the dataset only "
                "(the version passed is the one that fired the trigger, or the newest).",
            )
        check_name(dataset, "dataset name")
        if param is None:
            raise _bad(
                name,
                f"names dataset {dataset!r} but no param to pass its version in: add "
                'param = "<pipeline parameter>" (it receives "data:/'
                f'{dataset}@<N>"), so the retrain never reads the pinned version by accident.',
            )
    elif param is not None:
        raise _bad(
            name,
            f"param {param!r} receives a dataset version, but no dataset is named: add "
            'dataset = "<dataset>".',
        )
    params = dict(table.get("params") or {})
    if param is not None and param in params:
        raise _bad(
            name,
            f"params sets {param!r}, the parameter param fills with the dataset version "
            f"that fired the trigger ({shown(params[param])} would never be used): remove "
            f"{param} from params.",
        )
    strategy = table.get("strategy")
    if strategy is not None and strategy not in STRATEGIES:
        raise _bad(
            name, f"strategy {strategy!r} is unknown: expected one of {', '.join(STRATEGIES)}."
        )
    environment = table.get("environment")
    known = settings.models.environments
    if environment is not None and environment not in known:
        raise _bad(
            name,
            f"environment {environment!r} is unknown: the environments are "
            f"{', '.join(known)} (set under [models] environments).",
        )
    deployment = table.get("deployment")
    if deployment is not None and environment is None:
        raise _bad(
            name,
            f"rolls out on deployment {deployment!r} but names no environment: add "
            'environment = "<environment>" (the gates a new version passes before it is '
            "rolled out, e.g. prod).",
        )
    if deployment is None and any(k in table for k in ("strategy", "steps", "interval")):
        raise _bad(name, "strategy, steps and interval belong to a rollout: add deployment.")
    _check_rollout(name, strategy, table.get("steps"), table.get("interval"))
    model = table.get("model") or settings.model.name
    if model is None:
        raise _bad(
            name,
            'names no model: add model = "<name>" (or name under [model] in loopml.toml).',
        )
    pipeline = table.get("pipeline") or settings.pipeline.entry
    if pipeline is None:
        raise _bad(
            name,
            'names no pipeline: add pipeline = "module:function" (or entry under [pipeline]).',
        )
    sinks = tuple(table.get("sinks") or ("log",))
    _check_sinks(name, sinks)
    return Trigger(
        name=name,
        kind=kind,
        schedule=schedule,
        dataset=dataset,
        monitor=table.get("alert"),
        rule=_rule(table.get("rule")),
        pipeline=pipeline,
        param=param,
        params=params,
        model=model,
        environment=environment,
        deployment=deployment,
        strategy=strategy,
        steps=table.get("steps"),
        interval=table.get("interval"),
        sinks=sinks,
    )


def _check_rollout(name: str, strategy: str | None, steps: Any, interval: Any) -> None:
    """The rollout settings of trigger ``name`` as :func:`loopml.deploy` checks them (it
    would refuse them only after the retrain ran): steps and interval that parse, and
    that ``strategy`` (when named) takes."""
    if steps is None and interval is None:
        return
    if strategy == "replace":
        raise _bad(
            name,
            'strategy "replace" switches all traffic at once: it takes no steps or '
            "interval; remove them, or choose canary.",
        )
    if steps is not None and strategy not in (None, "canary"):
        raise _bad(
            name,
            f"steps belong to a canary, not to strategy {strategy!r}: remove steps, or "
            'set strategy = "canary".',
        )
    from loopml.deployments import parse_interval, parse_steps

    try:
        if steps is not None:
            parse_steps(steps)
        if interval is not None:
            parse_interval(interval)
    except InvalidInput as exc:
        raise _bad(name, str(exc)) from None


def _check_sinks(name: str, sinks: tuple[str, ...]) -> None:
    """The sinks of trigger ``name`` are ones an alert can be sent to (as a monitor's
    are): a sink that is not would drop the alert of every failure. A sink is named
    with its password and secret-looking values blanked."""
    if all(sink == "log" for sink in sinks):  # the default: nothing to import
        return
    from loopml.monitoring import sink_problem
    from loopml.uri import redact

    for sink in sinks:
        if sink_problem(sink) is not None:
            raise _bad(
                name,
                f"sink {shown(redact(sink))} cannot be sent to: expected 'log', "
                "'file:<path>' or an http(s):// webhook URL.",
            )


def _rule(rule: Any) -> str | None:
    """``rule`` as a monitor writes its rules (``drift_share>0.30`` → ``drift_share >
    0.3``) when it is one; else as written (an alert raised by hand can have any rule)."""
    if rule is None:
        return None
    from loopml.monitoring import parse_rule

    try:
        return parse_rule(rule).text
    except InvalidInput:
        return str(rule)


def check_gates(triggers: list[Trigger]) -> None:
    """InvalidInput naming the trigger and the gate when the gates of a trigger's
    ``environment`` (``[gates.<environment>]``) do not parse: a gate that cannot be read
    would refuse every retrained model after its retrain ran."""
    read: dict[str, str | None] = {}
    for t in triggers:
        if t.environment is None:
            continue
        if t.environment not in read:
            from loopml.evaluation import read_gates

            try:
                read_gates(t.environment)
                read[t.environment] = None
            except InvalidInput as exc:
                read[t.environment] = str(exc)
        problem = read[t.environment]
        if problem is not None:
            raise _bad(
                t.name,
                f"promotes its retrained model through the gates of environment "
                f"{t.environment!r}, which do not parse: {problem} Fix [gates."
                f"{t.environment}] in loopml.toml (loopml models promote checks the same "
                "gates); no trigger ran.",
            )


def check_targets(triggers: list[Trigger]) -> None:
    """NotFound naming the trigger when one names a dataset, deployment or monitor that
    does not exist (or a trigger shares a watched monitor's name, which would mix their
    alerts)."""
    datasets = {t.dataset for t in triggers if t.dataset}
    if datasets:
        from loopml.data import list_datasets

        have = {d.name for d in list_datasets()}
        for t in triggers:
            if t.dataset and t.dataset not in have:
                raise NotFound(
                    f"[triggers.{t.name}] names dataset {t.dataset!r}, which does not exist "
                    f"(datasets: {', '.join(sorted(have)) or 'none'}). Add it (loopml data "
                    "add PATH --name NAME) or fix the name."
                )
    for t in triggers:
        if t.deployment:
            from loopml.deployments import get_deployment

            try:
                serving = get_deployment(t.deployment)
            except NotFound:
                raise NotFound(
                    f"[triggers.{t.name}] rolls out on deployment {t.deployment!r}, which does "
                    "not exist: deploy the champion first (loopml deploy NAME --model "
                    "models:/<model>@<environment>) or fix the name."
                ) from None
            own = str(serving.strategy)
            if t.strategy is None and t.steps is not None and own not in ("replace", "canary"):
                raise InvalidInput(
                    f"[triggers.{t.name}] sets steps, which belong to a canary, but names no "
                    f"strategy, so it rolls out by deployment {t.deployment}'s own, {own}: "
                    'set strategy = "canary", or remove steps.'
                )
    monitors = [t for t in triggers if t.kind is TriggerKind.ALERT]
    if monitors:
        from loopml.monitoring import list_monitors

        found = {m.name: m for m in list_monitors()}
        have = set(found)
        for t in monitors:
            if t.monitor not in have:
                raise NotFound(
                    f"[triggers.{t.name}] fires on alerts of monitor {t.monitor!r}, which "
                    f"does not exist (monitors: {', '.join(sorted(have)) or 'none'}). Add it "
                    "(loopml monitor add) or fix the name."
                )
            _check_rule(t, found[t.monitor])
        clash = sorted({t.name for t in triggers} & have)
        if clash:
            raise InvalidInput(
                f"trigger {clash[0]!r} has the name of a monitor: the alerts a trigger raises "
                "are filed under its name, so rename the trigger."
            )


def _check_rule(trigger: Trigger, monitor: Any) -> None:
    """InvalidInput when ``trigger`` waits for a metric rule its monitor does not have:
    the monitor raises alerts of its own rules only, so the trigger would never fire."""
    from loopml.monitoring import parse_rule

    if trigger.rule is None:
        return
    try:
        parse_rule(trigger.rule)
    except InvalidInput:
        return  # not a metric rule: an alert raised by hand may carry it
    rules = tuple(getattr(monitor.settings, "alerts", ()) or ())
    if trigger.rule not in rules:
        raise InvalidInput(
            f"[triggers.{trigger.name}] fires on alerts of rule {trigger.rule!r}, which "
            f"monitor {trigger.monitor!r} does not have (its rules: "
            f"{', '.join(repr(r) for r in rules) or 'none'}), so it would never fire: "
            "name one of them, or add the rule to the monitor."
        )
