"""``loopml automate``: run the triggers of loopml.toml once or as a daemon, and show
their status and what they caused."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console, err_console
from loopml.cli._table import Column, Format, emit

if TYPE_CHECKING:  # pragma: no cover
    from loopml.automation import AutomateReport, TriggerEvent

app = typer.Typer(
    help="Retrain on the triggers of loopml.toml (schedule, new data, alerts), gate and roll "
    "out: run them (--once, or as a daemon), status.",
    invoke_without_command=True,
)


def _print_report(report: AutomateReport, quiet: bool) -> None:
    for event in [*report.events, *report.settled]:
        failed = event in report.failures
        line = f"{'[red]' if failed else '[green]'}{event.status}[/] {escape(event.message)}"
        (err_console if failed else console).print(line, highlight=False)
    if not report.events and not report.settled and not quiet:
        err_console.print(
            f"Nothing to do: {len(report.triggers)} trigger(s) checked, no new event.",
            highlight=False,
        )


@app.callback()
def automate(
    ctx: typer.Context,
    once: bool = typer.Option(
        False, "--once", help="Check the triggers once, act on what is due, and exit."
    ),
    interval: float = typer.Option(
        30.0, "--interval", metavar="SECONDS", help="Without --once: seconds between checks."
    ),
    triggers: list[str] = typer.Option(
        [], "--trigger", metavar="NAME", help="Only this trigger (repeat; default: all)."
    ),
    quiet: bool = _options.quiet(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Retrain on the triggers of loopml.toml (schedule, new data, alerts), gate and roll
    out: run them (--once, or as a daemon), status.

    Each due event is claimed in the metadata store, so two automation processes cause
    one retrain per event; an event left running by a process that died is taken over
    once its lease expires. Each check also follows the rollouts the triggers started:
    one rolled back or aborted marks its event ROLLED_BACK and raises an alert. With
    --once, exit with status 1 when a retrain failed, a gate refused or a rollout was
    found rolled back. Without it, check every --interval seconds until stopped (SIGTERM or
    Ctrl-C end it once the retrain under way is recorded; the events still due wait for
    the next start; a second one stops it at once, and the next start retrains the event
    it was on): a trigger that loopml.toml gets wrong stops it at its start, and a check
    that fails later (the store out of reach, a dataset removed, loopml.toml edited into
    a mistake) is reported on one line and tried again at the next interval.
    """
    if ctx.invoked_subcommand is not None:
        return
    from loopml import _validate
    from loopml.automation import automate as run_triggers

    _options.use_stores(tracking_uri, artifact_uri)
    names = triggers or None
    if once:
        report = run_triggers(names)
        _print_report(report, quiet)
        if report.failures:
            raise typer.Exit(1)
        return
    if not (1 <= _validate.seconds(interval, "--interval") <= 86400):
        raise typer.BadParameter(f"--interval must be from 1 to 86400 seconds, got {interval}.")
    _daemon(names, interval, quiet)


