"""Settings: explicit argument → environment → ``loopml.toml`` → defaults, parsed once.

The project root is the nearest folder, walking up from the working
directory, that holds a ``loopml.toml`` (or, failing that, a ``.loopml/``
folder); with neither, the working directory itself. Defaults keep
everything inside the project::

    .loopml/loopml.db        SQLite metadata
    .loopml/artifacts/       content-addressed objects

``loopml.toml`` has these sections, each optional; an unknown section or
key, or a value of the wrong type, is an error that names it::

    [store]      tracking_uri, artifact_uri, trust_pickle
    [tracking]   flush_interval
    [data]       remote
    [pipeline]   entry ("module:function"), executor
    [tune]       metric, direction, n_trials, sampler, pruner, seed, space
    [models]     environments (the registry's environments, default dev, staging, prod)
    [model]      name, step, output: the model a successful ``loopml run`` registers
    [params]     the pipeline's parameters (any keys)
    [predictions] retention_days: how long the prediction log keeps its hour partitions
    [privacy]    mask, drop: input columns hashed (HMAC-SHA256) or left out of the
                 prediction log before anything is written
    [gates.ENV]  the checks a model version passes to enter environment ENV (expressions,
                 read by loopml.evaluation) and [gates.ENV.options]
    [serve]      host, port, workers, token, protect_predictions, max_request_bytes,
                 reload_seconds: ``loopml serve`` (the token may come from
                 ``LOOPML_SERVE_TOKEN`` instead, and should)
    [deployments.NAME]  a declared deployment: model (a models:/ URI), optional config
                 (a table) and reason; ``loopml deployments sync`` applies them
    [monitors.NAME]  a monitor of a deployment's prediction log: deployment, reference,
                 window, min_rows, slices, target, task, drift, alerts, sinks, cooldown,
                 label_delay (read by loopml.monitoring)
    [triggers.NAME]  what ``loopml automate`` retrains on: one of schedule (a cron
                 expression), dataset (each new version) or alert (each new alert of a
                 monitor; optional rule), and the action: pipeline, param, params, model,
                 environment, deployment, strategy, steps, interval, sinks (read by
                 loopml.automation)

Environment variables: ``LOOPML_TRACKING_URI``, ``LOOPML_ARTIFACT_URI``,
``LOOPML_TRUST_PICKLE``, ``LOOPML_DATA_REMOTE``, ``LOOPML_FLUSH_INTERVAL``,
``LOOPML_EXECUTOR``, ``LOOPML_PROJECT_DIR``, ``LOOPML_SERVE_TOKEN``; ``LOOPML_PRIVACY_KEY`` is the key of the
prediction log's masking (read by :mod:`loopml.predictions`, never stored in settings).

This module only reads; which settings are in force is the business of
:mod:`loopml.context` (``loopml.configure`` sets explicit ones).
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loopml.errors import InvalidInput
from loopml.uri import local_path, redact

__all__ = [
    "CONFIG_FILE",
    "DEFAULT_ENVIRONMENTS",
    "ENV",
    "LOCK_FILE",
    "STATE_DIR",
    "STATE_GITIGNORE",
    "DataSettings",
    "ModelsSettings",
    "PipelineSettings",
    "PredictionsSettings",
    "PrivacySettings",
    "ServeSettings",
    "Settings",
    "StoreSettings",
    "TrackingSettings",
    "TuneSettings",
    "find_project_root",
    "is_project",
    "load_settings",
    "read_project_file",
    "resolve_tracking_uri",
]

CONFIG_FILE = "loopml.toml"
_MIN_FLUSH = 0.01
_ALIAS_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}\Z")
_SCHEME_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]+:(?![\\/])")
STATE_DIR = ".loopml"
LOCK_FILE = "loopml.lock"
#: What ``.loopml/.gitignore`` holds: the state folder is never committed.
STATE_GITIGNORE = "# loopml's local state: never commit it\n*\n"

#: Setting name → the environment variable that sets it.
ENV = {
    "tracking_uri": "LOOPML_TRACKING_URI",
    "artifact_uri": "LOOPML_ARTIFACT_URI",
    "trust_pickle": "LOOPML_TRUST_PICKLE",
    "data_remote": "LOOPML_DATA_REMOTE",
    "flush_interval": "LOOPML_FLUSH_INTERVAL",
    "executor": "LOOPML_EXECUTOR",
    "serve_token": "LOOPML_SERVE_TOKEN",
}


@dataclass(frozen=True)
class StoreSettings:
    """``[store]``: where metadata and objects live (absolute, resolved). Shown with
    passwords and keys blanked. ``trust_pickle``: load pickles from this store without
    asking (only if everyone who can write it is trusted: a pickle runs code)."""

    tracking_uri: str
    artifact_uri: str
    trust_pickle: bool = False

    def __repr__(self) -> str:
        return (
            f"StoreSettings(tracking_uri={redact(self.tracking_uri)!r}, "
            f"artifact_uri={redact(self.artifact_uri)!r}, trust_pickle={self.trust_pickle!r})"
        )


@dataclass(frozen=True)
class TrackingSettings:
    """``[tracking]``: seconds between background metric flushes."""

    flush_interval: float = 1.0


@dataclass(frozen=True)
class DataSettings:
    """``[data]``: the remote ``loopml data push`` / ``pull`` use by default."""

    remote: str | None = None

    def __repr__(self) -> str:
        return f"DataSettings(remote={redact(self.remote) if self.remote else None!r})"


@dataclass(frozen=True)
class PipelineSettings:
    """``[pipeline]``: the pipeline ``loopml run`` runs (``module:function``) and where."""

    entry: str | None = None
    executor: str = "local"


@dataclass(frozen=True)
class TuneSettings:
    """``[tune]``: defaults for ``loopml tune``; ``space`` maps parameters to ranges."""

    metric: str | None = None
    direction: str | None = None
    n_trials: int | None = None
    sampler: str | None = None
    pruner: str | None = None
    seed: int | None = None
    space: dict[str, Any] = field(default_factory=dict)


#: the environments a model version is promoted through when loopml.toml names none
DEFAULT_ENVIRONMENTS = ("dev", "staging", "prod")


@dataclass(frozen=True)
class ModelsSettings:
    """``[models]``: the registry's environments (aliases with a history), in order."""

    environments: tuple[str, ...] = DEFAULT_ENVIRONMENTS


