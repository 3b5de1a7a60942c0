"""``loopml init``: make the current folder a loopml project."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.markup import escape

from loopml.cli._output import console

TEMPLATE = """\
# loopml project settings. Every key is optional: the defaults keep all
# state in .loopml/ next to this file. Environment variables
# (LOOPML_TRACKING_URI, LOOPML_ARTIFACT_URI, LOOPML_DATA_REMOTE) win over
# this file; arguments given in code or on the command line win over both.

[store]
# Metadata database: SQLite by default, or PostgreSQL for a team
# (pip install 'loopml[postgres]').
# tracking_uri = "sqlite:///.loopml/loopml.db"
# tracking_uri = "postgresql://user@db-host/loopml"

# Content-addressed objects (data files, artifacts): a folder, or any
# fsspec URL such as "s3://bucket/loopml" (pip install 'loopml[s3]').
# artifact_uri = ".loopml/artifacts"

# Load pickled step outputs (@loopml.step(allow_pickle=True)) without
# allow_pickle=True on each load. A pickle runs code when it is loaded: set
# this only if everyone who can write this store is trusted.
# trust_pickle = false

[data]
# Where 'loopml data push' and 'loopml data pull' send and fetch objects.
# remote = "s3://bucket/loopml-remote"

[tracking]
# Seconds between background flushes of buffered metrics. A process killed
# with SIGKILL loses at most this much of its latest metrics.
# flush_interval = 1.0

# Gates: the checks a model version passes to enter an environment
# ('loopml models promote churn/4 --to staging'), evaluated on the data
# below against the version the environment holds now (the champion).
# [gates.staging]
# "metrics.f1" = ">= 0.85"
# "metrics.f1 - champion.metrics.f1" = ">= -0.01"
# "latency.p99_ms" = "<= 20"
#
# [gates.staging.options]
# data = "data:/holdout"
# target = "churned"
# approval = false
"""


def init(
    path: Path = typer.Argument(
        Path("."), metavar="PATH", help="Project folder (default: here).", show_default=False
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite an existing loopml.toml."),
) -> None:
    """Write a commented loopml.toml and a git-ignored .loopml/ folder."""
    from loopml.config import CONFIG_FILE, STATE_DIR
    from loopml.errors import Conflict, InvalidInput

    root = path.resolve()
    if root.exists() and not root.is_dir():
        raise InvalidInput(f"{root} is a file; give a folder to make a loopml project in.")
    root.mkdir(parents=True, exist_ok=True)
    config = root / CONFIG_FILE
    if config.exists() and not force:
        raise Conflict(f"{config} exists already; use --force to overwrite it.")
    tmp = config.with_suffix(".toml.tmp")
    tmp.write_text(TEMPLATE, encoding="utf-8")
    tmp.replace(config)
    state = root / STATE_DIR
    state.mkdir(exist_ok=True)
    (state / ".gitignore").write_text("# loopml's local state: never commit it\n*\n")
    console.print(f"Initialized loopml project in [bold]{escape(str(root))}[/]")
    console.print(f"  {CONFIG_FILE}   settings (commit it)")
    console.print(f"  {STATE_DIR}/      local metadata and objects (git-ignored)")
