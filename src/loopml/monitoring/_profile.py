"""The reference profile: what drift detection keeps of the reference data.

Per numeric column: quantile bin edges with the reference's count in each bin,
quantiles, missing count and moments; per categorical column: the category
counts (the most frequent :data:`MAX_CATEGORIES`, the rest counted together).
It is a few kilobytes whatever the number of rows, serialises to JSON
(:meth:`ReferenceProfile.to_dict`), and is all :func:`~loopml.detect_drift`
needs of the reference, so later windows never read the reference data again.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loopml import _validate
from loopml._validate import shown
from loopml.errors import InvalidInput

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import pyarrow as pa

__all__ = [
    "BINS",
    "FORMAT",
    "MAX_CATEGORIES",
    "QUANTILES",
    "FeatureProfile",
    "ReferenceProfile",
    "categorical_counts",
    "numeric_values",
    "profile_reference",
    "profile_table",
]

#: quantile bins per numeric column
BINS = 100
#: categories kept per column; rarer ones are counted together as ``other_count``
MAX_CATEGORIES = 10_000
#: the quantiles kept in a profile and shown in summaries
QUANTILES = (0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99)
#: the version of the profile's dict form
FORMAT = 1


@dataclass(frozen=True)
class FeatureProfile:
    """One column of a :class:`ReferenceProfile`.

    Numeric columns fill ``edges`` (sorted, unique quantiles from min to max) and
    ``counts`` (``len(edges) + 1`` bins: ``<= edges[0]``, then ``(edges[i-1],
    edges[i]]``, then ``> edges[-1]``), the moments and ``quantiles``; categorical
    ones fill ``categories`` / ``category_counts`` (most frequent first) and
    ``other_count`` (the rows of categories past :data:`MAX_CATEGORIES`).
    Missing values (null, NaN, infinities) are counted in ``n_missing`` only.
    """

    name: str
    kind: str  # "numeric" or "categorical"
    dtype: str
    n: int
    n_missing: int
    edges: tuple[float, ...] = ()
    counts: tuple[int, ...] = ()
    mean: float = 0.0
    std: float = 0.0
    min: float = 0.0
    max: float = 0.0
    skew: float = 0.0
    kurtosis: float = 0.0
    quantiles: Mapping[str, float] = field(default_factory=dict)
    categories: tuple[Any, ...] = ()
    category_counts: tuple[int, ...] = ()
    other_count: int = 0
    n_distinct: int = 0

    @property
    def missing_rate(self) -> float:
        total = self.n + self.n_missing
        return self.n_missing / total if total else 0.0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "kind": self.kind,
            "dtype": self.dtype,
            "n": self.n,
            "n_missing": self.n_missing,
        }
        if self.kind == "numeric":
            out |= {
                "edges": list(self.edges),
                "counts": list(self.counts),
                "mean": self.mean,
                "std": self.std,
                "min": self.min,
                "max": self.max,
                "skew": self.skew,
                "kurtosis": self.kurtosis,
                "quantiles": dict(self.quantiles),
            }
        else:
            out |= {
                "categories": list(self.categories),
                "category_counts": list(self.category_counts),
                "other_count": self.other_count,
                "n_distinct": self.n_distinct,
            }
        return out

    @classmethod
    def from_dict(cls, name: str, data: Any) -> FeatureProfile:
        where = f"column {name!r} of the profile"
        if not isinstance(data, Mapping):
            raise _bad(where, "an object", data)
        kind = data.get("kind")
        if kind not in ("numeric", "categorical"):
            raise _bad(f"'kind' of {where}", "'numeric' or 'categorical'", kind)
        n, n_missing = _count(data, "n", where), _count(data, "n_missing", where)
        dtype = data.get("dtype")
        if not isinstance(dtype, str):
            raise _bad(f"'dtype' of {where}", "text", dtype)
        if kind == "numeric":
            edges = tuple(_number(v, f"'edges' of {where}") for v in _list(data, "edges", where))
            counts = tuple(_int(v, f"'counts' of {where}") for v in _list(data, "counts", where))
            if not edges or len(counts) != len(edges) + 1 or sum(counts) != n:
                raise InvalidInput(
                    f"{where} is inconsistent: expected len(counts) == len(edges) + 1 and "
                    f"sum(counts) == n, got {len(edges)} edges, {len(counts)} counts summing "
                    f"to {sum(counts)} and n={n}. Compute the profile again."
                )
            if any(b <= a for a, b in itertools.pairwise(edges)):
                raise InvalidInput(f"'edges' of {where} are not strictly increasing.")
            quantiles = data.get("quantiles", {})
            if not isinstance(quantiles, Mapping):
                raise _bad(f"'quantiles' of {where}", "an object", quantiles)
            moments = {
                k: _number(data.get(k), f"{k!r} of {where}")
                for k in ("mean", "std", "min", "max", "skew", "kurtosis")
            }
            return cls(
                name,
                kind,
                dtype,
                n,
                n_missing,
                edges=edges,
                counts=counts,
                mean=moments["mean"],
                std=moments["std"],
                min=moments["min"],
                max=moments["max"],
                skew=moments["skew"],
                kurtosis=moments["kurtosis"],
                quantiles={
                    str(k): _number(v, f"'quantiles' of {where}") for k, v in quantiles.items()
                },
            )
        categories = tuple(_list(data, "categories", where))
        category_counts = tuple(
            _int(v, f"'category_counts' of {where}") for v in _list(data, "category_counts", where)
        )
        if len(categories) != len(category_counts):
            raise InvalidInput(
                f"{where} is inconsistent: {len(categories)} categories but "
                f"{len(category_counts)} counts. Compute the profile again."
            )
        return cls(
            name,
            kind,
            dtype,
            n,
            n_missing,
            categories=categories,
            category_counts=category_counts,
            other_count=_count(data, "other_count", where),
            n_distinct=_count(data, "n_distinct", where),
        )


@dataclass(frozen=True)
class ReferenceProfile:
    """What :func:`~loopml.detect_drift` keeps of a reference: a few kB, JSON-serialisable.

    Example::

        profile = loopml.monitoring.profile_reference("data:/churn@3")   # stored with it
        loopml.detect_drift(profile, todays_frame)
        ReferenceProfile.from_dict(json.loads(text))                      # round trip
    """

    n_rows: int
    columns: Mapping[str, FeatureProfile]
    source: str | None = None

    def to_dict(self) -> dict[str, Any]:
        """The profile as plain JSON-able values (:meth:`from_dict` reads it back)."""
        return {
            "format": FORMAT,
            "n_rows": self.n_rows,
            "source": self.source,
            "columns": {name: col.to_dict() for name, col in self.columns.items()},
        }

    def select(self, columns: Sequence[str]) -> ReferenceProfile:
        """The profile of ``columns`` only (InvalidInput naming a column it lacks)."""
        names = _names(columns, list(self.columns), "the reference profile")
        return ReferenceProfile(self.n_rows, {n: self.columns[n] for n in names}, self.source)

    @classmethod
    def from_dict(cls, data: Any) -> ReferenceProfile:
        """The profile :meth:`to_dict` wrote; InvalidInput naming the field that is wrong."""
        if not isinstance(data, Mapping):
            raise _bad("a reference profile", "an object", data)
        if data.get("format") != FORMAT:
            raise _bad("'format' of the profile", f"{FORMAT}", data.get("format"))
        columns = data.get("columns")
        if not isinstance(columns, Mapping) or not columns:
            raise _bad("'columns' of the profile", "an object of at least one column", columns)
        source = data.get("source")
        if source is not None and not isinstance(source, str):
            raise _bad("'source' of the profile", "text or null", source)
        return cls(
            n_rows=_count(data, "n_rows", "the profile"),
            columns={str(k): FeatureProfile.from_dict(str(k), v) for k, v in columns.items()},
            source=source,
        )


def profile_reference(frame_or_uri: Any, columns: Sequence[str] | None = None) -> ReferenceProfile:
    """The reference profile of a frame, Arrow table or dataset version, computed once.

    For a dataset URI (``data:/name@N``) the profile is stored with the version (a
    JSON file under ``profiles/<name>/<N>.json`` of the artifact store) and read from
    there next time, so the version's data is read once; ``columns`` limits it to some
    columns (a stored profile covering them is reused).

    Example::

        profile = loopml.monitoring.profile_reference("data:/churn@3")
        report = loopml.detect_drift(profile, todays_frame)
    """
    from loopml.data import as_arrow_table

    if isinstance(frame_or_uri, ReferenceProfile):
        return frame_or_uri.select(columns) if columns is not None else frame_or_uri
    if isinstance(frame_or_uri, str):
        from loopml.monitoring._store import profile_of_dataset

        return profile_of_dataset(frame_or_uri, columns)
    table, source = as_arrow_table(frame_or_uri, what="reference", others=("a ReferenceProfile",))
    return profile_table(table, columns, source)


def _names(columns: Sequence[str] | None, have: list[str], where: str) -> list[str]:
    if columns is None:
        return have
    if isinstance(columns, str) or not isinstance(columns, Sequence):
        raise InvalidInput(
            f"columns must be a list of column names, got {type(columns).__name__} "
            f"{shown(columns)}."
        )
    wanted = [str(c) for c in columns]
    if not wanted:
        raise InvalidInput("columns is empty: name at least one column, or pass None for all.")
    missing = [c for c in wanted if c not in have]
    if missing:
        raise InvalidInput(
            f"{where} has no column {', '.join(map(repr, missing))}: expected names among "
            f"{', '.join(have[:20])}."
        )
    return list(dict.fromkeys(wanted))


def profile_table(
    table: pa.Table, columns: Sequence[str] | None = None, source: str | None = None
) -> ReferenceProfile:
    """The profile of an Arrow table (``columns``: all of them by default; a column of a
    type drift is not measured on (times, binary, nested) is left out unless named)."""
    from loopml.monitoring._frames import column_kind

    if table.num_rows == 0:
        raise InvalidInput(
            f"the reference {source or 'frame'} has no rows: expected at least one row to "
            "compare against."
        )
    names = _names(columns, list(table.column_names), f"the reference {source or 'frame'}")
    out: dict[str, FeatureProfile] = {}
    for name in names:
        col = table.column(name)
        kind = column_kind(col.type)
        if kind is None:
            if columns is None:
                continue
            raise InvalidInput(
                f"column {name!r} of the reference is of type {col.type}: drift is measured on "
                "numbers, text, booleans and categories; leave it out of columns."
            )
        profile = _numeric(name, col) if kind == "numeric" else _categorical(name, col)
        if profile.n == 0:
            raise InvalidInput(
                f"column {name!r} of the reference {source or 'frame'} holds only missing "
                "values: there is no distribution to compare against. Leave it out with "
                "columns=[...] or pick a reference where it is filled."
            )
        out[name] = profile
    if not out:
        raise InvalidInput(
            f"the reference {source or 'frame'} has no numeric or categorical column to "
            "measure drift on."
        )
    return ReferenceProfile(table.num_rows, out, source)


def numeric_values(col: pa.ChunkedArray) -> tuple[np.ndarray, int]:
    """The finite values of a numeric column, sorted, and how many were missing (null,
    NaN or infinite)."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    values = pc.cast(col, pa.float64()).to_numpy()
    finite = np.isfinite(values)
    if not finite.all():
        values = values[finite]
    return np.sort(values), len(col) - len(values)