@dataclass(frozen=True)
class ModelSettings:
    """``[model]``: the model a successful ``loopml run`` registers: ``name`` in the
    registry, the ``step`` whose returned model it is (default: the one step that returns
    a model) and, for a step with named outputs, its ``output``."""

    name: str | None = None
    step: str | None = None
    output: str | None = None


@dataclass(frozen=True)
class PredictionsSettings:
    """``[predictions]``: days the prediction log keeps an hour partition
    (``loopml.predictions.prune``); None keeps them until pruned explicitly."""

    retention_days: float | None = None


@dataclass(frozen=True)
class PrivacySettings:
    """``[privacy]``: input columns of the prediction log replaced by a keyed hash
    (``mask``) or never written (``drop``)."""

    mask: tuple[str, ...] = ()
    drop: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServeSettings:
    """``[serve]``: where ``loopml serve`` listens and what it allows. ``token`` (better
    from ``LOOPML_SERVE_TOKEN``) is the bearer token feedback and every endpoint that
    changes state require, and predictions too when ``protect_predictions`` is true;
    ``max_request_bytes`` caps a request's body; ``reload_seconds`` is how often a
    server asks the metadata store for deployment changes; ``access_log`` logs every
    request (slower)."""

    host: str = "127.0.0.1"
    port: int = 8080
    workers: int = 1
    token: str | None = field(default=None, repr=False)
    protect_predictions: bool = False
    max_request_bytes: int = 10 * 1024 * 1024
    reload_seconds: float = 0.5
    access_log: bool = False

    @property
    def exposed(self) -> bool:
        """Whether ``host`` is reachable from other machines (not a loopback address)."""
        import ipaddress

        host = self.host.strip("[]")
        if host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(host).is_loopback
        except ValueError:
            return True


