"""Run artifacts: files stored content-addressed, listed per run in ``run_artifacts``.

Each logged file becomes one object in the artifact store (identical bytes
are stored once) and one row ``(run_id, path, digest, size)``; the run holds
a reference to the object (owner ``runs:/<id>``), recorded in the same
transaction, so ``loopml gc`` keeps it (see ``_repository.record_artifacts``).
Logging a path again replaces it.

Reading back: :func:`list_artifacts`, :func:`get_artifact` (materialises a
file or folder in the project's cache and returns its local path) and
:func:`download_artifact` / :func:`download_artifacts` (copy them where you say).
"""

from __future__ import annotations

import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any

from loopml import _validate
from loopml.context import current
from loopml.errors import Conflict, InvalidInput, NotFound
from loopml.store.artifacts import ArtifactStore, hash_bytes, hash_file
from loopml.store.metadata import MetadataStore
from loopml.tracking import _repository
from loopml.tracking._records import ArtifactEntry
from loopml.tracking._validate import check_flag, check_run_id
from loopml.uri import parse_run_uri

__all__ = [
    "DownloadedFile",
    "clean_path",
    "download_artifact",
    "download_artifacts",
    "get_artifact",
    "get_git_diff",
    "list_artifacts",
    "log_dict",
    "log_figure",
    "log_path",
]

_IMAGE_TYPES = frozenset({"png", "svg", "pdf", "jpg", "jpeg", "eps", "ps", "tif", "tiff", "webp"})


