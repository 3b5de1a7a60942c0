"""``loopml predict``: score a dataset version or a file with a model, chunk by chunk."""

from __future__ import annotations

import typer
from rich.markup import escape

from loopml.cli import _options
from loopml.cli._output import console


def predict(
    model: str = typer.Argument(
        ...,
        metavar="MODEL_URI",
        help="The model: models:/NAME/VERSION, models:/NAME@ALIAS, runs:/RUN_ID/PATH or a "
        "package folder.",
    ),
    input: str = typer.Option(
        ...,
        "--input",
        metavar="URI",
        help="What to score: a dataset version (data:/NAME@VERSION) or a Parquet, CSV or TSV file.",
    ),
    output: str = typer.Option(
        ...,
        "--output",
        metavar="PATH",
        help="Where the predictions go: a .parquet or .csv file, one row per input row.",
    ),
    keep: list[str] = typer.Option(
        None,
        "--keep",
        metavar="COL",
        help="Copy this input column (an id) into the output, before the predictions "
        "(repeat for more).",
        show_default=False,
    ),
    chunk_rows: int = typer.Option(
        100_000, "--chunk-rows", metavar="N", min=1, help="Rows read and scored at a time."
    ),
    executor: str = typer.Option(
        "local",
        "--executor",
        metavar="NAME",
        help="local (this process) or ray (chunks in parallel on Ray, written in order).",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="Replace the output file when it exists."
    ),
    allow_pickle: bool = typer.Option(
        False,
        "--allow-pickle",
        help="Load a pickle-based model (loading a pickle runs the code it names).",
    ),
    experiment: str | None = _options.experiment("The experiment the run goes to."),
    quiet: bool = _options.quiet(),
    tracking_uri: str | None = _options.tracking_uri(),
    artifact_uri: str | None = _options.artifact_uri(),
) -> None:
    """Score --input (a dataset version or a Parquet/CSV file) with MODEL_URI into --output,
    chunk by chunk, recorded as a run."""
    _options.use_stores(tracking_uri, artifact_uri)
    from loopml.automation import predict_batch

    done = predict_batch(
        model,
        input,
        output,
        chunk_rows=chunk_rows,
        executor=executor,
        keep=keep or None,
        overwrite=overwrite,
        allow_pickle=allow_pickle,
        experiment=experiment,
        progress=None if not quiet else False,
    )
    if not quiet:
        console.print(escape(done.message), highlight=False, soft_wrap=False)