@dataclass(frozen=True)
class Settings:
    """Everything loopml reads from arguments, the environment and ``loopml.toml``.

    Every field is a plain public attribute; ``params`` is the ``[params]``
    table as written, ``gates`` the ``[gates.<environment>]`` tables as written
    (:func:`loopml.evaluation.read_gates` checks their expressions),
    ``deployments`` the ``[deployments.<name>]`` tables as written (their keys
    checked here; :func:`loopml.deployments.sync_deployments` applies them),
    ``monitors`` the ``[monitors.<name>]`` tables as written (loopml.monitoring checks
    and runs them), ``triggers`` the ``[triggers.<name>]`` tables (their keys and types
    checked here; loopml.automation checks the rest and runs them).
    """

    project_root: Path
    store: StoreSettings
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    data: DataSettings = field(default_factory=DataSettings)
    pipeline: PipelineSettings = field(default_factory=PipelineSettings)
    tune: TuneSettings = field(default_factory=TuneSettings)
    models: ModelsSettings = field(default_factory=ModelsSettings)
    model: ModelSettings = field(default_factory=ModelSettings)
    predictions: PredictionsSettings = field(default_factory=PredictionsSettings)
    privacy: PrivacySettings = field(default_factory=PrivacySettings)
    serve: ServeSettings = field(default_factory=ServeSettings)
    params: dict[str, Any] = field(default_factory=dict, compare=False)
    gates: dict[str, Any] = field(default_factory=dict, compare=False)
    deployments: dict[str, Any] = field(default_factory=dict, compare=False)
    monitors: dict[str, Any] = field(default_factory=dict, compare=False)
    triggers: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def tracking_uri(self) -> str:
        """Shorthand for ``store.tracking_uri``."""
        return self.store.tracking_uri

    @property
    def artifact_uri(self) -> str:
        """Shorthand for ``store.artifact_uri``."""
        return self.store.artifact_uri

    @property
    def state_dir(self) -> Path:
        """``<project>/.loopml``: the database, objects and caches by default."""
        return self.project_root / STATE_DIR

    @property
    def lock_path(self) -> Path:
        """``<project>/loopml.lock``."""
        return self.project_root / LOCK_FILE


# -- reading ------------------------------------------------------------------------