def categorical_counts(col: pa.ChunkedArray) -> tuple[list[Any], np.ndarray, int]:
    """The distinct values of a categorical column with their counts (most frequent
    first), and the number of missing values."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    if pa.types.is_dictionary(col.type):
        col = col.cast(col.type.value_type)
    counted = pc.value_counts(col)
    values = counted.field("values")
    counts = counted.field("counts").to_numpy().astype(np.int64)
    valid = values.is_valid().to_numpy(zero_copy_only=False)
    keys = values.filter(pa.array(valid)).to_pylist()
    counts = counts[valid]
    order = np.argsort(-counts, kind="stable")
    return [keys[i] for i in order], counts[order], col.null_count


def quantiles_of(sorted_values: np.ndarray) -> dict[str, float]:
    """:data:`QUANTILES` of sorted values (linear interpolation, as ``np.quantile``,
    without its partition of the whole array)."""
    import numpy as np

    at = np.asarray(QUANTILES) * (len(sorted_values) - 1)
    low = np.floor(at).astype(np.int64)
    high = np.minimum(low + 1, len(sorted_values) - 1)
    found = sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (at - low)
    return {f"{q:g}": float(v) for q, v in zip(QUANTILES, found, strict=True)}


def _numeric(name: str, col: pa.ChunkedArray) -> FeatureProfile:
    import numpy as np

    values, n_missing = numeric_values(col)
    n = len(values)
    if n == 0:
        return FeatureProfile(name, "numeric", str(col.type), 0, n_missing)
    at = np.round(np.linspace(0, n - 1, BINS + 1)).astype(np.int64)
    edges = np.unique(values[at])
    below = np.searchsorted(values, edges, side="right")
    counts = np.diff(np.concatenate([[0], below, [n]]))
    mean = float(values.mean())
    centred = values - mean
    squared = centred * centred
    var = float(squared.mean())
    std = math.sqrt(var)
    skew = float(np.dot(squared, centred)) / n / std**3 if std > 0 else 0.0
    kurtosis = float(np.dot(squared, squared)) / n / var**2 - 3.0 if var > 0 else 0.0
    return FeatureProfile(
        name,
        "numeric",
        str(col.type),
        n,
        n_missing,
        edges=tuple(float(e) for e in edges),
        counts=tuple(int(c) for c in counts),
        mean=mean,
        std=std,
        min=float(values[0]),
        max=float(values[-1]),
        skew=skew,
        kurtosis=kurtosis,
        quantiles=quantiles_of(values),
    )


def _categorical(name: str, col: pa.ChunkedArray) -> FeatureProfile:
    keys, counts, n_missing = categorical_counts(col)
    kept = min(len(keys), MAX_CATEGORIES)
    return FeatureProfile(
        name,
        "categorical",
        str(col.type.value_type if hasattr(col.type, "value_type") else col.type),
        int(counts.sum()),
        n_missing,
        categories=tuple(keys[:kept]),
        category_counts=tuple(int(c) for c in counts[:kept]),
        other_count=int(counts[kept:].sum()),
        n_distinct=len(keys),
    )


_AGAIN = "Compute the profile again with loopml.monitoring.profile_reference."


def _bad(what: str, expected: str, got: Any) -> InvalidInput:
    return InvalidInput(f"{what} must be {expected}, got {shown(got)}. {_AGAIN}")


def _list(data: Mapping[str, Any], key: str, where: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list):
        raise _bad(f"{key!r} of {where}", "a list", value)
    return value


def _int(value: Any, what: str) -> int:
    return _validate.count(value, what, low=0, high=None, hint=_AGAIN)


def _count(data: Mapping[str, Any], key: str, where: str) -> int:
    return _int(data.get(key), f"{key!r} of {where}")


def _number(value: Any, what: str) -> float:
    return _validate.number(value, what, hint=_AGAIN)