def _daemon(names: list[str] | None, interval: float, quiet: bool) -> None:
    """Check the triggers every ``interval`` seconds until SIGTERM or SIGINT (which end
    it after the check under way, or at once while it waits); a check that raises is
    reported and the next one runs at the next interval."""
    import signal
    import threading
    import time

    from loopml.automation import automate as run_triggers
    from loopml.automation import check_triggers
    from loopml.pipelines import forget_changed_modules

    check_triggers(names)  # a mistake in loopml.toml stops the daemon before it starts
    stop = threading.Event()

    def _stop(signum: int, frame: Any) -> None:
        if stop.is_set():  # asked twice: stop now; the event under way is released
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            signal.signal(signal.SIGINT, signal.default_int_handler)
            raise KeyboardInterrupt
        stop.set()  # safe here: this thread only ever reads it (is_set), never waits on it

    before = {s: signal.signal(s, _stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        if not quiet:
            err_console.print(
                f"Checking the triggers every {interval:g} s; stop with Ctrl-C or SIGTERM.",
                highlight=False,
            )
        while not stop.is_set():
            try:
                changed = forget_changed_modules()
                if changed and not quiet:
                    err_console.print(
                        f"The project's code changed ({escape(', '.join(changed))}): it is "
                        "imported again.",
                        highlight=False,
                        soft_wrap=True,
                    )
                report = run_triggers(names, stop=stop)
            except Exception as exc:
                _print_failed_check(exc, interval)
            else:
                _print_report(report, quiet=True)
            wake = time.monotonic() + interval
            # short naps, so a signal is seen at once (a handler cannot end a sleep)
            while not stop.is_set() and (left := wake - time.monotonic()) > 0:
                time.sleep(min(left, _NAP))
    finally:
        for signum, handler in before.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
    if not quiet:
        err_console.print("Stopped.")


#: the longest the daemon sleeps without looking whether it was told to stop (seconds)
_NAP = 0.1


def _print_failed_check(exc: Exception, interval: float) -> None:
    """One line on stderr: the check failed, why, and that the next one follows."""
    import os
    import traceback

    why = " ".join(f"{type(exc).__name__}: {exc}".split())
    err_console.print(
        f"[red]error:[/] this check of the triggers failed: {escape(why)} "
        f"(checking again in {interval:g} s)",
        highlight=False,
        soft_wrap=True,
    )
    if os.environ.get("LOOPML_DEBUG"):
        err_console.print(escape("".join(traceback.format_exception(exc))), highlight=False)


_TRIGGER_COLUMNS = [
    Column("trigger", required=True, max_width=30),
    Column("watches", required=True, max_width=50),
    Column("last", header="last event", max_width=40),
    Column("last_status", header="status", kind="status"),
    Column("last_at", header="last firing", kind="time"),
    Column("next", header="next firing", kind="time"),
    Column("action", max_width=60),
    Column("events", max_width=40),
    Column("since", kind="time"),
]

_EVENT_COLUMNS = [
    Column("event", required=True, max_width=40),
    Column("key", header="fired on", required=True, max_width=40),
    Column("status", kind="status", required=True),
    Column("dataset", max_width=30),
    Column("model", max_width=30),
    Column("rollout", max_width=14),
    Column("alert", max_width=14),
    Column("at", kind="time"),
    Column("error", max_width=80),
    Column("attempts", header="taken over", max_width=60),
]


def _event_row(e: TriggerEvent) -> dict[str, Any]:
    return {
        "event": e.uri,
        "key": e.key,
        "status": str(e.status),
        "dataset": e.dataset,
        "model": e.model_version,
        "rollout": None if e.rollout_id is None else f"rollout:/{e.rollout_id}",
        "alert": None if e.alert_id is None else f"alerts:/{e.alert_id}",
        "at": e.created_at,
        "error": e.error,
        "attempts": (
            None if e.taken_from is None else f"attempt {e.attempts}, from {e.taken_from}"
        ),
    }


@app.command("status")
def status(
    last: int = typer.Option(
        10, "--last", metavar="N", min=1, help="The history: the last N events."
    ),
    history_only: bool = typer.Option(
        False, "--history", help="Only the history (in any --format)."
    ),
    fmt: Format = _options.output_format(),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """The triggers with their last and next firing, and the history of what they
    caused (newest first; with --format json or csv, the triggers, or with --history the
    events)."""
    from loopml.automation import list_events, trigger_status

    _options.use_stores(tracking_uri, artifact_uri)
    rows = []
    for s in trigger_status():
        t = s.trigger
        action = f"{t.pipeline} -> {t.model}"
        if t.environment:
            action += f" -> gates of {t.environment}"
        if t.deployment:
            action += f" -> {t.strategy or 'rollout'} on {t.deployment}"
        rows.append(
            {
                "trigger": t.name,
                "watches": t.watches,
                "last": None if s.last is None else s.last.key,
                "last_status": None if s.last is None else str(s.last.status),
                "last_at": None if s.last is None else s.last.created_at,
                "next": s.next.timestamp() if s.next is not None else None,
                "action": action,
                "events": ", ".join(f"{n} {k.lower()}" for k, n in sorted(s.counts.items())),
                "since": s.since,
            }
        )
    history = [_event_row(e) for e in list_events(limit=last)]
    if history_only:
        emit(history, _EVENT_COLUMNS, fmt=fmt, empty="No trigger has fired yet.")
        return
    emit(
        rows,
        _TRIGGER_COLUMNS,
        fmt=fmt,
        empty=escape(
            "No triggers: declare one in loopml.toml, e.g. [triggers.nightly] with "
            'schedule = "0 3 * * *".'
        ),
    )
    if fmt is Format.table:
        console.print()
        console.print("[bold]History[/] (newest first)", highlight=False)
        emit(history, _EVENT_COLUMNS, empty="No trigger has fired yet.")