# section -> key -> (type description, checker); a section not listed here is unknown
_STR = ("a string", lambda v: isinstance(v, str))
_NUMBER = ("a number", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool))
_INT = ("a whole number", lambda v: isinstance(v, int) and not isinstance(v, bool))
_BOOL = ("true or false", lambda v: isinstance(v, bool))
_TABLE = ("a table", lambda v: isinstance(v, Mapping))
_NAMES = (
    "a non-empty list of distinct names (letters, digits, '_' or '-', starting with a letter)",
    lambda v: (
        isinstance(v, list)
        and bool(v)
        and len(set(v)) == len(v)
        and all(isinstance(x, str) and _ALIAS_NAME.match(x) for x in v)
    ),
)
_COLUMNS = (
    "a list of distinct, non-empty column names",
    lambda v: (
        isinstance(v, list)
        and len(set(v)) == len(v)
        and all(isinstance(x, str) and x.strip() and "\x00" not in x for x in v)
    ),
)
_DAYS = (
    "a positive number of days",
    lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v < float("inf"),
)
_SCHEMA: dict[str, dict[str, tuple[str, Any]]] = {
    "store": {"tracking_uri": _STR, "artifact_uri": _STR, "trust_pickle": _BOOL},
    "tracking": {"flush_interval": _NUMBER},
    "data": {"remote": _STR},
    "pipeline": {"entry": _STR, "executor": _STR},
    "tune": {
        "metric": _STR,
        "direction": _STR,
        "n_trials": _INT,
        "sampler": _STR,
        "pruner": _STR,
        "seed": _INT,
        "space": _TABLE,
    },
    "models": {"environments": _NAMES},
    "model": {"name": _STR, "step": _STR, "output": _STR},
    "params": {},
    "gates": {},
    "deployments": {},
    "monitors": {},
    "triggers": {},
    "predictions": {"retention_days": _DAYS},
    "privacy": {"mask": _COLUMNS, "drop": _COLUMNS},
    "serve": {
        "host": _STR,
        "port": ("a port number from 0 to 65535", lambda v: _INT[1](v) and 0 <= v <= 65535),
        "workers": ("a whole number from 1 to 64", lambda v: _INT[1](v) and 1 <= v <= 64),
        "token": ("a non-empty string", lambda v: isinstance(v, str) and bool(v.strip())),
        "protect_predictions": _BOOL,
        "access_log": _BOOL,
        "max_request_bytes": (
            "a whole number of bytes from 1 KiB to 1 GiB",
            lambda v: _INT[1](v) and 1024 <= v <= 2**30,
        ),
        "reload_seconds": (
            "a number of seconds from 0.05 to 60",
            lambda v: _NUMBER[1](v) and 0.05 <= v <= 60,
        ),
    },
}

_DEPLOYMENT_KEYS: dict[str, tuple[str, Any]] = {
    "model": _STR,
    "config": _TABLE,
    "reason": _STR,
}
_TEXTS = (
    "a list of non-empty strings",
    lambda v: isinstance(v, list) and all(isinstance(x, str) and x.strip() for x in v),
)
_TRIGGER_KEYS: dict[str, tuple[str, Any]] = {
    "schedule": _STR,
    "dataset": _STR,
    "alert": _STR,
    "rule": _STR,
    "pipeline": _STR,
    "param": _STR,
    "params": _TABLE,
    "model": _STR,
    "environment": _STR,
    "deployment": _STR,
    "strategy": _STR,
    "steps": (
        "percents as text ('5,25,100') or a list of whole numbers",
        lambda v: isinstance(v, str) or (isinstance(v, list) and all(_INT[1](x) for x in v)),
    ),
    "interval": ("seconds (a number) or text like '30s'", lambda v: _NUMBER[1](v) or _STR[1](v)),
    "sinks": _TEXTS,
}
_TRIGGER_ON = ("schedule", "dataset", "alert")
_DEPLOYMENT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,254}\Z")


def find_project_root(start: Path | None = None) -> Path:
    """The nearest folder at or above ``start`` holding ``loopml.toml`` or ``.loopml/``."""
    env = os.environ.get("LOOPML_PROJECT_DIR")
    if env:
        return Path(env).resolve()
    here = (start or Path.cwd()).resolve()
    candidates = [here, *here.parents]
    for folder in candidates:
        if (folder / CONFIG_FILE).is_file():
            return folder
    for folder in candidates:
        if (folder / STATE_DIR).is_dir():
            return folder
    return here


def is_project(root: Path) -> bool:
    """Whether ``root`` is a loopml project: it holds ``loopml.toml`` or ``.loopml/``."""
    return (root / CONFIG_FILE).is_file() or (root / STATE_DIR).is_dir()


