"""The URIs users meet, as small records that parse and print themselves.

- ``data:/<dataset>@<version>``, ``data:/<dataset>@latest`` (the newest) and
  ``data:/<dataset>`` (the version ``loopml.lock`` pins: see
  :mod:`loopml.data._resolve`); a dataset reference may drop the scheme
  (``iris@3``, ``iris``)
- ``runs:/<run_id>`` and ``runs:/<run_id>/<artifact path>``
- ``models:/<name>/<version>`` and ``models:/<name>@<alias>``
- ``validation:/<id>`` (a stored validation result)
- ``cache:/<key>`` (a pipeline step's cache entry)
- ``deployments:/<name>`` (a deployment: a named endpoint serving one model version)
- ``rollout:/<id>`` (a progressive rollout of a candidate version on a deployment)
- ``alerts:/<id>`` (one incident of a monitor's alert rule)
- ``triggers:/<name>/<event id>`` (one event of an automation trigger: what it fired on)

Nothing here looks anything up: resolving a URI to what it names, and
describing it, is the business of the URI registry in :mod:`loopml.lineage`.
Build a URI with its record (``str(RunURI(run_id))``), never by hand.

Also here, for the store URLs settings name: :func:`local_path` (a local
path or ``file://`` URL, or None for a remote URL) and :func:`redact`.

Example::

    >>> parse_uri("data:/iris@3")
    DataURI(name='iris', version=3)
    >>> str(RunURI("4f3a9c0e" * 4, "outputs/model.skops"))
    'runs:/4f3a9c0e4f3a9c0e4f3a9c0e4f3a9c0e/outputs/model.skops'
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from loopml._validate import shown
from loopml.errors import InvalidInput

__all__ = [
    "MAX_NAME",
    "AlertURI",
    "CacheURI",
    "DataURI",
    "DeploymentURI",
    "EvaluationURI",
    "ModelURI",
    "PromotionURI",
    "RolloutURI",
    "RunURI",
    "TriggerURI",
    "ValidationURI",
    "check_name",
    "local_path",
    "parse_alert_uri",
    "parse_cache_uri",
    "parse_data_uri",
    "parse_deployment_uri",
    "parse_evaluation_uri",
    "parse_model_uri",
    "parse_promotion_uri",
    "parse_rollout_uri",
    "parse_run_uri",
    "parse_trigger_uri",
    "parse_uri",
    "parse_validation_uri",
    "redact",
    "scheme_of",
    "scrub",
]

_MAX_INT = 2**63 - 1
#: the longest name (of a dataset, model, pipeline...) a URI may carry
MAX_NAME = 255
_NAME = r"[A-Za-z0-9][A-Za-z0-9._-]*"
_NAME_RE = re.compile(rf"^{_NAME}\Z")
_DATA_RE = re.compile(rf"^data:/(?P<name>{_NAME})(?:@(?P<version>[^/@]+))?\Z")
_RUN_RE = re.compile(r"^runs:/(?P<run_id>[0-9a-f]{6,64})(?:/(?P<path>.+))?\Z")
_MODEL_RE = re.compile(
    rf"^models:/(?P<name>{_NAME})(?:/(?P<version>[0-9]+)|@(?P<alias>[A-Za-z][A-Za-z0-9_-]*))\Z"
)
_HEX_ID_RE = re.compile(r"^(?P<scheme>validation|cache):/(?P<id>[0-9a-f]{8,64})\Z")
_SCHEME_RE = re.compile(r"^(?P<scheme>[a-z][a-z0-9+.-]*):/")


@dataclass(frozen=True)
class DataURI:
    """``data:/name@version``; ``latest`` for ``data:/name@latest`` (the newest version);
    neither for ``data:/name``, which means the version ``loopml.lock`` pins."""

    name: str
    version: int | None = None
    latest: bool = False

    def __post_init__(self) -> None:
        if self.latest and self.version is not None:
            raise InvalidInput(
                f"a dataset reference names a version or 'latest', not both: got version "
                f"{self.version} and latest=True for {self.name!r}."
            )

    def __str__(self) -> str:
        if self.version is not None:
            return f"data:/{self.name}@{self.version}"
        return f"data:/{self.name}@latest" if self.latest else f"data:/{self.name}"


@dataclass(frozen=True)
class RunURI:
    """``runs:/run_id[/path]``: a run, or one of its artifacts."""

    run_id: str
    path: str = ""

    def __str__(self) -> str:
        return f"runs:/{self.run_id}" + (f"/{self.path}" if self.path else "")


@dataclass(frozen=True)
class ModelURI:
    """``models:/name/version`` or ``models:/name@alias``."""

    name: str
    version: int | None = None
    alias: str | None = None

    def __str__(self) -> str:
        tail = f"/{self.version}" if self.version is not None else f"@{self.alias}"
        return f"models:/{self.name}{tail}"


@dataclass(frozen=True)
class ValidationURI:
    """``validation:/<id>``: a stored validation result (its id is a prefix of its hash)."""

    id: str

    def __str__(self) -> str:
        return f"validation:/{self.id}"


@dataclass(frozen=True)
class EvaluationURI:
    """``evaluation:/<id>``: a stored evaluation of a model on a dataset."""

    id: int

    def __str__(self) -> str:
        return f"evaluation:/{self.id}"


@dataclass(frozen=True)
class PromotionURI:
    """``promotion:/<id>``: a stored request to promote a model version through gates."""

    id: int

    def __str__(self) -> str:
        return f"promotion:/{self.id}"


@dataclass(frozen=True)
class DeploymentURI:
    """``deployments:/<name>``: a deployment, the named endpoint serving one model version."""

    name: str

    def __str__(self) -> str:
        return f"deployments:/{self.name}"


@dataclass(frozen=True)
class RolloutURI:
    """``rollout:/<id>``: a progressive rollout (canary, blue-green, shadow, A/B) of a
    candidate version on a deployment."""

    id: int

    def __str__(self) -> str:
        return f"rollout:/{self.id}"


@dataclass(frozen=True)
class AlertURI:
    """``alerts:/<id>``: one incident of a monitor's alert rule, from the window that
    raised it until one cleared it."""

    id: int

    def __str__(self) -> str:
        return f"alerts:/{self.id}"


@dataclass(frozen=True)
class TriggerURI:
    """``triggers:/<name>/<event id>``: one event of an automation trigger (a schedule's
    firing, a new dataset version, a new alert) and the retrain it caused."""

    name: str
    id: int

    def __str__(self) -> str:
        return f"triggers:/{self.name}/{self.id}"


@dataclass(frozen=True)
class CacheURI:
    """``cache:/<key>``: the cache entry of a pipeline step, which holds its outputs."""

    key: str

    def __str__(self) -> str:
        return f"cache:/{self.key}"


def check_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it can stand in a URI, else raise :class:`InvalidInput`."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidInput(
            f"invalid {what} {shown(name)}: expected letters, digits, '.', '_' or '-', "
            "starting with a letter or digit (e.g. 'iris-train')."
        )
    if len(name) > MAX_NAME:
        raise InvalidInput(
            f"{what} {shown(name)} is {len(name)} characters long; the limit is {MAX_NAME}."
        )
    return name


def scheme_of(uri: str) -> str:
    """The scheme of a loopml URI (``data`` for ``data:/iris@3``); InvalidInput for none."""
    if not isinstance(uri, str):
        raise InvalidInput(f"expected a URI string, got {type(uri).__name__}")
    m = _SCHEME_RE.match(uri.strip())
    if not m:
        raise InvalidInput(
            f"malformed URI {uri!r}: expected '<scheme>:/...' such as 'data:/iris@3' or "
            "'runs:/<run id>'."
        )
    return m.group("scheme")


def parse_data_uri(uri: str) -> DataURI:
    """Parse a dataset reference: ``data:/name@version``, ``name@version`` or ``name``."""
    if not isinstance(uri, str):
        raise InvalidInput(f"expected a dataset reference string, got {type(uri).__name__}")
    text = uri.strip()
    if not text.startswith("data:/") and ("@" in text or _NAME_RE.match(text)):
        text = "data:/" + text
    m = _DATA_RE.match(text)
    if not m:
        raise InvalidInput(
            f"malformed dataset URI {shown(uri)}: expected 'data:/<name>@<version>' "
            "such as 'data:/iris@3' or 'data:/iris@latest' (or 'iris@3')."
        )
    check_name(m.group("name"), "dataset name")
    raw = m.group("version")
    if raw is None:
        return DataURI(m.group("name"))
    if raw == "latest":
        return DataURI(m.group("name"), latest=True)
    if raw.startswith("v"):
        raw = raw[1:]
    if not raw.isdigit() or not 1 <= int(raw) <= _MAX_INT:
        raise InvalidInput(
            f"malformed dataset version {shown(m.group('version'))} in {shown(uri)}: "
            "expected a positive number or 'latest'."
        )
    return DataURI(m.group("name"), int(raw))


def parse_run_uri(uri: str) -> RunURI:
    """Parse ``runs:/<run_id>[/<path>]`` (the id may be a unique prefix of ≥ 6 characters)."""
    m = _RUN_RE.match(uri.strip())
    if not m:
        raise InvalidInput(
            f"malformed run URI {uri!r}: expected 'runs:/<run_id>' or "
            "'runs:/<run_id>/<artifact path>' with a hexadecimal run id."
        )
    return RunURI(m.group("run_id"), (m.group("path") or "").strip("/"))


def parse_model_uri(uri: str) -> ModelURI:
    """Parse ``models:/<name>/<version>`` or ``models:/<name>@<alias>``."""
    m = _MODEL_RE.match(uri.strip())
    if not m:
        raise InvalidInput(
            f"malformed model URI {uri!r}: expected 'models:/<name>/<version>' "
            "or 'models:/<name>@<alias>'."
        )
    version = m.group("version")
    if version and not 1 <= int(version) <= _MAX_INT:
        raise InvalidInput(
            f"malformed model version {shown(version)} in {shown(uri)}: expected a number "
            f"from 1 to {_MAX_INT}."
        )
    return ModelURI(m.group("name"), int(version) if version else None, m.group("alias"))


def parse_validation_uri(uri: str) -> ValidationURI:
    """Parse ``validation:/<id>``."""
    m = _HEX_ID_RE.match(uri.strip())
    if not m or m.group("scheme") != "validation":
        raise InvalidInput(
            f"malformed validation URI {uri!r}: expected 'validation:/<hex id>' as "
            "loopml.validate() sets on result.uri."
        )
    return ValidationURI(m.group("id"))


def parse_cache_uri(uri: str) -> CacheURI:
    """Parse ``cache:/<key>``."""
    m = _HEX_ID_RE.match(uri.strip())
    if not m or m.group("scheme") != "cache":
        raise InvalidInput(f"malformed cache URI {uri!r}: expected 'cache:/<hex key>'.")
    return CacheURI(m.group("id"))


def _numbered(uri: str, pattern: re.Pattern[str], what: str, expected: str) -> re.Match[str]:
    """The match of ``pattern`` (with an ``id`` group, and maybe a ``name`` group) on
    ``uri``; InvalidInput "malformed <what> URI ...: expected <expected>" when it does
    not match, the id has more than 18 digits or the name more than MAX_NAME characters."""
    m = pattern.match(uri.strip()) if isinstance(uri, str) else None
    if not m or len(m.group("id")) > 18 or len(m.groupdict().get("name") or "") > MAX_NAME:
        raise InvalidInput(f"malformed {what} URI {shown(uri)}: expected {expected}")
    return m


def parse_evaluation_uri(uri: str) -> EvaluationURI:
    """Parse ``evaluation:/<id>``."""
    m = _numbered(
        uri,
        _EVALUATION_RE,
        "evaluation",
        "'evaluation:/<number>' as loopml.evaluate() sets on evaluation.uri.",
    )
    return EvaluationURI(int(m.group("id")))


_EVALUATION_RE = re.compile(r"^evaluation:/(?P<id>[1-9][0-9]*)$")


def parse_promotion_uri(uri: str) -> PromotionURI:
    """Parse ``promotion:/<id>``."""
    m = _numbered(
        uri,
        _PROMOTION_RE,
        "promotion",
        "'promotion:/<number>' as loopml models history lists them.",
    )
    return PromotionURI(int(m.group("id")))


_PROMOTION_RE = re.compile(r"^promotion:/(?P<id>[1-9][0-9]*)$")


def parse_deployment_uri(uri: str) -> DeploymentURI:
    """Parse ``deployments:/<name>``."""
    m = _DEPLOYMENT_RE.match(uri.strip()) if isinstance(uri, str) else None
    if not m or len(m.group("name")) > MAX_NAME:
        raise InvalidInput(
            f"malformed deployment URI {shown(uri)}: expected 'deployments:/<name>', "
            "e.g. 'deployments:/churn' (loopml deployments list names them)."
        )
    return DeploymentURI(m.group("name"))


_DEPLOYMENT_RE = re.compile(rf"^deployments:/(?P<name>{_NAME})\Z")


def parse_rollout_uri(uri: str) -> RolloutURI:
    """Parse ``rollout:/<id>``."""
    m = _numbered(
        uri,
        _ROLLOUT_RE,
        "rollout",
        "'rollout:/<number>', e.g. 'rollout:/3' "
        "(loopml deployments status NAME shows a deployment's rollouts).",
    )
    return RolloutURI(int(m.group("id")))


_ROLLOUT_RE = re.compile(r"^rollout:/(?P<id>[1-9][0-9]*)$")


def parse_alert_uri(uri: str) -> AlertURI:
    """Parse ``alerts:/<id>``."""
    m = _numbered(
        uri,
        _ALERT_RE,
        "alert",
        "'alerts:/<number>', e.g. 'alerts:/3' (loopml monitor alerts lists them).",
    )
    return AlertURI(int(m.group("id")))


_ALERT_RE = re.compile(r"^alerts:/(?P<id>[1-9][0-9]*)$")


def parse_trigger_uri(uri: str) -> TriggerURI:
    """Parse ``triggers:/<name>/<event id>``."""
    m = _numbered(
        uri,
        _TRIGGER_RE,
        "trigger",
        "'triggers:/<name>/<event number>', e.g. 'triggers:/nightly/3' "
        "(loopml automate status lists them).",
    )
    return TriggerURI(m.group("name"), int(m.group("id")))


_TRIGGER_RE = re.compile(rf"^triggers:/(?P<name>{_NAME})/(?P<id>[1-9][0-9]*)\Z")

AnyURI = (
    DataURI
    | RunURI
    | ModelURI
    | ValidationURI
    | CacheURI
    | EvaluationURI
    | PromotionURI
    | DeploymentURI
    | RolloutURI
    | AlertURI
    | TriggerURI
)

_PARSERS: dict[str, Callable[[str], AnyURI]] = {
    "data": parse_data_uri,
    "runs": parse_run_uri,
    "models": parse_model_uri,
    "validation": parse_validation_uri,
    "cache": parse_cache_uri,
    "evaluation": parse_evaluation_uri,
    "promotion": parse_promotion_uri,
    "deployments": parse_deployment_uri,
    "rollout": parse_rollout_uri,
    "alerts": parse_alert_uri,
    "triggers": parse_trigger_uri,
}


def parse_uri(uri: str) -> AnyURI:
    """Parse any loopml URI by its scheme."""
    scheme = scheme_of(uri) if isinstance(uri, str) and ":/" in uri else ""
    parser = _PARSERS.get(scheme)
    if parser is None:
        raise InvalidInput(
            f"unknown URI {uri!r}: expected one starting with "
            f"{', '.join(repr(s + ':/') for s in _PARSERS)}."
        )
    return parser(uri)


# -- store URLs ---------------------------------------------------------------------


def local_path(url: str) -> str | None:
    """The local path a plain path or ``file://`` URL names; None for any other URL."""
    if url.startswith("file://"):
        return url[len("file://") :] or "/"
    if "://" in url:
        return None
    return url


