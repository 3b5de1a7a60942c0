"""Batch scoring: a model over a dataset version or a file, chunk by chunk, into a file.

:func:`predict_batch` reads the input in chunks of ``chunk_rows`` rows (Parquet
row groups through ``ParquetFile.iter_batches``, CSV through Arrow's streaming
reader, never the whole file at once), predicts each chunk through
:func:`loopml.load_model` (so the signature is enforced on every chunk) and
appends the predictions to the output (a Parquet or CSV file) in the input's
row order. The output is written to a temporary file beside it and renamed
over it once every chunk is in, so a failure leaves no half-written file.

With ``executor="ray"`` the chunks are scored in parallel on Ray workers (at
most a few in flight per CPU, so memory stays bounded) and written in order.

Each call is recorded as a run (kind ``predict``): the model, the input and
the chunk size as params, the rows and rows per second as metrics, the output
as an artifact of the run, and lineage edges ``models:/<name>/<N> → run``
(relation ``input``), ``data:/<ds>@<N> → run`` and ``run → runs:/<id>/<file>``
(relation ``output``). Everything that can be checked before scoring (the
model, the dataset, the signature columns, the output path) is checked first;
a chunk the model cannot score stops the call with nothing written and no run.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml import _validate
from loopml.errors import Conflict, InvalidInput, LoopmlError, NotFound

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

    from loopml.models import Model

__all__ = ["BatchPrediction", "predict_batch"]

DEFAULT_CHUNK_ROWS = 100_000
_FORMATS = {".parquet": "parquet", ".csv": "csv", ".tsv": "tsv"}
_OUT_FORMATS = {".parquet": "parquet", ".csv": "csv"}
_ROW = re.compile(r"\brow (\d+)\b")
_IN_FLIGHT_PER_CPU = 2


@dataclass(frozen=True)
class BatchPrediction:
    """The result of :func:`predict_batch`: where the predictions are (``output``), how
    many ``rows`` in how many ``chunks``, how long it took (``seconds``,
    ``rows_per_second``), the ``model`` (its URI, a concrete ``models:/<name>/<N>`` when
    it came from the registry), the ``dataset`` version read (None for a file), the
    recording ``run_id`` and the output's ``artifact`` URI (None when not recorded)."""

    output: Path
    rows: int
    chunks: int
    seconds: float
    model: str
    dataset: str | None
    columns: list[str]
    run_id: str | None = None
    artifact: str | None = None

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float(self.rows)

    @property
    def message(self) -> str:
        """One line for people: what was scored and where it went."""
        text = (
            f"scored {self.rows:,} rows in {self.chunks} chunk{'s' * (self.chunks != 1)} "
            f"({self.rows_per_second:,.0f} rows/s) with {self.model} -> {self.output}"
        )
        if self.run_id is not None:
            text += f"; run {self.run_id}"
        return text


@dataclass(frozen=True)
class _Source:
    """The input: its tabular files, its name for messages, the dataset URI, its columns
    and the rows it holds when known up front."""

    files: list[tuple[Path, str]]
    shown: str
    dataset: str | None
    columns: list[str]
    total: int | None


# -- the input ------------------------------------------------------------------------------


def _format_of(path: Path) -> str | None:
    return _FORMATS.get(path.suffix.lower())


def _is_dataset(input: Any) -> bool:
    return isinstance(input, str) and input.strip().startswith("data:/")


def _refuse_same(output: Path, inputs: Sequence[Path], shown: str) -> None:
    """InvalidInput when ``output`` is one of the ``inputs`` (the same path, another
    spelling of it, a hard or symbolic link to it): replacing it would destroy the data
    being scored."""
    if not output.exists():
        return
    for source in inputs:
        try:
            same = os.path.samefile(source, output)
        except OSError:  # the input is missing or unreadable: refused where it is read
            continue
        if same:
            raise InvalidInput(
                f"output {str(output)!r} is the same file as the input {str(source)!r}"
                f"{'' if str(source) == shown else f' (of {shown})'}: writing the "
                "predictions there would replace the data being scored. Name another "
                "output file."
            )