def read_project_file(root: Path) -> dict[str, Any]:
    """Parse and check ``root/loopml.toml``; an empty dict when there is none."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            doc = tomllib.load(fh)
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}. Fix the file or remove it.") from None
    except RecursionError:
        raise InvalidInput(
            f"{path} nests tables or arrays too deeply to be a loopml.toml."
        ) from None
    _check(doc, path)
    return doc


def _check(doc: dict[str, Any], path: Path) -> None:
    for section, body in doc.items():
        keys = _SCHEMA.get(section)
        if keys is None:
            raise InvalidInput(
                f"{path}: unknown section [{section}]; expected one of "
                f"{', '.join(f'[{s}]' for s in _SCHEMA)}. Check the spelling."
            )
        if not isinstance(body, dict):
            raise InvalidInput(f"{path}: {section} must be a table ([{section}]), got {body!r}.")
        if section == "params":
            continue
        if section == "gates":
            _check_gates(body, doc, path)
            continue
        if section == "deployments":
            _check_deployments(body, path)
            continue
        if section == "monitors":
            _check_monitors(body, path)
            continue
        if section == "triggers":
            _check_triggers(body, path)
            continue
        _check_keys(body, keys, path, section)
    privacy = doc.get("privacy") or {}
    both = sorted(set(privacy.get("mask") or ()) & set(privacy.get("drop") or ()))
    if both:
        raise InvalidInput(
            f"{path}: [privacy] lists {', '.join(map(repr, both))} under both mask and drop; "
            "keep each column in one of them."
        )


def _check_keys(
    table: Mapping[str, Any], keys: Mapping[str, tuple[str, Any]], path: Path, where: str
) -> None:
    """Each key of ``table`` (``[where]`` in the file) is one of ``keys`` and holds a value
    of its type."""
    for key, value in table.items():
        if key not in keys:
            raise InvalidInput(
                f"{path}: unknown key {key!r} in [{where}]; expected one of {', '.join(keys)}."
            )
        what, ok = keys[key]
        if not ok(value):
            raise InvalidInput(f"{path}: [{where}] {key} must be {what}, got {value!r}.")


def _check_gates(body: dict[str, Any], doc: dict[str, Any], path: Path) -> None:
    """``[gates.<env>]``: one table per environment of ``[models] environments``; what
    is inside (expressions, options) is checked by loopml.evaluation when it reads them."""
    models = doc.get("models")
    envs = models.get("environments") if isinstance(models, dict) else None
    known = tuple(envs) if isinstance(envs, list) and envs else DEFAULT_ENVIRONMENTS
    for env, table in body.items():
        if env not in known:
            raise InvalidInput(
                f"{path}: [gates.{env}] names no environment: expected one of "
                f"{', '.join(known)} (the environments are set under [models] environments)."
            )
        if not isinstance(table, dict):
            raise InvalidInput(
                f"{path}: gates.{env} must be a table of checks ([gates.{env}] with lines "
                f'such as "metrics.f1" = ">= 0.85"), got {table!r}.'
            )


def _named_tables(
    body: dict[str, Any],
    path: Path,
    section: str,
    noun: str,
    example: str,
    hint: str,
    keys: Mapping[str, tuple[str, Any]] | None,
) -> Iterator[tuple[str, dict[str, Any]]]:
    """The ``(name, table)`` pairs of ``[<section>.<name>]`` tables, each checked as it
    is yielded: a name that can stand in a URI (``noun`` and ``example`` word the error),
    a table (``hint``, formatted with ``{name}``, shows what goes in it) and, unless
    ``keys`` is None, only known keys holding values of the right type."""
    for name, table in body.items():
        if not _DEPLOYMENT_NAME.match(name):
            raise InvalidInput(
                f"{path}: [{section}.{name}] is not a {noun} name: expected letters, "
                f"digits, '.', '_' or '-', starting with a letter or digit (e.g. '{example}')."
            )
        if not isinstance(table, dict):
            raise InvalidInput(
                f"{path}: {section}.{name} must be a table ([{section}.{name}] with "
                f"{hint.format(name=name)}), got {table!r}."
            )
        if keys is not None:
            _check_keys(table, keys, path, f"{section}.{name}")
        yield name, table


def _check_deployments(body: dict[str, Any], path: Path) -> None:
    """``[deployments.<name>]``: a name that can stand in a URI, ``model`` (required),
    optional ``config`` (a table) and ``reason``; loopml.deployments checks the URI and
    the config's values when it applies them."""
    for name, table in _named_tables(
        body,
        path,
        "deployments",
        "deployment",
        "churn",
        'model = "models:/<name>@<alias>"',
        _DEPLOYMENT_KEYS,
    ):
        if "model" not in table:
            raise InvalidInput(
                f"{path}: [deployments.{name}] names no model: add "
                'model = "models:/<name>@<alias>" (or models:/<name>/<version>).'
            )


