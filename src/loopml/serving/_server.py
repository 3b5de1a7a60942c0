"""Run the app on uvicorn: ``loopml serve`` and :func:`serve`.

One worker runs the app in this process. With ``workers`` above 1, uvicorn
starts that many processes, each building its own app from the options this
process passes on in ``LOOPML_SERVE_OPTIONS`` (the project and its stores; the
token travels as ``LOOPML_SERVE_TOKEN``); they share the port, the metadata
store and the artifact store, and each follows deployment changes itself.
SIGTERM (or Ctrl-C) stops taking connections, answers the requests in flight
and writes every queued prediction before the process ends.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from typing import Any

from loopml import _validate
from loopml.config import ServeSettings
from loopml.context import Context, current
from loopml.errors import InvalidInput

__all__ = ["app_from_environment", "exposure", "run", "serve", "serve_options"]

log = logging.getLogger("loopml.serving")
_OPTIONS = "LOOPML_SERVE_OPTIONS"
_TOKEN = "LOOPML_SERVE_TOKEN"


def serve_options(
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    *,
    token: str | None = None,
    protect_predictions: bool | None = None,
    max_request_bytes: int | None = None,
    reload_seconds: float | None = None,
    access_log: bool | None = None,
    context: Context | None = None,
) -> ServeSettings:
    """The settings a server runs with: each argument given, checked, else ``[serve]`` of
    loopml.toml (the token from ``LOOPML_SERVE_TOKEN`` first)."""
    s = (context or current()).settings.serve
    return ServeSettings(
        host=s.host if host is None else _validate.text(host, "host").strip(),
        port=s.port if port is None else _validate.count(port, "port", low=0, high=65535),
        workers=s.workers
        if workers is None
        else _validate.count(workers, "workers", low=1, high=64),
        token=s.token if token is None else _validate.text(token, "token").strip(),
        protect_predictions=s.protect_predictions
        if protect_predictions is None
        else bool(protect_predictions),
        max_request_bytes=s.max_request_bytes
        if max_request_bytes is None
        else _validate.count(max_request_bytes, "max_request_bytes", low=1024, high=2**30),
        reload_seconds=s.reload_seconds
        if reload_seconds is None
        else float(_validate.seconds(reload_seconds, "reload_seconds")),
        access_log=s.access_log if access_log is None else bool(access_log),
    )


def exposure(opts: ServeSettings) -> str:
    """What to say at start about who can reach the server."""
    if opts.token is not None:
        if opts.protect_predictions:
            return (
                "predictions, deployments and feedback need the token (Authorization: Bearer ...)"
            )
        return "feedback needs the token (Authorization: Bearer ...)"
    if opts.exposed:
        return (
            f"no token is set and {opts.host} is reachable from other machines: anyone who "
            "reaches it can predict and send feedback. Set LOOPML_SERVE_TOKEN to require one"
        )
    return (
        "no token is set, so it listens on this machine only; set LOOPML_SERVE_TOKEN before --host"
    )


def serve(
    host: str | None = None,
    port: int | None = None,
    workers: int | None = None,
    *,
    token: str | None = None,
    protect_predictions: bool | None = None,
    max_request_bytes: int | None = None,
    reload_seconds: float | None = None,
    access_log: bool | None = None,
) -> None:
    """Serve every deployment of the current project over HTTP until stopped (SIGTERM or
    Ctrl-C), on uvicorn. Arguments left None come from ``[serve]`` of loopml.toml.

    Example::

        loopml.serving.serve(port=8080)          # blocks; loopml serve does the same
    """
    opts = serve_options(
        host,
        port,
        workers,
        token=token,
        protect_predictions=protect_predictions,
        max_request_bytes=max_request_bytes,
        reload_seconds=reload_seconds,
        access_log=access_log,
    )
    run(opts)


def run(opts: ServeSettings, ctx: Context | None = None) -> None:
    """Run uvicorn with ``opts`` (blocks until the server stops)."""
    try:
        import uvicorn
    except ImportError:
        from loopml.errors import MissingExtra

        raise MissingExtra("loopml serve", "serve", "uvicorn") from None
    ctx = ctx or current()
    import copy

    from uvicorn.config import LOGGING_CONFIG

    logging_config = copy.deepcopy(LOGGING_CONFIG)
    logging_config["loggers"]["loopml"] = {"handlers": ["default"], "level": "INFO"}
    common: dict[str, Any] = {
        "log_config": logging_config,
        "host": opts.host,
        "port": opts.port,
        "access_log": opts.access_log,
        "log_level": "info",
        "timeout_graceful_shutdown": 30,
        "server_header": False,
    }
    if opts.workers == 1:
        from loopml.serving._app import create_app

        app = create_app(
            ctx,
            token=opts.token,
            protect_predictions=opts.protect_predictions,
            max_request_bytes=opts.max_request_bytes,
            reload_seconds=opts.reload_seconds,
        )
        uvicorn.run(app, **common)
        return
    s = ctx.settings
    passed = asdict(opts)
    passed.pop("token")
    passed["project_root"] = str(s.project_root)
    passed["tracking_uri"] = s.tracking_uri
    passed["artifact_uri"] = s.artifact_uri
    # the workers read these from the environment they inherit (a process's environment
    # is readable by its own user and root only); put back as they were once they stop,
    # so nothing this process starts afterwards inherits the token
    before = {name: os.environ.get(name) for name in (_OPTIONS, _TOKEN)}
    os.environ[_OPTIONS] = json.dumps(passed)
    if opts.token is not None:
        os.environ[_TOKEN] = opts.token
    try:
        uvicorn.run(
            "loopml.serving._server:app_from_environment",
            factory=True,
            workers=opts.workers,
            **common,
        )
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def app_from_environment() -> Any:
    """The app of one worker process, built from ``LOOPML_SERVE_OPTIONS`` (what
    :func:`run` passes to the workers it starts)."""
    from loopml.serving._app import create_app

    raw = os.environ.get(_OPTIONS)
    if not raw:
        raise InvalidInput(
            f"{_OPTIONS} is not set: start workers with loopml serve --workers N, which sets it."
        )
    passed = json.loads(raw)
    ctx = Context(
        passed["project_root"],
        tracking_uri=passed["tracking_uri"],
        artifact_uri=passed["artifact_uri"],
    )
    return create_app(
        ctx,
        protect_predictions=passed["protect_predictions"],
        max_request_bytes=passed["max_request_bytes"],
        reload_seconds=passed["reload_seconds"],
    )
