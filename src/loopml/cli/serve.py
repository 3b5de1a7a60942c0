"""``loopml serve``: every deployment of the project over HTTP."""

from __future__ import annotations

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console


def serve(
    host: str = typer.Option(
        None,
        "--host",
        metavar="ADDRESS",
        help="Address to listen on (default: host under serve in loopml.toml, else 127.0.0.1: this machine only).",
        show_default=False,
    ),
    port: int = typer.Option(
        None, "--port", metavar="PORT", help="Port (default 8080).", show_default=False
    ),
    workers: int = typer.Option(
        None,
        "--workers",
        metavar="N",
        help="Worker processes sharing the port (default 1).",
        show_default=False,
    ),
    protect_predictions: bool = typer.Option(
        None,
        "--protect-predictions/--open-predictions",
        help="Whether predictions need the token too (feedback always does when one is set).",
        show_default=False,
    ),
    max_request_bytes: int = typer.Option(
        None,
        "--max-request-bytes",
        metavar="BYTES",
        help="Largest request body taken (default 10 MiB).",
        show_default=False,
    ),
    access_log: bool = typer.Option(
        None,
        "--access-log/--no-access-log",
        help="Log every request (slower); default: access_log under serve in loopml.toml, else off.",
        show_default=False,
    ),
    tracking_uri: str = _options.tracking_uri(),
    artifact_uri: str = _options.artifact_uri(),
) -> None:
    """Serve every deployment of the project over HTTP until stopped.

    JSON at /v1/deployments/NAME/predict, the Open Inference Protocol v2 at
    /v2/models/NAME/infer, OpenAPI at /docs, Prometheus at /metrics. A
    loopml deploy reaches the running server within a second, without a
    restart. The token (LOOPML_SERVE_TOKEN, or token under serve in loopml.toml) guards feedback,
    and predictions with --protect-predictions. SIGTERM answers the requests
    in flight and writes the prediction log before the server stops.
    """
    import loopml.deployments as deployments
    import loopml.serving as serving

    _options.use_stores(tracking_uri, artifact_uri)
    opts = serving.serve_options(
        host,
        port,
        workers,
        protect_predictions=protect_predictions,
        max_request_bytes=max_request_bytes,
        access_log=access_log,
    )
    where = f"[{opts.host}]" if ":" in opts.host else opts.host
    served = deployments.list_deployments()
    shown = ", ".join(f"{d.name} → {d.version_uri}" for d in served) or (
        "none yet: loopml deploy NAME --model URI adds one while the server runs"
    )
    console.print(
        f"loopml serve: http://{escape(where)}:{opts.port} "
        f"({opts.workers} worker{'s' if opts.workers != 1 else ''}); deployments: {escape(shown)}",
        highlight=False,
        soft_wrap=True,
    )
    console.print(f"  {escape(serving.exposure(opts))}", highlight=False, soft_wrap=True)
    console.print(
        f"  OpenAPI: http://{escape(where)}:{opts.port}/docs", highlight=False, soft_wrap=True
    )
    serving.run(opts)