def _source(input: Any, output: Path) -> _Source:
    """The input named by ``input``: ``data:/<ds>@<N>`` or a Parquet / CSV path; never
    the file ``output`` names."""
    if _is_dataset(input):
        from loopml.data import get_dataset, resolve_dataset

        resolution = resolve_dataset(_validate.text(input.strip(), "input"))
        version = get_dataset(resolution.uri)
        local = version.path
        if local.is_file():
            files = [local] if _format_of(local) else []
        else:
            files = [local / e.path for e in version.files() if _format_of(Path(e.path))]
        if not files:
            raise InvalidInput(
                f"{version.uri} holds no tabular files: batch scoring reads CSV, TSV or "
                "Parquet; add the data as one of those."
            )
        _refuse_same(output, files, version.uri)
        return _describe([(f, _format_of(f) or "") for f in files], version.uri, version.uri)
    path = _validate.path(input, "input")
    if not path.exists():
        raise NotFound(
            f"no input at {str(path)!r}: pass a Parquet or CSV file, or a dataset version "
            "such as data:/NAME@3."
        )
    fmt = _format_of(path)
    if not path.is_file() or fmt is None:
        raise InvalidInput(
            f"{str(path)!r} is not a file batch scoring reads: expected a .parquet, .csv or "
            ".tsv file, or a dataset version such as data:/NAME@3."
        )
    _refuse_same(output, [path], str(path))
    return _describe([(path, fmt)], str(path), None)


def _describe(files: list[tuple[Path, str]], shown: str, dataset: str | None) -> _Source:
    """The source's columns (from its first file; the others must have them too) and its
    row count where the files' metadata tells it (Parquet)."""
    import pyarrow as pa

    columns: list[str] | None = None
    total: int | None = 0
    for path, fmt in files:
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                meta = pq.ParquetFile(path)
                names = list(meta.schema_arrow.names)
                total = None if total is None else total + meta.metadata.num_rows
            else:
                names = _csv_reader(path, fmt, None).schema.names
                total = None
        except (pa.ArrowException, OSError, ValueError) as exc:
            raise InvalidInput(
                f"could not read {path.name} of {shown} as {fmt.upper()}: "
                f"{str(exc)[:200]}. Fix the file, or pass another input."
            ) from exc
        if columns is None:
            columns = names
        elif set(names) != set(columns):
            raise InvalidInput(
                f"{shown}: {path.name} has the columns {', '.join(names[:10])}, not those of "
                f"{files[0][0].name} ({', '.join(columns[:10])}); score the files one by one."
            )
    return _Source(files, shown, dataset, columns or [], total)


def _csv_reader(path: Path, fmt: str, names: Sequence[str] | None) -> Any:
    from pyarrow import csv

    parse = csv.ParseOptions(delimiter="\t" if fmt == "tsv" else ",")
    convert = csv.ConvertOptions(
        strings_can_be_null=True, include_columns=list(names) if names is not None else None
    )
    read = csv.ReadOptions(block_size=8 << 20)
    return csv.open_csv(path, read_options=read, parse_options=parse, convert_options=convert)


def _batches(source: _Source, names: list[str], chunk_rows: int) -> Iterator[pa.RecordBatch]:
    """The columns ``names`` of every file of ``source``, batch by batch, in order."""
    import pyarrow as pa

    for path, fmt in source.files:
        try:
            if fmt == "parquet":
                import pyarrow.parquet as pq

                with pq.ParquetFile(path) as file:
                    yield from file.iter_batches(batch_size=chunk_rows, columns=names)
            else:
                yield from _csv_reader(path, fmt, names)
        except (pa.ArrowException, OSError) as exc:
            raise InvalidInput(
                f"could not read {path.name} of {source.shown} as {fmt.upper()}: "
                f"{str(exc)[:200]}. Fix the file, or pass another input."
            ) from exc


def _chunks(batches: Iterable[pa.RecordBatch], chunk_rows: int) -> Iterator[pa.Table]:
    """``batches`` regrouped into tables of exactly ``chunk_rows`` rows (the last may be
    smaller), holding at most one chunk and one batch in memory."""
    import pyarrow as pa

    held: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(chunk_rows - count, batch.num_rows)
            held.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == chunk_rows:
                yield pa.Table.from_batches(held)
                held, count = [], 0
    if count:
        yield pa.Table.from_batches(held)


# -- scoring one chunk ----------------------------------------------------------------------