def _check_monitors(body: dict[str, Any], path: Path) -> None:
    """``[monitors.<name>]``: a name that can stand in a URI and a table;
    loopml.monitoring checks its keys and values when it reads them."""
    for _ in _named_tables(
        body, path, "monitors", "monitor", "churn", 'deployment = "{name}"', None
    ):
        pass


def _check_triggers(body: dict[str, Any], path: Path) -> None:
    """``[triggers.<name>]``: a name that can stand in a URI, known keys of the right
    types, and what fires it: ``schedule`` or ``alert``, else ``dataset`` (loopml.automation
    checks the cron expression and that the names it holds exist when it runs them)."""
    for name, table in _named_tables(
        body,
        path,
        "triggers",
        "trigger",
        "nightly",
        'schedule = "0 3 * * *", dataset = "churn" or alert = "churn"',
        _TRIGGER_KEYS,
    ):
        on = [k for k in _TRIGGER_ON if k in table]
        if not on:
            raise InvalidInput(
                f"{path}: [triggers.{name}] says nothing that fires it: add schedule = "
                '"<cron expression>", dataset = "<dataset>" (each new version) or alert = '
                '"<monitor>" (each new alert).'
            )
        if "schedule" in on and "alert" in on:
            raise InvalidInput(
                f"{path}: [triggers.{name}] has both schedule and alert: a trigger fires on one "
                "of them; declare two triggers."
            )
        if "rule" in table and "alert" not in table:
            raise InvalidInput(
                f"{path}: [triggers.{name}] rule narrows an alert trigger: add alert = "
                '"<monitor>", or remove rule.'
            )


def _serve(table: Mapping[str, Any], token: Any) -> ServeSettings:
    token = str(token).strip() if token else None
    defaults = ServeSettings()
    return ServeSettings(
        host=str(table.get("host", defaults.host)),
        port=int(table.get("port", defaults.port)),
        workers=int(table.get("workers", defaults.workers)),
        token=token or None,
        protect_predictions=bool(table.get("protect_predictions", False)),
        max_request_bytes=int(table.get("max_request_bytes", defaults.max_request_bytes)),
        reload_seconds=float(table.get("reload_seconds", defaults.reload_seconds)),
        access_log=bool(table.get("access_log", False)),
    )


