"""Settings: explicit argument → environment → ``loopml.toml`` → defaults.

The project root is the nearest folder, walking up from the working
directory, that holds a ``loopml.toml`` (or, failing that, a ``.loopml/``
folder); with neither, the working directory itself. Defaults keep
everything inside the project::

    .loopml/loopml.db        SQLite metadata
    .loopml/artifacts/       content-addressed objects

Environment variables: ``LOOPML_TRACKING_URI``, ``LOOPML_ARTIFACT_URI``,
``LOOPML_DATA_REMOTE``, ``LOOPML_FLUSH_INTERVAL``, ``LOOPML_PROJECT_DIR``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from loopml.errors import InvalidInput

__all__ = [
    "CONFIG_FILE",
    "STATE_DIR",
    "Settings",
    "configure",
    "find_project_root",
    "get_settings",
    "load_project_file",
]

CONFIG_FILE = "loopml.toml"
STATE_DIR = ".loopml"
LOCK_FILE = "loopml.lock"

_ENV = {
    "tracking_uri": "LOOPML_TRACKING_URI",
    "artifact_uri": "LOOPML_ARTIFACT_URI",
    "data_remote": "LOOPML_DATA_REMOTE",
    "flush_interval": "LOOPML_FLUSH_INTERVAL",
}
_FILE_KEYS = {
    "tracking_uri": ("store", "tracking_uri"),
    "artifact_uri": ("store", "artifact_uri"),
    "data_remote": ("data", "remote"),
    "flush_interval": ("tracking", "flush_interval"),
}


@dataclass(frozen=True)
class Settings:
    """Where loopml keeps things, resolved once per process and project.

    Every field is a plain public attribute; ``config`` holds the whole
    parsed ``loopml.toml`` (empty when there is none) for the sections later
    parts of loopml read (pipeline, gates, monitors, ...).
    """

    project_root: Path
    tracking_uri: str
    artifact_uri: str
    data_remote: str | None = None
    flush_interval: float = 1.0
    config: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def state_dir(self) -> Path:
        return self.project_root / STATE_DIR

    @property
    def lock_path(self) -> Path:
        return self.project_root / LOCK_FILE


_overrides: dict[str, Any] = {}
_cache: dict[tuple[Any, ...], Settings] = {}


def configure(
    *,
    tracking_uri: str | None = None,
    artifact_uri: str | None = None,
    data_remote: str | None = None,
    project_root: str | os.PathLike[str] | None = None,
) -> Settings:
    """Set process-wide settings that win over environment and ``loopml.toml``.

    Example::

        loopml.configure(tracking_uri="postgresql://postgres@127.0.0.1/test")
    """
    for key, value in (
        ("tracking_uri", tracking_uri),
        ("artifact_uri", artifact_uri),
        ("data_remote", data_remote),
        ("project_root", project_root),
    ):
        if value is not None:
            _overrides[key] = str(value)
    _cache.clear()
    return get_settings()


def reset() -> None:
    """Forget settings given to :func:`configure` (tests use this)."""
    _overrides.clear()
    _cache.clear()


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


def load_project_file(root: Path) -> dict[str, Any]:
    """Parse ``root/loopml.toml``; an empty dict when there is none."""
    path = root / CONFIG_FILE
    if not path.is_file():
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise InvalidInput(f"{path} is not valid TOML: {exc}. Fix the file or remove it.") from exc


def get_settings(**explicit: Any) -> Settings:
    """Resolve the settings for the current working directory.

    Keyword arguments (``tracking_uri=...``) win over everything else.
    """
    explicit = {k: v for k, v in explicit.items() if v is not None}
    env_key = tuple(os.environ.get(v) for v in _ENV.values())
    key = (
        os.getcwd(),
        os.environ.get("LOOPML_PROJECT_DIR"),
        env_key,
        tuple(sorted(_overrides.items())),
        tuple(sorted((k, str(v)) for k, v in explicit.items())),
    )
    cached = _cache.get(key)
    if cached is not None:
        return cached

    root_value = explicit.get("project_root") or _overrides.get("project_root")
    root = Path(root_value).resolve() if root_value else find_project_root()
    file_cfg = load_project_file(root)

    def pick(name: str) -> Any:
        if name in explicit:
            return explicit[name]
        if name in _overrides:
            return _overrides[name]
        env = os.environ.get(_ENV[name])
        if env:
            return env
        section, item = _FILE_KEYS[name]
        value = file_cfg.get(section, {}).get(item)
        return value

    tracking = pick("tracking_uri") or f"sqlite:///{root / STATE_DIR / 'loopml.db'}"
    artifacts = pick("artifact_uri") or str(root / STATE_DIR / "artifacts")
    flush = pick("flush_interval")
    try:
        flush_interval = float(flush) if flush is not None else 1.0
    except ValueError as exc:
        raise InvalidInput(
            f"flush_interval must be a number of seconds, got {flush!r}. "
            "Set LOOPML_FLUSH_INTERVAL or [tracking] flush_interval to e.g. 1.0."
        ) from exc
    if flush_interval <= 0:
        raise InvalidInput(f"flush_interval must be > 0 seconds, got {flush_interval}.")
    settings = Settings(
        project_root=root,
        tracking_uri=_resolve_tracking_uri(str(tracking), root),
        artifact_uri=_resolve_local(str(artifacts), root),
        data_remote=_resolve_local(str(r), root) if (r := pick("data_remote")) else None,
        flush_interval=flush_interval,
        config=file_cfg,
    )
    _cache[key] = settings
    return settings


def with_overrides(settings: Settings, **changes: Any) -> Settings:
    """A copy of ``settings`` with some fields changed."""
    return replace(settings, **changes)


def _resolve_local(uri: str, root: Path) -> str:
    """Make a relative local path absolute against the project root; leave URLs alone."""
    if "://" in uri:
        if uri.startswith("file://"):
            return str(Path(uri[len("file://") :]).resolve())
        return uri
    path = Path(uri).expanduser()
    return str(path if path.is_absolute() else (root / path).resolve())


def _resolve_tracking_uri(uri: str, root: Path) -> str:
    """Accept ``sqlite:///rel.db``, ``sqlite:////abs.db``, a bare ``*.db`` path or a DB URL."""
    if uri.startswith("sqlite:///"):
        rest = uri[len("sqlite:///") :]
        if rest in ("", ":memory:"):
            return uri
        path = Path(rest)
        if not path.is_absolute():
            path = (root / path).resolve()
        return f"sqlite:///{path}"
    if "://" not in uri:
        return _resolve_tracking_uri(f"sqlite:///{uri}", root)
    return uri