def _score(
    model: Model, table: pa.Table, offset: int, index: int, keep: Sequence[str], shown: str
) -> pa.Table:
    """The predictions for one chunk (``table``, starting at row ``offset`` of the input) as
    an Arrow table, after the ``keep`` columns; a value the signature refuses is an
    InvalidInput naming the column and the row of the input (and of the chunk)."""

    names = model.signature.names if model.signature is not None else None
    features = table.select(names) if names is not None else table.drop_columns(list(keep))
    try:
        out = model.predict(features.to_pandas())
    except InvalidInput as exc:
        raise InvalidInput(_in_input(str(exc), offset, index, shown)) from None
    except LoopmlError:
        raise
    except Exception as exc:  # the model's own code: any error it raises
        raise InvalidInput(
            f"{model.uri} failed to predict rows {offset:,}-{offset + table.num_rows - 1:,} of "
            f"{shown} (chunk {index}): {type(exc).__name__}: {str(exc)[:300].rstrip('.')}. "
            "Fix the data or the model, then score again."
        ) from exc
    predicted = _as_table(out, table.num_rows, model.uri)
    clash = [c for c in keep if c in predicted.column_names]
    if clash:
        raise InvalidInput(
            f"the kept column {clash[0]!r} has the name of a prediction column of {model.uri}: "
            "keep another column, or rename it in the input."
        )
    for i, name in enumerate(keep):
        predicted = predicted.add_column(i, name, table.column(name))
    return predicted


def _in_input(message: str, offset: int, index: int, shown: str) -> str:
    """A signature error about row N of a chunk, told as the row of the input."""
    found = _ROW.search(message)
    if found is None:
        return f"{shown}, chunk {index} (rows from {offset:,}): {message}"
    row = int(found.group(1))
    where = f"row {offset + row} of {shown} (row {row} of chunk {index})"
    return message[: found.start()] + where + message[found.end() :]


def _as_table(out: Any, rows: int, uri: str) -> pa.Table:
    """A model's predictions as an Arrow table: a frame keeps its columns, a series its
    name (else ``prediction``), a 1-D array is ``prediction``, a 2-D one
    ``prediction_0``, ``prediction_1``, ..."""
    import numpy as np
    import pandas as pd
    import pyarrow as pa

    if isinstance(out, pa.Table):
        frame = out.to_pandas()
    elif isinstance(out, pd.DataFrame):
        frame = out
    elif isinstance(out, pd.Series):
        frame = out.to_frame(str(out.name) if out.name is not None else "prediction")
    else:
        values = np.asarray(out)
        if values.ndim == 1:
            frame = pd.DataFrame({"prediction": values})
        elif values.ndim == 2:
            frame = pd.DataFrame({f"prediction_{i}": values[:, i] for i in range(values.shape[1])})
        else:
            frame = pd.DataFrame()
    if len(frame) != rows or frame.shape[1] == 0:
        raise InvalidInput(
            f"{uri} returned {type(out).__name__} of shape {getattr(out, 'shape', None)} for "
            f"{rows:,} rows: batch scoring needs one prediction per row."
        )
    frame = frame.set_axis([str(c) for c in frame.columns], axis=1)
    return pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)


def _ray_score(
    model: Model, table: pa.Table, offset: int, index: int, keep: Sequence[str], shown: str
) -> Any:
    """:func:`_score` on a Ray worker: an error comes back as a value, raised as it is."""
    try:
        return _score(model, table, offset, index, keep, shown)
    except LoopmlError as exc:
        return exc


# -- writing --------------------------------------------------------------------------------


class _Writer:
    """Appends tables to a Parquet or CSV file, each cast to the first one's schema."""

    def __init__(self, path: Path, fmt: str) -> None:
        self.path, self.fmt = path, fmt
        self._writer: Any = None
        self.schema: pa.Schema | None = None

    def write(self, table: pa.Table) -> None:
        import pyarrow as pa

        if self._writer is None:
            self.schema = table.schema
            if self.fmt == "parquet":
                import pyarrow.parquet as pq

                self._writer = pq.ParquetWriter(self.path, table.schema)
            else:
                from pyarrow import csv

                self._writer = csv.CSVWriter(self.path, table.schema)
        elif not table.schema.equals(self.schema):
            try:
                table = table.cast(self.schema)
            except (pa.ArrowException, ValueError) as exc:
                raise InvalidInput(
                    f"the model's predictions changed type from one chunk to the next "
                    f"({self.schema} then {table.schema}): {exc}. Make the model return one "
                    "type, or score with one chunk (a larger chunk_rows)."
                ) from exc
        self._writer.write_table(table)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()


