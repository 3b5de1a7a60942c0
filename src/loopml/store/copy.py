"""Copy a project's metadata into an empty PostgreSQL database (``loopml db migrate``).

Everything happens in one transaction on the target: the schema is created by the
migrations (so ``alembic_version`` is stamped at the head), every table is copied in
chunks in foreign-key order from one snapshot of the source, each table's row count
is compared with the source's, and only then is it committed; a failure at any point
leaves the target as empty as it was. A target that already holds loopml tables is
refused. URLs are shown with their password blanked.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from loopml.errors import Conflict, InvalidInput, StoreError
from loopml.store.metadata import SCHEMA_HEAD, MetadataStore
from loopml.store.urls import parse_database_url

__all__ = ["CHUNK_ROWS", "MigrationReport", "copy_metadata"]

#: Rows sent to the target per batch.
CHUNK_ROWS = 5000
_LOCK = 7265611


@dataclass
class MigrationReport:
    """What ``copy_metadata`` copied: the source and target (passwords blanked), the
    schema revision the target is at, and the rows of each table."""

    source: str
    target: str
    revision: str
    rows: dict[str, int] = field(default_factory=dict)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def copy_metadata(
    source: MetadataStore, target_url: str, *, progress: bool | None = None
) -> MigrationReport:
    """Copy every table of ``source`` into the empty PostgreSQL database at ``target_url``."""
    target = parse_database_url(target_url)
    if target.dialect != "postgresql":
        raise InvalidInput(
            f"cannot migrate to {target.redacted!r}: expected a PostgreSQL URL such as "
            "'postgresql://user@host/loopml'."
        )
    if source.url.text == target.text:
        raise InvalidInput(f"{target.redacted} is the database in use; name another one.")
    from sqlalchemy import create_engine, inspect, text

    from loopml.store import schema
    from loopml.store.migrations import alembic_config

    tables = list(schema.metadata.sorted_tables)
    report = MigrationReport(source.url.redacted, target.redacted, SCHEMA_HEAD)
    engine = create_engine(target.sqlalchemy)
    try:
        with source.read() as src, engine.begin() as conn:
            conn.execute(text(f"SELECT pg_advisory_xact_lock({_LOCK})"))
            present = set(inspect(conn).get_table_names())
            clash = sorted(present & ({t.name for t in tables} | {"alembic_version"}))
            if clash:
                raise Conflict(
                    f"the target database {target.redacted} is not empty: it holds "
                    f"{', '.join(clash[:5])}{' …' if len(clash) > 5 else ''}. Expected an "
                    "empty database (or schema); nothing was changed. Create a new one "
                    "and migrate into it."
                )
            from alembic import command

            command.upgrade(alembic_config(conn), "head")
            counts = {t.name: int(src.scalar(f"SELECT count(*) FROM {t.name}")) for t in tables}
            raw = conn.connection.driver_connection
            assert raw is not None
            with _bar(sum(counts.values()), progress) as advance:
                for table in tables:
                    _copy_table(src, raw, table, advance)
            for table in tables:
                got = int(conn.execute(text(f"SELECT count(*) FROM {table.name}")).scalar() or 0)
                if got != counts[table.name]:
                    raise StoreError(
                        f"copying {table.name} into {target.redacted} gave {got} rows where the "
                        f"source has {counts[table.name]}; nothing was committed. Retry with "
                        "nothing writing to the project."
                    )
                report.rows[table.name] = got
            _reset_sequences(conn, tables)
    except (Conflict, StoreError, InvalidInput):
        raise
    except Exception as exc:
        from loopml.uri import scrub

        raise StoreError(
            f"could not migrate to {target.redacted}: {scrub(str(exc).splitlines()[0], target.text)}"
            ". Nothing was committed."
        ) from None
    finally:
        engine.dispose()
    return report


def _copy_table(src: Any, raw: Any, table: Any, advance: Callable[[int], None]) -> None:
    """Send one table's rows in chunks (parents before children where it refers to
    itself, e.g. nested runs)."""
    from sqlalchemy import Boolean

    names = [c.name for c in table.columns]
    flags = [isinstance(c.type, Boolean) for c in table.columns]
    select = f"SELECT {', '.join(_source_column(c) for c in table.columns)} FROM {table.name}"
    quoted = ", ".join(f'"{n}"' for n in names)
    insert = f"INSERT INTO {table.name} ({quoted}) VALUES ({', '.join(['%s'] * len(names))})"
    self_refs = [
        (names.index(fk.parent.name), names.index(fk.column.name))
        for fk in table.foreign_keys
        if fk.column.table is table
    ]
    cur = src.execute(select)
    try:
        if self_refs:
            rows: Iterator[Sequence[Any]] = iter(_parents_first(cur.fetchall(), self_refs))
            chunks = _chunked(rows)
        else:
            chunks = iter(lambda: cur.fetchmany(CHUNK_ROWS), [])
        with raw.cursor() as out:
            for chunk in chunks:
                fixed = [
                    tuple(
                        bool(v) if flag and v is not None else v
                        for v, flag in zip(row, flags, strict=True)
                    )
                    for row in chunk
                ]
                out.executemany(insert, fixed)
                advance(len(fixed))
    finally:
        cur.close()


def _source_column(column: Any) -> str:
    from sqlalchemy import JSON

    name = f'"{column.name}"'
    return f"CAST({name} AS TEXT)" if isinstance(column.type, JSON) else name


def _chunked(rows: Iterator[Sequence[Any]]) -> Iterator[list[Sequence[Any]]]:
    chunk: list[Sequence[Any]] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) >= CHUNK_ROWS:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _parents_first(rows: list[Sequence[Any]], refs: list[tuple[int, int]]) -> list[Sequence[Any]]:
    """``rows`` ordered so that a row comes after the rows it refers to."""
    placed: set[tuple[int, Any]] = set()
    out: list[Sequence[Any]] = []
    pending = list(rows)
    while pending:
        rest = []
        for row in pending:
            if all(row[c] is None or (k, row[c]) in placed for c, k in refs):
                out.append(row)
                placed.update((k, row[k]) for _, k in refs)
            else:
                rest.append(row)
        if len(rest) == len(pending):  # refers to rows that are not there: send as they are
            out.extend(rest)
            break
        pending = rest
    return out


def _reset_sequences(conn: Any, tables: Sequence[Any]) -> None:
    """Move each serial id's sequence past the copied ids, so new rows get fresh ones."""
    from sqlalchemy import Integer, text

    for table in tables:
        for column in table.primary_key.columns:
            if isinstance(column.type, Integer) and column.autoincrement in (True, "auto"):
                conn.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{table.name}', '{column.name}'), "
                        f"COALESCE(max({column.name}), 1), max({column.name}) IS NOT NULL) "
                        f"FROM {table.name}"
                    )
                )


class _bar:
    """``advance(rows)`` moving a bar on stderr (shown on a terminal, or with progress=True)."""

    def __init__(self, total: int, progress: bool | None) -> None:
        show = progress if progress is not None else sys.stderr.isatty()
        self._progress: Any = None
        self._total = total
        self._show = bool(show) and total > 0

    def __enter__(self) -> Callable[[int], None]:
        if not self._show:
            return lambda n: None
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self._progress = Progress(
            TextColumn("[bold]copying rows"),
            BarColumn(),
            MofNCompleteColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._progress.__enter__()
        task = self._progress.add_task("copy", total=self._total)
        return lambda n: self._progress.advance(task, n)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(*exc)