def redact(url: str) -> str:
    """``url`` with its password and any secret-looking query value (``password``,
    ``token``, ``key``, ``signature``...) replaced by ``***``; text without ``://`` is
    returned as it is. Works on URLs a parser refuses too, and on passwords holding
    ``/``, ``?``, ``#`` or ``@`` (the user part ends at the last ``@``)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    userinfo, at, after = rest.rpartition("@")
    if at and ":" in userinfo:
        user = userinfo.split(":", 1)[0]
        rest = f"{user}:***@{after}"
    elif at:
        rest = f"{userinfo}@{after}"
    head, qmark, query = rest.partition("?")
    if qmark:
        items = []
        for item in query.split("&"):
            key, eq, value = item.partition("=")
            if eq and value and any(w in key.lower() for w in _SECRET_WORDS):
                item = f"{key}=***"
            items.append(item)
        rest = f"{head}?{'&'.join(items)}"
    return f"{scheme}://{rest}"


def scrub(text: str, url: str) -> str:
    """``text`` (an error message, say) with the secrets of ``url`` blanked: the URL
    itself shown redacted, and its password, raw or percent-decoded, replaced by ``***``."""
    from urllib.parse import unquote

    text = text.replace(url, redact(url))
    rest = url.partition("://")[2]
    userinfo, at, _ = rest.rpartition("@")
    secrets = []
    if at and ":" in userinfo:
        secrets.append(userinfo.split(":", 1)[1])
    for item in rest.partition("?")[2].split("&"):
        key, eq, value = item.partition("=")
        if eq and value and any(w in key.lower() for w in _SECRET_WORDS):
            secrets.append(value)
    for secret in secrets:
        for form in sorted({secret, unquote(secret)}, key=len, reverse=True):
            if form:
                text = text.replace(form, "***")
    return text


_SECRET_WORDS = ("password", "passwd", "secret", "token", "key", "signature", "credential")