def load_settings(
    project_root: str | os.PathLike[str] | None = None,
    explicit: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Resolve the settings of the project at ``project_root`` (default: found from the
    working directory); ``explicit`` values (``tracking_uri=...``) win over everything."""
    given = {k: v for k, v in (explicit or {}).items() if v is not None}
    env = os.environ if environ is None else environ
    root = Path(project_root).resolve() if project_root is not None else find_project_root()
    doc = read_project_file(root)

    def pick(name: str, section: str, key: str) -> Any:
        if name in given:
            return given[name]
        value = env.get(ENV[name]) if name in ENV else None
        if value:
            return value
        return (doc.get(section) or {}).get(key)

    tracking = (
        pick("tracking_uri", "store", "tracking_uri")
        or f"sqlite:///{root / STATE_DIR / 'loopml.db'}"
    )
    artifacts = pick("artifact_uri", "store", "artifact_uri") or str(root / STATE_DIR / "artifacts")
    remote = pick("data_remote", "data", "remote")
    pipeline = doc.get("pipeline") or {}
    tune = doc.get("tune") or {}
    models = doc.get("models") or {}
    model = doc.get("model") or {}
    predictions = doc.get("predictions") or {}
    privacy = doc.get("privacy") or {}
    return Settings(
        project_root=root,
        store=StoreSettings(
            tracking_uri=resolve_tracking_uri(str(tracking), root),
            artifact_uri=_resolve_local(str(artifacts), root),
            trust_pickle=_flag(pick("trust_pickle", "store", "trust_pickle"), "trust_pickle"),
        ),
        tracking=TrackingSettings(
            flush_interval=_flush_interval(pick("flush_interval", "tracking", "flush_interval"))
        ),
        data=DataSettings(remote=_resolve_local(str(remote), root) if remote else None),
        pipeline=PipelineSettings(
            entry=pipeline.get("entry"),
            executor=str(pick("executor", "pipeline", "executor") or "local").strip(),
        ),
        tune=TuneSettings(
            metric=tune.get("metric"),
            direction=tune.get("direction"),
            n_trials=tune.get("n_trials"),
            sampler=tune.get("sampler"),
            pruner=tune.get("pruner"),
            seed=tune.get("seed"),
            space=dict(tune.get("space") or {}),
        ),
        models=ModelsSettings(
            environments=tuple(models.get("environments") or DEFAULT_ENVIRONMENTS)
        ),
        model=ModelSettings(
            name=model.get("name"), step=model.get("step"), output=model.get("output")
        ),
        predictions=PredictionsSettings(retention_days=predictions.get("retention_days")),
        privacy=PrivacySettings(
            mask=tuple(privacy.get("mask") or ()), drop=tuple(privacy.get("drop") or ())
        ),
        serve=_serve(doc.get("serve") or {}, pick("serve_token", "serve", "token")),
        params=dict(doc.get("params") or {}),
        gates=dict(doc.get("gates") or {}),
        deployments=dict(doc.get("deployments") or {}),
        monitors=dict(doc.get("monitors") or {}),
        triggers=dict(doc.get("triggers") or {}),
    )


_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _flag(value: Any, name: str) -> bool:
    """A yes/no setting: a TOML boolean, or an environment variable's 1/0, true/false."""
    if value is None or isinstance(value, bool):
        return bool(value)
    text = str(value).strip().lower()
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise InvalidInput(
        f"{name} must be true or false, got {value!r}. Set {ENV[name]}=1 (or 0), or "
        f"{name} = true under [store] in {CONFIG_FILE}."
    )


def _flush_interval(value: Any) -> float:
    if value is None:
        return 1.0
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise InvalidInput(
            f"flush_interval must be a number of seconds, got {value!r}. "
            "Set LOOPML_FLUSH_INTERVAL or [tracking] flush_interval to e.g. 1.0."
        ) from None
    if not _MIN_FLUSH <= seconds < float("inf"):
        raise InvalidInput(
            f"flush_interval must be a number of seconds from {_MIN_FLUSH} up, got {value!r}."
        )
    return seconds


def _resolve_local(uri: str, root: Path) -> str:
    """A local path made absolute against the project root; URLs are left alone."""
    path = local_path(uri)
    if path is None:
        return uri
    p = Path(path).expanduser()
    return str(p if p.is_absolute() else (root / p).resolve())


def resolve_tracking_uri(uri: str, root: Path) -> str:
    """Accept ``sqlite:///rel.db``, ``sqlite:////abs.db``, a bare ``*.db`` path (``~`` is
    expanded) or a database URL."""
    if uri.startswith("sqlite:///"):
        rest = uri[len("sqlite:///") :]
        if rest in ("", ":memory:"):
            return uri
        path = Path(rest).expanduser()
        if not path.is_absolute():
            path = (root / path).resolve()
        return f"sqlite:///{path}"
    if "://" not in uri:
        if _SCHEME_PREFIX.match(uri):
            raise InvalidInput(
                f"malformed tracking URI {redact(uri)!r}: expected 'sqlite:///path/to.db', "
                "'postgresql://user@host/db' or a plain path to a .db file."
            )
        return resolve_tracking_uri(f"sqlite:///{uri}", root)
    return uri
