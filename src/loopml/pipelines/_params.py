"""Pipeline parameters: defaults, project files and overrides, resolved before any work.

A pipeline's parameters are its function's keyword parameters. Their values
come from, last wins:

1. the function's defaults;
2. ``params.yaml`` at the project root, then the ``[params]`` table of
   ``loopml.toml`` (dicts are merged key by key; names the pipeline does not
   take are ignored, so several pipelines can share the files);
3. keyword arguments given in Python (``train(max_depth=6)``);
4. overrides such as ``-p model.max_depth=6`` (dotted keys reach into dict
   parameters; values are parsed as TOML scalars, so ``6`` is an int,
   ``0.1`` a float, ``true`` a bool and anything unparseable a string).

An override or keyword naming an unknown parameter is an error listing the
known ones.
"""

from __future__ import annotations

import copy
import inspect
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from loopml.errors import InvalidInput

__all__ = ["flatten", "parse_override", "resolve_params"]


def parse_override(text: str) -> tuple[str, Any]:
    """``"model.max_depth=6"`` → ``("model.max_depth", 6)``."""
    key, sep, raw = text.partition("=")
    key = key.strip()
    if not sep or not key:
        raise InvalidInput(
            f"invalid parameter override {text!r}: expected key=value, e.g. -p max_depth=6 "
            "or -p model.max_depth=6."
        )
    return key, parse_value(raw.strip())


def parse_value(raw: str) -> Any:
    """A TOML scalar (``6``, ``0.1``, ``true``, ``"text"``, ``[1, 2]``), else the text itself."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover - exercised on 3.10 only
        import tomli as tomllib
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def resolve_params(
    signature: inspect.Signature,
    pipeline: str,
    root: Path,
    params_table: Mapping[str, Any],
    kwargs: Mapping[str, Any],
    overrides: Iterable[str] | Mapping[str, Any] = (),
) -> dict[str, Any]:
    """The value of every parameter of the pipeline, or a clear error naming what is wrong.

    ``params_table`` is the ``[params]`` table of loopml.toml (``Settings.params``)."""
    known = [
        p.name
        for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
    ]
    values: dict[str, Any] = {}
    for p in signature.parameters.values():
        if p.name in known and p.default is not p.empty:
            values[p.name] = copy.deepcopy(p.default)

    for source in (_params_yaml(root), params_table):
        for key, value in source.items():
            if key in known:
                values[key] = _merge(values.get(key), value)

    unknown = [k for k in kwargs if k not in known]
    if unknown:
        raise _unknown(unknown[0], known, pipeline)
    values.update(kwargs)

    pairs = (
        list(overrides.items())
        if isinstance(overrides, Mapping)
        else [parse_override(o) for o in overrides]
    )
    for key, value in pairs:
        _set_dotted(values, key, value, known, pipeline)

    missing = [k for k in known if k not in values]
    if missing:
        raise InvalidInput(
            f"pipeline {pipeline!r} needs a value for parameter {missing[0]!r}, and none was "
            f"given. Set it with -p {missing[0]}=..., in [params] of loopml.toml, or give "
            "the parameter a default."
        )
    return values


def flatten(values: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested dicts as dotted keys: ``{"model": {"depth": 3}}`` → ``{"model.depth": 3}``."""
    flat: dict[str, Any] = {}
    for key, value in values.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def _set_dotted(
    values: dict[str, Any], key: str, value: Any, known: list[str], pipeline: str
) -> None:
    head, *rest = key.split(".")
    if head not in known:
        raise _unknown(key, known, pipeline)
    if not rest:
        values[head] = value
        return
    target = values.get(head)
    path = head
    for part in rest[:-1]:
        if not isinstance(target, dict):
            break
        target = target.get(part)
        path = f"{path}.{part}"
    if not isinstance(target, dict) or rest[-1] not in target:
        keys = (
            sorted(flatten(values[head], head + ".")) if isinstance(values.get(head), dict) else []
        )
        raise InvalidInput(
            f"unknown parameter {key!r} for pipeline {pipeline!r}: expected one of "
            f"{', '.join(keys) or head}. Dotted keys can only set keys that "
            f"{head!r} already has."
        )
    target[rest[-1]] = value


def _unknown(key: str, known: list[str], pipeline: str) -> InvalidInput:
    return InvalidInput(
        f"unknown parameter {key!r} for pipeline {pipeline!r}: expected one of "
        f"{', '.join(known) or '(it takes no parameters)'}. Check the spelling, or add the "
        "parameter to the pipeline function."
    )


def _merge(base: Any, update: Any) -> Any:
    if isinstance(base, dict) and isinstance(update, Mapping):
        merged = dict(base)
        for key, value in update.items():
            merged[key] = _merge(merged.get(key), value)
        return merged
    return copy.deepcopy(update)


def _params_yaml(root: Path) -> Mapping[str, Any]:
    return read_params_yaml(root / "params.yaml") or {}


#: The most values a params.yaml may expand to (YAML aliases can repeat a list many times).
_MAX_VALUES = 1_000_000


def read_params_yaml(path: Path) -> dict[str, Any] | None:
    """The mapping in the parameters file at ``path``; None when there is none. A file that
    is not YAML, not a mapping with text keys, or that expands to more than a million values
    is an :class:`InvalidInput` naming it (the file comes with ``git pull``)."""
    from loopml import _files

    raw = _files.read_small(path, "parameters file")
    if raw is None:
        return None
    try:
        import yaml
    except ImportError as exc:
        raise InvalidInput(
            f"{path} needs PyYAML to be read: pip install pyyaml (or move the values to "
            "[params] in loopml.toml)."
        ) from exc
    try:
        data = yaml.safe_load(raw.decode("utf-8")) or {}
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{path} is not UTF-8 text ({exc.reason}). Fix the file.") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f", line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise InvalidInput(
            f"{path}{line}: not valid YAML ({problem}). Fix the file, or remove it."
        ) from None
    except RecursionError:
        raise InvalidInput(f"{path} nests values too deeply to be a parameters file.") from None
    if not isinstance(data, dict):
        raise InvalidInput(f"{path} must hold a mapping of parameter names to values.")
    _check_values(data, path)
    return data


def _check_values(data: dict[str, Any], path: Path) -> None:
    """Refuse keys that are not text, and aliases that expand to too many values."""
    seen = 0
    todo: list[Any] = [data]
    while todo:
        node = todo.pop()
        seen += 1
        if seen > _MAX_VALUES:
            raise InvalidInput(
                f"{path} expands to more than {_MAX_VALUES:,} values (through YAML aliases); "
                "a parameters file holds a few. Fix the file, or remove it."
            )
        if isinstance(node, dict):
            for key, value in node.items():
                if not isinstance(key, str):
                    raise InvalidInput(
                        f"{path}: the key {key!r} is not text; parameter names are text. "
                        "Quote it, or fix the file."
                    )
                todo.append(value)
        elif isinstance(node, (list, tuple, set)):
            todo.extend(node)
