"""The metadata tables, as SQLAlchemy Core ``Table`` objects.

Core rather than the ORM: every record crossing a module border is a small
dataclass anyway, bulk paths (metrics, manifests' references) want
``executemany``, and Core imports faster. The alembic migrations in
``store/migrations`` create exactly these tables; a test compares the two.

Times are seconds since the epoch (double precision), ids of runs are
32-character hex strings, everything else has an integer id.

``runs.params_json``, ``runs.tags_json`` and ``runs.metrics_json`` repeat
a run's params, tags and latest metric values as JSON objects, so reading
runs back needs no other table; ``loopml.tracking._summary`` says how they
stay equal to the ``params``, ``tags`` and ``latest_metrics`` rows. On
SQLite those three key/value tables are ``WITHOUT ROWID``: the primary key
is the table, so a row is one b-tree entry instead of two, and the
``(key, value)`` index of ``latest_metrics`` holds ``run_id`` too (a
metric filter never reads the table).
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

__all__ = [
    "alerts",
    "cache_entries",
    "dataset_versions",
    "datasets",
    "evaluations",
    "experiments",
    "latest_metrics",
    "lineage",
    "metadata",
    "metrics",
    "model_aliases",
    "model_transitions",
    "model_version_tags",
    "model_versions",
    "monitor_windows",
    "monitors",
    "object_refs",
    "params",
    "promotions",
    "registered_models",
    "reproductions",
    "run_artifacts",
    "runs",
    "tags",
    "trigger_events",
    "triggers",
    "tuning_studies",
    "tuning_trials",
]

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Double = Float(precision=53)
BigInt = BigInteger().with_variant(Integer(), "sqlite")

experiments = Table(
    "experiments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    Column("description", Text, nullable=True),
    Column("deleted_at", Double, nullable=True),
)

runs = Table(
    "runs",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("experiment_id", Integer, ForeignKey("experiments.id"), nullable=False),
    Column("name", String(255), nullable=False),
    Column("kind", String(32), nullable=False, server_default="run"),
    Column("status", String(16), nullable=False),
    Column("start_time", Double, nullable=False),
    Column("end_time", Double, nullable=True),
    Column("user", String(255), nullable=True),
    Column("parent_id", String(32), ForeignKey("runs.id"), nullable=True),
    Column("git_commit", String(64), nullable=True),
    Column("git_branch", String(255), nullable=True),
    Column("git_dirty", Boolean, nullable=True),
    Column("git_diff_digest", String(64), nullable=True),
    Column("entry_point", Text, nullable=True),
    Column("command", Text, nullable=True),
    Column("environment", JSON, nullable=True),
    Column("error", Text, nullable=True),
    Column("pid", Integer, nullable=True),
    Column("host", String(255), nullable=True),
    Column("params_json", Text, nullable=True),
    Column("tags_json", Text, nullable=True),
    Column("metrics_json", Text, nullable=True),
    Column("deleted_at", Double, nullable=True),
    Index(None, "experiment_id", "start_time"),
    Index(None, "parent_id"),
    Index(None, "status"),
)

params = Table(
    "params",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

tags = Table(
    "tags",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    sqlite_with_rowid=False,
)

metrics = Table(
    "metrics",
    metadata,
    Column("id", BigInt, primary_key=True, autoincrement=True),
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), nullable=False),
    Column("key", String(255), nullable=False),
    Column("value", Double, nullable=False),
    Column("step", BigInt, nullable=False),
    Column("timestamp", Double, nullable=False),
    Index(None, "run_id", "key", "step"),
)

latest_metrics = Table(
    "latest_metrics",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Double, nullable=False),
    Column("step", BigInt, nullable=False),
    Column("timestamp", Double, nullable=False),
    Index(None, "key", "value"),
    sqlite_with_rowid=False,
)

run_artifacts = Table(
    "run_artifacts",
    metadata,
    Column("run_id", String(32), ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True),
    Column("path", String(1024), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("size", BigInt, nullable=False),
)

datasets = Table(
    "datasets",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False, unique=True),
    Column("created_at", Double, nullable=False),
    Column("description", Text, nullable=True),
    Column("deleted_at", Double, nullable=True),
)

dataset_versions = Table(
    "dataset_versions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("dataset_id", Integer, ForeignKey("datasets.id"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("kind", String(16), nullable=False),
    Column("source_path", Text, nullable=True),
    Column("n_files", Integer, nullable=False),
    Column("total_bytes", BigInt, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("message", Text, nullable=True),
    Column("schema", JSON, nullable=True),
    Column("profile", JSON, nullable=True),
    UniqueConstraint("dataset_id", "version"),
    Index(None, "manifest_digest"),
)

lineage = Table(
    "lineage",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("src", String(512), nullable=False),
    Column("dst", String(512), nullable=False),
    Column("relation", String(64), nullable=False),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("src", "dst", "relation"),
    Index(None, "dst"),
)

object_refs = Table(
    "object_refs",
    metadata,
    Column("digest", String(64), primary_key=True),
    Column("owner", String(512), primary_key=True),
    Index(None, "owner"),
)

# Pipeline step cache: a step's cache key → what it produced (see loopml.pipelines._cache).
# ``components`` is the JSON of the key's parts (to explain a miss), ``outputs``
# the JSON list of stored outputs (name, digest, materializer, size).
cache_entries = Table(
    "cache_entries",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("step", String(512), nullable=False),
    Column("components", Text, nullable=False),
    Column("outputs", Text, nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("created_at", Double, nullable=False),
    Index(None, "step", "created_at"),
)


# -- tuning ------------------------------------------------------------------------

tuning_studies = Table(
    "tuning_studies",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("pipeline", String(512), nullable=False),
    Column("metric", String(250), nullable=False),
    Column("direction", String(16), nullable=False),
    Column("space", Text, nullable=False),
    Column("sampler", String(32), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("best_trial", Integer, nullable=True),
)

tuning_trials = Table(
    "tuning_trials",
    metadata,
    Column("study", String(255), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("tuning_run_id", String(32), nullable=False),
    Column("run_id", String(32), nullable=True),
    Column("state", String(16), nullable=False),
    Column("params", Text, nullable=False),
    Column("value", Double, nullable=True),
    Column("started_at", Double, nullable=False),
    Column("ended_at", Double, nullable=True),
)


# -- model registry ------------------------------------------------------------------
# A registered model is a name; its versions number 1, 2, 3... (``version`` allocated
# in the store: unique per name). An alias row points a name's alias (``champion``, or
# an environment: ``staging``) at one version; moving an environment appends a row to
# ``model_transitions``. See loopml.registry.

registered_models = Table(
    "registered_models",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("last_version", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

model_versions = Table(
    "model_versions",
    metadata,
    Column("name", String(255), ForeignKey("registered_models.name"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("run_id", String(32), nullable=False),
    Column("source", String(1024), nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("status", String(16), nullable=False),
    Column("description", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("deleted_at", Double, nullable=True),
    # one live version per package and name: two writers registering the same bytes at
    # once clash here, and the second gets the first's version
    Index(
        None,
        "name",
        "manifest_digest",
        unique=True,
        sqlite_where=text("deleted_at IS NULL"),
        postgresql_where=text("deleted_at IS NULL"),
    ),
    Index(None, "run_id"),
)

model_version_tags = Table(
    "model_version_tags",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("value", Text, nullable=False),
    Index(None, "key", "value"),
    sqlite_with_rowid=False,
)

model_aliases = Table(
    "model_aliases",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("alias", String(64), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("updated_at", Double, nullable=False),
    Index(None, "name", "version"),
    sqlite_with_rowid=False,
)

model_transitions = Table(
    "model_transitions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("environment", String(64), nullable=False),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=False),
    Column("user", String(255), nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Index(None, "name", "environment", "id"),
)


# -- evaluation and gates ------------------------------------------------------------
# An evaluation of one model package on one frame (``result``: the JSON of
# ``Evaluation.to_dict()``, ``report_digest``: its HTML report in the artifact
# store); a promotion request through an environment's gates, with every check's
# outcome and, under ``approval = true``, who decided and when; a reproduction of a
# version's training run and its verdict. See loopml.evaluation.

evaluations = Table(
    "evaluations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=True),
    Column("version", Integer, nullable=True),
    Column("model_uri", String(1024), nullable=False),
    Column("manifest_digest", String(64), nullable=False),
    Column("dataset", String(1024), nullable=True),
    Column("data_digest", String(64), nullable=False),
    Column("target", String(255), nullable=False),
    Column("task", String(16), nullable=False),
    Column("result", Text, nullable=False),
    Column("report_digest", String(64), nullable=True),
    Column("user", String(255), nullable=True),
    Column("created_at", Double, nullable=False),
    Index(None, "name", "version", "id"),
    Index(None, "manifest_digest", "data_digest"),
)

promotions = Table(
    "promotions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("environment", String(64), nullable=False),
    Column("status", String(24), nullable=False),
    Column("champion_version", Integer, nullable=True),
    Column("dataset", String(1024), nullable=True),
    Column("evaluation_id", Integer, nullable=True),
    Column("champion_evaluation_id", Integer, nullable=True),
    Column("checks", Text, nullable=False),
    Column("forced", Boolean, nullable=False),
    Column("reason", Text, nullable=True),
    Column("user", String(255), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("decided_by", String(255), nullable=True),
    Column("decided_at", Double, nullable=True),
    Column("decision_reason", Text, nullable=True),
    Column("transition_id", Integer, nullable=True),
    Index(None, "name", "version", "environment", "id"),
    Index(None, "status"),
)

reproductions = Table(
    "reproductions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("run_id", String(32), nullable=False),
    Column("reproduced_run_id", String(32), nullable=True),
    Column("status", String(16), nullable=False),
    Column("tolerance", Double, nullable=False),
    Column("comparison", Text, nullable=False),
    Column("message", Text, nullable=True),
    Column("user", String(255), nullable=True),
    Column("created_at", Double, nullable=False),
    Index(None, "name", "version", "id"),
)


# -- deployments ---------------------------------------------------------------------
# A deployment: a named endpoint serving one model version (``model_uri`` as it was
# asked for, e.g. ``models:/churn@prod``; ``model_name``/``version`` what it resolved
# to), with its rollout ``strategy`` and a JSON ``config`` for the server. Every
# create, update and delete is a row of ``deployment_history`` whose ``generation``
# numbers the changes of all deployments in commit order; a deployment's
# ``generation`` is that of its last change, so a server polls for "anything newer
# than G" with one indexed query. A deleted deployment's row is removed; its history
# stays. See loopml.deployments.

deployments = Table(
    "deployments",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("model_name", String(255), nullable=False),
    Column("version", Integer, nullable=False),
    Column("model_uri", String(1024), nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("config", Text, nullable=False),
    Column("generation", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("rollout_id", Integer, nullable=True),
    Index(None, "model_name", "version"),
)

deployment_history = Table(
    "deployment_history",
    metadata,
    Column("generation", Integer, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    Column("action", String(16), nullable=False),
    Column("model_name", String(255), nullable=True),
    Column("from_version", Integer, nullable=True),
    Column("to_version", Integer, nullable=True),
    Column("model_uri", String(1024), nullable=True),
    Column("user", String(255), nullable=True),
    Column("reason", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("rollout_id", Integer, nullable=True),
    Column("weight", Integer, nullable=True),
    Index(None, "name", "generation"),
)

# -- rollouts ------------------------------------------------------------------------
# A rollout moves a deployment from its ``primary`` version to a ``candidate`` by a
# strategy (blue_green, canary, shadow, ab): ``steps`` (JSON list of percents) and
# ``step`` (the index of the current one) for a canary, ``split`` for A/B, ``policy``
# (JSON) the analysis thresholds. One controller at a time holds the row's lease
# (``lease_owner`` until ``lease_expires``). ``deployments.rollout_id`` names a
# deployment's latest rollout; each analysis of a step is a row of
# ``rollout_analyses`` with its checks (JSON). See loopml.deployments.

rollouts = Table(
    "rollouts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment", String(255), nullable=False),
    Column("strategy", String(32), nullable=False),
    Column("status", String(16), nullable=False),
    Column("environment", String(255), nullable=True),
    Column("primary_model", String(255), nullable=False),
    Column("primary_version", Integer, nullable=False),
    Column("candidate_model", String(255), nullable=False),
    Column("candidate_version", Integer, nullable=False),
    Column("candidate_uri", String(1024), nullable=False),
    Column("steps", Text, nullable=False),
    Column("step", Integer, nullable=False),
    Column("interval_seconds", Double, nullable=False),
    Column("split", Integer, nullable=False),
    Column("sticky", String(255), nullable=True),
    Column("policy", Text, nullable=False),
    Column("reason", Text, nullable=True),
    Column("user", String(255), nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("step_started_at", Double, nullable=True),
    Column("finished_at", Double, nullable=True),
    Column("finish_reason", Text, nullable=True),
    Column("lease_owner", String(255), nullable=True),
    Column("lease_expires", Double, nullable=True),
    Index(None, "deployment", "id"),
    Index(None, "status"),
)

rollout_analyses = Table(
    "rollout_analyses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("rollout_id", Integer, nullable=False),
    Column("step", Integer, nullable=False),
    Column("verdict", String(16), nullable=False),
    Column("checks", Text, nullable=False),
    Column("primary_count", Integer, nullable=False),
    Column("candidate_count", Integer, nullable=False),
    Column("created_at", Double, nullable=False),
    Index(None, "rollout_id", "id"),
)

# -- monitoring ----------------------------------------------------------------------
# A monitor watches one deployment's prediction log: ``config`` (JSON) holds its
# reference, window, checks and alert rules, ``cursor_at`` the end of the last window it
# computed (seconds since the epoch). Each computed window is a row of
# ``monitor_windows`` (one per monitor and start: two runners never store one window
# twice) with its flat metrics and details (JSON), and ``feedback_mark``: the state of
# the feedback log when its live performance was last computed. An alert is one incident of one rule:
# FIRING from its first window until a window clears it (RESOLVED); ``deliveries`` (JSON)
# records each sink's last attempt. See loopml.monitoring.

monitors = Table(
    "monitors",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("deployment", String(255), nullable=False),
    Column("config", Text, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("cursor_at", Double, nullable=True),
)

monitor_windows = Table(
    "monitor_windows",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor", String(255), nullable=False),
    Column("window_start", Double, nullable=False),
    Column("window_end", Double, nullable=False),
    Column("row_count", Integer, nullable=False),
    Column("status", String(16), nullable=False),
    Column("reference", String(1024), nullable=True),
    Column("metrics", Text, nullable=False),
    Column("details", Text, nullable=False),
    Column("error", Text, nullable=True),
    Column("feedback_mark", String(255), nullable=True),
    Column("created_at", Double, nullable=False),
    UniqueConstraint("monitor", "window_start"),
)

alerts = Table(
    "alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("monitor", String(255), nullable=False),
    Column("rule", String(255), nullable=False),
    Column("status", String(16), nullable=False),
    Column("value", Double, nullable=True),
    Column("message", Text, nullable=False),
    Column("first_window", Integer, nullable=True),
    Column("last_window", Integer, nullable=True),
    Column("opened_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("resolved_at", Double, nullable=True),
    Column("notified_at", Double, nullable=True),
    Column("deliveries", Text, nullable=False),
    Index(None, "monitor", "rule", "status"),
)

# -- automation ----------------------------------------------------------------------
# A trigger of loopml.toml ([triggers.<name>]) is a row of ``triggers`` from the first
# time ``loopml automate`` saw it: ``spec`` what it watches (``dataset:churn``,
# ``alert:churn``, ``schedule:0 3 * * *``) and ``baseline`` where it started watching (the
# newest dataset version or alert id then, or the time), so only what comes after fires
# it. Each event it fired on is a row of ``trigger_events``, unique per (trigger,
# event_key) (``schedule:<ISO time>``, ``data:/x@4``, ``alerts:/7``): claiming an event is
# the INSERT only one process wins. The row records the action's status, the pipeline
# run, the model version, the rollout, the alert a failure raised and the error. A
# RUNNING event holds a lease (``lease_until``) its process renews while the retrain
# runs; once it expires (or its process is gone) a later pass takes the event over by
# compare-and-set, counting ``attempts`` and recording ``taken_from``. The rollout a
# SUCCEEDED event started is watched (``rollout_status`` as last seen) until it settles
# (``settled_at``): promoted for good, or rolled back / aborted (the event becomes
# ROLLED_BACK).

triggers = Table(
    "triggers",
    metadata,
    Column("name", String(255), primary_key=True),
    Column("spec", String(1024), nullable=False),
    Column("baseline", Double, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
)

trigger_events = Table(
    "trigger_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("trigger_name", String(255), nullable=False),
    Column("event_key", String(1024), nullable=False),
    Column("cause", String(1024), nullable=True),
    Column("dataset", String(1024), nullable=True),
    Column("status", String(16), nullable=False),
    Column("owner", String(255), nullable=True),
    Column("run_id", String(32), nullable=True),
    Column("model_version", String(1024), nullable=True),
    Column("rollout_id", Integer, nullable=True),
    Column("alert_id", Integer, nullable=True),
    Column("error", Text, nullable=True),
    Column("created_at", Double, nullable=False),
    Column("updated_at", Double, nullable=False),
    Column("finished_at", Double, nullable=True),
    Column("lease_until", Double, nullable=True),
    Column("attempts", Integer, nullable=False, server_default=text("1")),
    Column("taken_from", String(1024), nullable=True),
    Column("rollout_status", String(16), nullable=True),
    Column("settled_at", Double, nullable=True),
    UniqueConstraint("trigger_name", "event_key"),
    Index(None, "trigger_name", "id"),
)
