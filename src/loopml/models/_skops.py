"""scikit-learn estimators as skops archives whose bytes depend on the estimator only.

:func:`skops_dumps` writes an archive in which what varies between two saves of one
estimator (object ids, random file names, zip timestamps) is fixed, so the
same estimator always gives the same bytes; :func:`skops_loads` reads one back,
refusing types outside scikit-learn, NumPy and SciPy (skops' own check) with
a message naming them. Pipelines store estimator outputs with these, and the
``sklearn`` model flavor writes its ``model.skops`` with them.
"""

from __future__ import annotations

import io
from typing import Any

from loopml.errors import InvalidInput

__all__ = ["canonical", "skops_dumps", "skops_loads"]

_SKOPS_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.", "builtins.", "collections.")


def skops_dumps(estimator: Any) -> bytes:
    import skops.io

    return canonical(bytes(skops.io.dumps(estimator)))


_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)


def canonical(archive: bytes) -> bytes:
    """The skops archive with what varies between two saves of one estimator taken out:
    object ids (``__id__``, and the file names of arrays made from them) are numbered
    in the order the schema meets them, random file names likewise, and every zip entry
    gets the same timestamp and attributes. Shared objects stay shared (one id), so the
    archive loads as before, and the same estimator always gives the same bytes."""
    import json
    import zipfile

    with zipfile.ZipFile(io.BytesIO(archive)) as src:
        schema = json.loads(src.read("schema.json"))
        contents = {name: src.read(name) for name in src.namelist() if name != "schema.json"}
    ids: dict[Any, int] = {}
    files: dict[str, str] = {}

    def renumber(node: Any) -> Any:
        if isinstance(node, list):
            return [renumber(v) for v in node]
        if not isinstance(node, dict):
            return node
        out = {}
        for key, value in node.items():
            if key == "__id__" and isinstance(value, int):
                # immutable JSON values are the same whoever holds them: one id per value
                group = (
                    ("json", node.get("__class__"), node.get("content"))
                    if node.get("is_json") is True
                    else ("id", value)
                )
                value = ids.setdefault(group, len(ids) + 1)  # 0 would not be memoized
            elif key == "file" and isinstance(value, str) and value in contents:
                suffix = value[value.rfind(".") :] if "." in value else ""
                value = files.setdefault(value, f"{len(files)}{suffix}")
            else:
                value = renumber(value)
            out[key] = value
        return out

    schema = renumber(schema)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as dst:
        for old, new in sorted(files.items(), key=lambda item: int(item[1].split(".")[0])):
            _write_entry(dst, new, contents[old])
        _write_entry(dst, "schema.json", json.dumps(schema, indent=2).encode())
    return buf.getvalue()


def _write_entry(archive: Any, name: str, data: bytes) -> None:
    import zipfile

    info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
    info.create_system = 3  # unix, whatever the platform that saves
    info.external_attr = 0o644 << 16
    info.compress_type = zipfile.ZIP_STORED
    archive.writestr(info, data)


def skops_loads(data: bytes) -> Any:
    import skops.io

    untrusted = skops.io.get_untrusted_types(data=data)
    foreign = [t for t in untrusted if not t.startswith(_SKOPS_TRUSTED_PREFIXES)]
    if foreign:
        raise InvalidInput(
            f"the stored estimator contains types outside scikit-learn/NumPy/SciPy: "
            f"{', '.join(sorted(foreign))}. Load it yourself with skops.io.loads(data, "
            "trusted=[...]) after checking them."
        )
    return skops.io.loads(data, trusted=untrusted)