def clean_path(path: str, what: str = "artifact path") -> str:
    """``path`` as a relative POSIX path without ``.``/``..`` parts; InvalidInput otherwise."""
    _validate.text(path, what, empty=True)
    parts = [p for p in path.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        raise InvalidInput(
            f"invalid {what} {path!r}: expected a relative path inside the run such as "
            "'plots/roc.png' (no '..', not empty)."
        )
    clean = "/".join(parts)
    if len(clean) > 1024:
        raise InvalidInput(f"{what} {clean[:60]!r}... is longer than 1024 characters.")
    return clean


def log_path(
    store: MetadataStore,
    artifacts: ArtifactStore,
    run_id: str,
    path: str | os.PathLike[str],
    artifact_path: str | None,
) -> list[ArtifactEntry]:
    """Store the file or every file under the folder at ``path``; see ``ActiveRun.log_artifact``."""
    src = _validate.path(path, "artifact source path")
    if not src.exists():
        raise NotFound(f"cannot log artifact {str(src)!r}: no such file or folder.")
    prefix = clean_path(artifact_path) + "/" if artifact_path else ""
    name = src.resolve().name
    if src.is_dir():
        files = sorted(_files_under(src))
        pairs = [(f, prefix + name + "/" + f.relative_to(src).as_posix()) for f in files]
    else:
        pairs = [(src, prefix + name)]
    _validate.file_names([dest for _, dest in pairs], str(src))
    entries = []
    with artifacts.batch():  # every object on the disk before the rows are recorded
        for file, dest in pairs:
            try:
                info = artifacts.put_file(file)
            except (PermissionError, IsADirectoryError) as exc:
                raise InvalidInput(
                    f"cannot log artifact {str(file)!r}: {exc.strerror}. Expected a file this "
                    "process can read: fix its permissions, or leave it out."
                ) from None
            except FileNotFoundError:
                raise NotFound(
                    f"cannot log artifact {str(file)!r}: it disappeared while it was being "
                    "stored. Log it again once nothing else is changing it."
                ) from None
            entries.append(ArtifactEntry(run_id, dest, info.digest, info.size))
    _repository.log_artifacts(store, run_id, entries)
    return entries


def _files_under(folder: Path) -> list[Path]:
    """Every file under ``folder``; links to files are followed, while a link to a folder or
    to nothing is refused, naming it (never skipped without a word)."""
    files = []
    for p in folder.rglob("*"):
        if p.is_symlink() and not p.is_file():
            target = os.readlink(p)
            what = "a folder" if p.is_dir() else "nothing that exists"
            raise InvalidInput(
                f"cannot log artifact {str(p)!r}: it is a link to {what} ({target}). loopml "
                "does not follow links to folders inside an artifact folder; log the linked "
                "folder by itself, or replace the link with a copy."
            )
        if p.is_file():
            files.append(p)
    return files


def log_bytes(
    store: MetadataStore, artifacts: ArtifactStore, run_id: str, data: bytes, name: str
) -> ArtifactEntry:
    """Store ``data`` as the artifact ``name`` of the run."""
    dest = clean_path(name)
    info = artifacts.put_bytes(data)
    entry = ArtifactEntry(run_id, dest, info.digest, info.size)
    _repository.log_artifacts(store, run_id, [entry])
    return entry


def log_dict(
    store: MetadataStore,
    artifacts: ArtifactStore,
    run_id: str,
    data: Mapping[str, Any] | list[Any],
    name: str,
) -> ArtifactEntry:
    """Store ``data`` as JSON, or YAML when ``name`` ends in ``.yaml``/``.yml``.

    What is stored reads back as the same values: NaN and ±infinity are written
    ``NaN``, ``Infinity``, ``-Infinity`` in JSON (as Python's :mod:`json` writes
    and reads them; strict JSON parsers refuse them, so name the artifact
    ``.yaml``, where they are ``.nan`` and ``.inf``, for other readers), and
    integers keep every digit. A value that would come back different is
    refused with a message: a dict key that is not a string in JSON (YAML keeps
    int, float and bool keys), a Decimal, a NumPy value beyond float range.
    NumPy scalars and arrays become numbers and lists; tuples become lists;
    dates, times and UUIDs become their ISO text.
    """
    dest = clean_path(name)
    as_yaml = dest.lower().endswith((".yaml", ".yml"))
    plain, special = _Plain(dest, as_yaml).convert(data)
    if as_yaml:
        try:
            import yaml
        except ImportError:
            raise InvalidInput(
                f"storing {dest!r} as YAML needs PyYAML (pip install pyyaml); "
                "or give the artifact a .json name."
            ) from None
        text = yaml.safe_dump(plain, sort_keys=False, allow_unicode=True)
        payload = text.encode()
    elif special:  # NaN, infinities or integers beyond 64 bits: what orjson cannot write
        import json

        text = json.dumps(plain, indent=2, ensure_ascii=False, allow_nan=True)
        payload = text.encode("utf-8") + b"\n"
    else:
        import orjson

        payload = orjson.dumps(plain, option=orjson.OPT_INDENT_2) + b"\n"
    return log_bytes(store, artifacts, run_id, payload, dest)


_INT64 = (-(2**63), 2**64 - 1)
_YAML_KEYS = (str, int, float, bool, type(None))


class _Plain:
    """Turns what :func:`log_dict` is given into plain dicts, lists, strings, numbers,
    booleans and None, refusing what would not read back the same."""

    def __init__(self, dest: str, as_yaml: bool) -> None:
        self.dest = dest
        self.as_yaml = as_yaml
        self.special = False

    def convert(self, value: Any) -> tuple[Any, bool]:
        plain = self.walk(value, "", 0)
        return plain, self.special

    def refuse(self, where: str, problem: str, fix: str) -> InvalidInput:
        at = f" at {where}" if where else ""
        kind = "YAML" if self.as_yaml else "JSON"
        return InvalidInput(f"cannot store {self.dest!r} as {kind}: the value{at} {problem}. {fix}")

    def walk(self, value: Any, where: str, depth: int) -> Any:
        import math

        if depth > 200:
            raise self.refuse(where, "nests more than 200 levels deep", "Store a flatter value.")
        if value is None:
            return None
        if isinstance(value, bool):
            return bool(value)
        if isinstance(value, str):
            return self.text(value, where)
        if isinstance(value, int):
            whole = int(value)
            if not _INT64[0] <= whole <= _INT64[1]:
                self.special = True
            return whole
        if isinstance(value, float):
            number = float(value)
            if not math.isfinite(number):
                self.special = True
            return number
        if isinstance(value, Mapping):
            out = {}
            for key, item in value.items():
                out[self.key(key, where)] = self.walk(item, f"{where}[{key!r}]", depth + 1)
            return out
        if isinstance(value, (list, tuple)):
            return [self.walk(item, f"{where}[{i}]", depth + 1) for i, item in enumerate(value)]
        return self.other(value, where, depth)

    def text(self, value: str, where: str) -> str:
        text = str(value)
        if not text.isascii():
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:
                raise self.refuse(
                    where,
                    f"holds the text {text!r:.60} with a lone surrogate, which is not valid "
                    "Unicode",
                    "Decode the text properly (or store the raw bytes with log_artifact).",
                ) from None
        return text

    def key(self, key: Any, where: str) -> Any:
        if isinstance(key, str):
            return self.text(key, where)
        kind = type(key).__module__
        if kind == "numpy" and hasattr(key, "item"):
            key = key.item()
        if self.as_yaml and isinstance(key, _YAML_KEYS):
            return key
        if self.as_yaml:
            raise self.refuse(
                where,
                f"has the key {key!r} ({type(key).__name__})",
                "Use str, int, float or bool keys.",
            )
        raise self.refuse(
            where,
            f"has the key {key!r} ({type(key).__name__}), and JSON keys are text: it would "
            f"read back as {str(key)!r}",
            "Convert the keys with str() yourself, or name the artifact .yaml (YAML keeps "
            "int, float and bool keys).",
        )

    def other(self, value: Any, where: str, depth: int) -> Any:
        import dataclasses
        import enum
        import math

        cls = type(value)
        module = cls.__module__.split(".", 1)[0]
        if module == "numpy" and hasattr(value, "tolist"):
            if getattr(value, "ndim", 0) == 0 and value.dtype.kind == "f":
                import numpy as np

                number = float(value)
                if math.isinf(number) and not np.isinf(value):
                    raise self.refuse(
                        where,
                        f"is {value!r}, beyond the range of a float (it would be stored as "
                        f"{number})",
                        "Store it as text (str(value)) yourself.",
                    )
                return self.walk(number, where, depth)
            if value.dtype.kind in "fiubUO":
                if value.dtype.kind == "f" and value.dtype.itemsize > 8 and value.ndim:
                    # long doubles: tolist() keeps them, each is checked as a scalar
                    return [self.walk(v, f"{where}[{i}]", depth + 1) for i, v in enumerate(value)]
                return self.walk(value.tolist(), where, depth + 1)
        if isinstance(value, enum.Enum):
            return self.walk(value.value, where, depth + 1)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            fields = {f.name: getattr(value, f.name) for f in dataclasses.fields(value)}
            return self.walk(fields, where, depth + 1)
        from decimal import Decimal

        if isinstance(value, Decimal):
            raise self.refuse(
                where,
                f"is the Decimal {value}, which JSON and YAML would read back as a float "
                f"({float(value)!r})",
                "Store float(value) or str(value) yourself, whichever you mean.",
            )
        import datetime
        import uuid

        if isinstance(value, (datetime.date, datetime.time, uuid.UUID)):
            import orjson

            return orjson.loads(orjson.dumps(value))
        raise self.refuse(
            where,
            f"is a {cls.__module__}.{cls.__qualname__} ({_short(value)}), which has no JSON form",
            "Use str, int, float, bool, None, lists and dicts (NumPy values are fine).",
        )


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def log_figure(
    store: MetadataStore, artifacts: ArtifactStore, run_id: str, figure: Any, name: str
) -> ArtifactEntry:
    """Store a matplotlib figure as an image, or a plotly figure as HTML.

    Told apart by what they can do (``savefig`` / ``write_html``), so
    neither library is imported here. A name without a suffix gets ``.png``
    (matplotlib) or ``.html`` (plotly).
    """
    dest = clean_path(name)
    suffix = PurePosixPath(dest).suffix.lower().lstrip(".")
    buf = io.BytesIO()
    if hasattr(figure, "savefig"):
        if not suffix:
            suffix, dest = "png", dest + ".png"
        if suffix not in _IMAGE_TYPES:
            raise InvalidInput(
                f"cannot save a matplotlib figure as {dest!r}: expected one of "
                f"{', '.join(sorted(_IMAGE_TYPES))} as the suffix."
            )
        figure.savefig(buf, format=suffix)
    elif hasattr(figure, "write_html"):
        if suffix in ("", "html", "htm"):
            if not suffix:
                dest += ".html"
            text = io.StringIO()
            figure.write_html(text, include_plotlyjs="cdn", full_html=True)
            buf.write(text.getvalue().encode())
        elif suffix in _IMAGE_TYPES and hasattr(figure, "to_image"):
            buf.write(figure.to_image(format=suffix))
        else:
            raise InvalidInput(
                f"cannot save a plotly figure as {dest!r}: expected an .html name "
                "(or an image suffix, which needs kaleido)."
            )
    else:
        raise InvalidInput(
            f"log_figure expects a matplotlib Figure (has .savefig) or a plotly Figure "
            f"(has .write_html), got {type(figure).__module__}.{type(figure).__qualname__}."
        )
    return log_bytes(store, artifacts, run_id, buf.getvalue(), dest)


def list_artifacts(
    run_id: str, prefix: str = "", *, tracking_uri: str | None = None
) -> list[ArtifactEntry]:
    """The files logged with a run (those under ``prefix`` when given), sorted by path."""
    check_run_id(run_id)
    _validate.text(prefix, "artifact prefix", empty=True)
    clean = clean_path(prefix, "artifact prefix") if prefix.strip("/. ") else ""
    entries = _repository.list_artifacts(current().metadata_at(tracking_uri), run_id)
    if clean:
        entries = [e for e in entries if e.path == clean or e.path.startswith(clean + "/")]
    return entries


def _resolve(uri: str, tracking_uri: str | None) -> tuple[str, str, list[ArtifactEntry]]:
    """``runs:/<id>/<path>`` (or a run id and path) → (run id, path, matching entries)."""
    text = _validate.text(uri, "artifact URI").strip()
    if text.startswith("runs:/"):
        parsed = parse_run_uri(text)
        run_part, path = parsed.run_id, parsed.path
    else:
        run_part, _, path = text.partition("/")
    path = path.strip("/")
    entries = list_artifacts(run_part, path, tracking_uri=tracking_uri)
    run_id = entries[0].run_id if entries else run_part
    if not entries:
        everything = list_artifacts(run_part, tracking_uri=tracking_uri)
        run_id = everything[0].run_id if everything else run_part
        shown = ", ".join(e.path for e in everything[:10]) + (
            ", ..." if len(everything) > 10 else ""
        )
        what = f"no artifact {path!r}" if path else "no artifacts"
        has = f"it has: {shown}" if everything else "it has none"
        raise NotFound(f"run {run_id} has {what}; {has}.")
    return run_id, path, entries


def get_artifact(uri: str, *, tracking_uri: str | None = None) -> Path:
    """A local path holding the artifact ``runs:/<run id>/<path>`` (a file or a folder).

    Files are fetched into the project's cache (``.loopml/cache/``), keyed by
    their content, verified against their hash and made read-only. Asking again
    re-uses the copy once it hashes right again; a copy that was changed is
    fetched anew, so the result always holds the logged bytes.
    """
    _, path, entries = _resolve(uri, tracking_uri)
    ctx = current()
    artifacts = ctx.artifacts
    cache = ctx.settings.state_dir / "cache"
    if len(entries) == 1 and entries[0].path == path:
        entry = entries[0]
        dest = cache / "objects" / entry.digest[:2] / entry.digest / PurePosixPath(path).name
        _verified_copy(artifacts, entry.digest, dest)
        return dest
    listing = "\n".join(f"{e.path}\t{e.digest}" for e in entries).encode()
    key = hash_bytes(listing)[:32]
    folder = cache / "folders" / key
    base = path + "/" if path else ""
    for entry in entries:
        _verified_copy(artifacts, entry.digest, folder / entry.path[len(base) :])
    return folder


def _verified_copy(artifacts: ArtifactStore, digest: str, dest: Path) -> None:
    """Make ``dest`` a read-only file holding exactly the object ``digest``: a copy already
    there is hashed again, and replaced when it no longer matches."""
    try:
        if hash_file(dest)[0] == digest:
            if dest.stat().st_mode & 0o222:
                os.chmod(dest, 0o444)
            return
    except OSError:  # not there yet, or made unreadable: fetch it anew
        pass
    artifacts.get_file(digest, dest)
    os.chmod(dest, 0o444)


def download_artifact(
    run: str,
    path: str = "",
    dest: str | os.PathLike[str] = ".",
    *,
    tracking_uri: str | None = None,
) -> Path:
    """Copy an artifact of a run (a file or a folder) into the folder ``dest``.

    ``run`` is a run id (or unique prefix) or a ``runs:/<id>[/<path>]`` URI;
    ``path`` (appended to the URI's path) names the artifact, empty for all
    of the run's artifacts. Returns the path of the copy: ``dest/<file name>``
    or ``dest/<folder name>`` (``dest`` itself for all of a run's artifacts).

    Example::

        download_artifact(run.id, "plots", "out/")     # -> out/plots/...
        download_artifact(f"runs:/{run.id}/model.pkl") # -> ./model.pkl
    """
    run = _validate.text(run, "run")
    path = _validate.text(path, "artifact path", empty=True)
    root = _validate.path(dest, "destination")
    uri = run.rstrip("/") + "/" + path.strip("/") if path.strip("/") else run
    _, path, entries = _resolve(uri, tracking_uri)
    artifacts = current().artifacts
    if len(entries) == 1 and entries[0].path == path:
        target = root / PurePosixPath(path).name
        artifacts.get_file(entries[0].digest, target)
        return target
    top = root / PurePosixPath(path).name if path else root
    base = path + "/" if path else ""
    for entry in entries:
        artifacts.get_file(entry.digest, top / entry.path[len(base) :])
    return top


@dataclass(frozen=True)
class DownloadedFile:
    """One file :func:`download_artifacts` put in place: where, from which artifact of the
    run, its size, and ``status``: ``written`` (new), ``replaced`` (a different file was
    there, and ``overwrite`` was given) or ``unchanged`` (the same bytes were there)."""

    path: Path
    artifact: str
    size: int
    status: str


def download_artifacts(
    run_id: str,
    path: str | None = None,
    dst: str | os.PathLike[str] = ".",
    *,
    overwrite: bool = False,
    tracking_uri: str | None = None,
) -> list[DownloadedFile]:
    """Copy the artifacts of a run into the folder ``dst``: every one (``path`` None), one
    file (``dst/<file name>``) or a folder (``dst/<folder name>/...``).

    Each copy is written atomically, verified against its hash and made read-only,
    as :func:`get_artifact` does. A file already in ``dst`` with the same bytes is
    left as it is; one with other bytes is a :class:`~loopml.errors.Conflict` that
    names it (nothing is written) unless ``overwrite``. ``path`` must be relative
    to the run: an absolute path or one with ``..`` is an InvalidInput.

    Example::

        for f in loopml.tracking.download_artifacts(run.id, "plots", "out"):
            print(f.status, f.path)          # written out/plots/roc.png
    """
    check_run_id(run_id)
    root = _validate.path(dst, "destination folder")
    check_flag(overwrite, "overwrite")
    wanted = ""
    if path is not None:
        text = _validate.text(path, "artifact path", empty=True)
        if text.startswith(("/", "\\")) or PureWindowsPath(text).drive:
            raise InvalidInput(
                f"artifact path {text!r} is absolute: expected a path inside the run such "
                "as 'plots/roc.png' (see loopml artifacts list RUN)."
            )
        wanted = clean_path(text) if text.strip("/. ") or ".." in text else ""
    if root.exists() and not root.is_dir():
        raise InvalidInput(f"destination {str(root)!r} is a file; expected a folder.")
    entries = list_artifacts(run_id, wanted, tracking_uri=tracking_uri)
    if not entries:
        every = list_artifacts(run_id, tracking_uri=tracking_uri)
        shown = ", ".join(e.path for e in every[:10]) + (", ..." if len(every) > 10 else "")
        what = f"no artifact {wanted!r}" if wanted else "no artifacts"
        raise NotFound(f"run {run_id} has {what}; {'it has: ' + shown if every else 'none'}.")
    if len(entries) == 1 and entries[0].path == wanted:
        targets = [(entries[0], root / PurePosixPath(wanted).name)]
    else:
        top = root / PurePosixPath(wanted).name if wanted else root
        base = wanted + "/" if wanted else ""
        targets = [(e, top / e.path[len(base) :]) for e in entries]
    inside = root.resolve()
    plan: list[tuple[ArtifactEntry, Path, str]] = []
    clashes: list[str] = []
    for entry, target in targets:
        if not target.resolve().is_relative_to(inside):
            raise InvalidInput(
                f"artifact {entry.path!r} would be written to {str(target)!r}, outside "
                f"{str(root)!r} (through a link); download it into another folder."
            )
        status = "written"
        if target.is_dir():
            raise Conflict(f"cannot write {str(target)!r}: a folder is in the way.")
        if target.exists():
            try:
                same = hash_file(target)[0] == entry.digest
            except OSError:
                same = False
            status = "unchanged" if same else "replaced"
            if not same and not overwrite:
                clashes.append(str(target))
        plan.append((entry, target, status))
    if clashes:
        shown = ", ".join(clashes[:5]) + (
            f" (and {len(clashes) - 5} more)" if len(clashes) > 5 else ""
        )
        raise Conflict(
            f"{shown} already exist{'s' if len(clashes) == 1 else ''} with other content; "
            "nothing was written. Pass overwrite=True (--overwrite) to replace "
            f"{'it' if len(clashes) == 1 else 'them'}, or download into another folder."
        )
    artifacts = current().artifacts
    out = []
    for entry, target, status in plan:
        if status != "unchanged":
            artifacts.get_file(entry.digest, target)
        if target.stat().st_mode & 0o222:
            os.chmod(target, 0o444)
        out.append(DownloadedFile(target, entry.path, entry.size, status))
    return out


def get_git_diff(run_id: str, *, tracking_uri: str | None = None) -> str | None:
    """The uncommitted ``git diff`` recorded when the run started, or None when its working
    tree was clean (or not a git repository)."""
    ctx = current()
    run = _repository.get_run(ctx.metadata_at(tracking_uri), run_id)
    if not run.git_diff_digest:
        return None
    return ctx.artifacts.get_bytes(run.git_diff_digest).decode("utf-8", "replace")