def _check_output(output: Any, overwrite: bool, input: Any = None) -> tuple[Path, str]:
    path = _validate.path(output, "output").absolute()
    fmt = _OUT_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise InvalidInput(
            f"output {str(path)!r} must end in .parquet or .csv: the suffix says which format "
            "to write."
        )
    if path.is_dir():
        raise InvalidInput(f"output {str(path)!r} is a folder: name a file such as preds.parquet.")
    if input is not None and not _is_dataset(input):
        # before anything is read, and before --overwrite is suggested; a dataset's files
        # are checked once it is resolved (_source)
        try:
            source = _validate.path(input, "input")
        except InvalidInput:
            pass  # refused by _source, with its own message
        else:
            _refuse_same(path, [source], str(source))
    if path.exists() and not overwrite:
        raise Conflict(
            f"output {str(path)!r} exists: pass overwrite=True (--overwrite) to replace it, "
            "or name another file."
        )
    parent = path.parent
    if not parent.is_dir():
        raise NotFound(
            f"the folder of output {str(path)!r} does not exist: create {str(parent)!r} first."
        )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise InvalidInput(
            f"output {str(path)!r} cannot be written: the folder {str(parent)!r} is not "
            "writable. Name a file in a folder you can write to."
        )
    return path, fmt


# -- the model ------------------------------------------------------------------------------


def _model(model: Any, allow_pickle: bool) -> Model:
    from loopml.models import Model, load_model

    if isinstance(model, Model):
        return model
    uri = str(model) if isinstance(model, os.PathLike) else _validate.text(model, "model")
    return load_model(uri, allow_pickle=allow_pickle)


def _check_columns(model: Model, source: _Source, keep: list[str]) -> list[str]:
    """The input columns to read: the signature's (all of them present) and ``keep``."""
    have = set(source.columns)
    for name in keep:
        if name not in have:
            raise InvalidInput(
                f"the column {name!r} to keep is not in {source.shown}; it has "
                f"{', '.join(source.columns[:20])}{', ...' if len(source.columns) > 20 else ''}."
            )
    if model.signature is None:
        return list(source.columns)
    missing = [n for n in model.signature.names if n not in have]
    if missing:
        raise InvalidInput(
            f"{source.shown} lacks the column {missing[0]!r} that {model.uri} takes (row 0 of "
            f"chunk 0 and every other row): its signature needs "
            f"{', '.join(model.signature.names)}."
        )
    return list(dict.fromkeys([*model.signature.names, *keep]))


# -- progress -------------------------------------------------------------------------------


class _Progress:
    """Rows done out of the total (when known) on stderr, while someone is watching."""

    def __init__(self, total: int | None, show: bool | None) -> None:
        self.total, self.show = total, show if show is not None else sys.stderr.isatty()
        self._bar: Any = None

    def __enter__(self) -> _Progress:
        if self.show:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._bar = Progress(
                TextColumn("[bold]scoring"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("rows"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self._bar.__enter__()
            self._task = self._bar.add_task("scoring", total=self.total)
        return self

    def advance(self, rows: int) -> None:
        if self._bar is not None:
            self._bar.advance(self._task, rows)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.__exit__(None, None, None)


# -- the entry point ------------------------------------------------------------------------


def predict_batch(
    model: Any,
    input: Any,
    output: str | os.PathLike[str],
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    executor: str = "local",
    keep: Sequence[str] | str | None = None,
    overwrite: bool = False,
    allow_pickle: bool = False,
    record: bool = True,
    experiment: str | None = None,
    progress: bool | None = None,
    on_chunk: Callable[[int, int], None] | None = None,
) -> BatchPrediction:
    """Score ``input`` with ``model`` chunk by chunk and write the predictions to ``output``.

    ``model`` is a URI (``models:/churn/3``, ``models:/churn@prod``,
    ``runs:/<id>/model``, a package folder) or a loaded :class:`loopml.Model`;
    ``input`` a dataset version (``data:/churn@3``) or a Parquet, CSV or TSV
    file; ``output`` a ``.parquet`` or ``.csv`` file, refused when it exists
    unless ``overwrite``. The input is read ``chunk_rows`` rows at a time and
    the output holds one row per input row, in the input's order: the
    ``keep`` columns (ids passed through) and then the predictions
    (``prediction``, or the columns of the frame the model returns).
    ``executor`` is ``"local"`` (this process) or ``"ray"`` (chunks scored in
    parallel on Ray, written in order). A pickle-based model loads only with
    ``allow_pickle``. With ``record`` the call is a run in ``experiment``
    (see the module docstring). ``progress`` shows a bar on stderr (by
    default when stderr is a terminal); ``on_chunk(rows_done, total)`` is
    called after each chunk is written (``total`` is -1 when unknown).

    Example::

        done = loopml.predict_batch("models:/churn@prod", "data:/customers@3",
                                    "preds.parquet", keep=["customer_id"])
        done.rows, done.rows_per_second, done.run_id
    """
    chunk_rows = _validate.count(chunk_rows, "chunk_rows")
    kept = _validate.texts(keep, "keep")
    if executor not in ("local", "ray"):
        raise InvalidInput(f"unknown executor {executor!r}: use 'local' or 'ray'.")
    if experiment is not None:
        _validate.text(experiment, "experiment")
    path, fmt = _check_output(output, overwrite, input)
    loaded = _model(model, allow_pickle)
    source = _source(input, path)
    if source.total == 0:
        raise InvalidInput(f"{source.shown} has no rows: there is nothing to score.")
    names = _check_columns(loaded, source, kept)
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", dir=path.parent))
    except OSError as exc:
        raise InvalidInput(
            f"output {str(path)!r} cannot be written: {exc.strerror or exc}. Name a file in a "
            "folder you can write to."
        ) from None
    try:
        staged = folder / path.name
        started = time.perf_counter()
        rows, chunks, columns = _run(
            loaded, source, names, kept, chunk_rows, executor, staged, fmt, progress, on_chunk
        )
        seconds = time.perf_counter() - started
        done = BatchPrediction(path, rows, chunks, seconds, loaded.uri, source.dataset, columns)
        if record:
            done = _record(done, loaded, source, staged, chunk_rows, executor, experiment)
        os.replace(staged, path)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return done


def _run(
    model: Model,
    source: _Source,
    names: list[str],
    keep: list[str],
    chunk_rows: int,
    executor: str,
    staged: Path,
    fmt: str,
    progress: bool | None,
    on_chunk: Callable[[int, int], None] | None,
) -> tuple[int, int, list[str]]:
    """Score every chunk into ``staged``: ``(rows, chunks, output columns)``."""
    writer = _Writer(staged, fmt)
    rows = chunks = 0
    chunk_iter = _chunks(_batches(source, names, chunk_rows), chunk_rows)
    total = -1 if source.total is None else source.total
    try:
        with _Progress(source.total, progress) as bar:
            for table in _scored(model, chunk_iter, keep, source.shown, executor):
                writer.write(table)
                rows += table.num_rows
                chunks += 1
                bar.advance(table.num_rows)
                if on_chunk is not None:
                    on_chunk(rows, total)
    finally:
        writer.close()
    if rows == 0:
        raise InvalidInput(f"{source.shown} has no rows: there is nothing to score.")
    return rows, chunks, list(writer.schema.names) if writer.schema is not None else []


def _scored(
    model: Model, chunks: Iterator[pa.Table], keep: list[str], shown: str, executor: str
) -> Iterator[pa.Table]:
    """The predicted tables of ``chunks``, in order."""
    offset = 0
    if executor == "local":
        for index, table in enumerate(chunks):
            yield _score(model, table, offset, index, keep, shown)
            offset += table.num_rows
        return
    from loopml.pipelines import connect_ray

    ray = connect_ray(None)
    remote = ray.remote(num_cpus=1, max_retries=0)(_ray_score)
    model_ref = ray.put(model)
    limit = max(2, _IN_FLIGHT_PER_CPU * int(ray.available_resources().get("CPU", 1) or 1))
    pending: deque[Any] = deque()
    try:
        for index, table in enumerate(chunks):
            pending.append(remote.remote(model_ref, table, offset, index, keep, shown))
            offset += table.num_rows
            if len(pending) >= limit:
                yield _got(ray, pending.popleft())
        while pending:
            yield _got(ray, pending.popleft())
    finally:
        for ref in pending:
            ray.cancel(ref, force=True)


def _got(ray: Any, ref: Any) -> pa.Table:
    result = ray.get(ref)
    if isinstance(result, BaseException):
        raise result
    return result


def _record(
    done: BatchPrediction,
    model: Model,
    source: _Source,
    staged: Path,
    chunk_rows: int,
    executor: str,
    experiment: str | None,
) -> BatchPrediction:
    """Record ``done`` as a run with its lineage and the staged output as its artifact."""
    from dataclasses import replace

    from loopml.lineage import add_edge
    from loopml.tracking import start_run
    from loopml.uri import RunURI

    params = {
        "model": model.uri,
        "input": source.shown,
        "chunk_rows": chunk_rows,
        "executor": executor,
        "output": str(done.output),
    }
    with start_run(experiment=experiment, params=params, kind="predict") as run:
        if source.dataset is not None:
            run.use_dataset(source.dataset)
        if model.uri.startswith(("models:/", "runs:/")):
            add_edge(model.uri, run.uri, "input")
        run.log_metrics(
            {"rows": done.rows, "rows_per_second": done.rows_per_second, "seconds": done.seconds}
        )
        run.log_artifact(staged)
        artifact = str(RunURI(run.id, staged.name))
        add_edge(run.uri, artifact, "output")
    return replace(done, run_id=run.id, artifact=artifact)
