"""log_model inside a run, load_model of runs:/ and models:/ URIs, and read_model_info."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import loopml
from loopml.errors import CorruptObject, InvalidInput, NotFound
from loopml.lineage import SCHEMES, Node, Scheme


def test_log_model_then_load_it_by_its_run_uri(project: Path, classifier: Any, frame: Any) -> None:
    with loopml.start_run(experiment="m") as run:
        info = loopml.log_model(classifier, input_example=frame.head())
    assert info.uri == f"runs:/{run.id}/model" and info.run_id == run.id and info.path == "model"
    paths = {e.path for e in loopml.Client(project).list_artifacts(run.id)}
    assert paths == {"model/loopml-model.json", "model/model.skops"}
    assert info.digests == {e.digest for e in loopml.Client(project).list_artifacts(run.id)}
    model = loopml.load_model(f"runs:/{run.id[:8]}/model")
    assert model.uri == info.uri and model.version is None
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))
    assert loopml.models.read_model_info(info.uri) == info


def test_log_model_under_a_nested_name(project: Path, classifier: Any) -> None:
    with loopml.start_run() as run:
        info = loopml.log_model(classifier, "models/churn")
    assert info.uri == f"runs:/{run.id}/models/churn"
    assert loopml.load_model(info.uri).flavor == "sklearn"


def test_a_second_model_under_a_taken_name_is_refused(project: Path, classifier: Any) -> None:
    from loopml.errors import Conflict

    with loopml.start_run() as run:
        first = loopml.log_model(classifier)
        with pytest.raises(Conflict, match=r"already has artifacts at 'model'.*another name"):
            loopml.log_model(classifier)
        second = loopml.log_model(classifier, "model-2")
    assert loopml.models.read_model_info(f"runs:/{run.id}/model") == first
    assert second.digests == first.digests  # identical bytes, stored once


def test_log_model_needs_an_active_run(classifier: Any, project: Path) -> None:
    with pytest.raises(NotFound, match=r"log_model needs an active run: use `with loopml"):
        loopml.log_model(classifier)


@pytest.mark.parametrize("name", ["../x", "/abs", "a/../../b", "a\x00b", "", ".."])
def test_hostile_names_are_refused(project: Path, classifier: Any, name: str) -> None:
    with loopml.start_run() as run, pytest.raises(InvalidInput, match="model name"):
        loopml.log_model(classifier, name)
    assert loopml.Client(project).list_artifacts(run.id) == []


def test_a_run_without_a_model_is_not_found(project: Path) -> None:
    with loopml.start_run() as run:
        loopml.log_dict({"a": 1}, "model/other.json")
    with pytest.raises(NotFound, match=rf"run {run.id} has no model at model \(log one with"):
        loopml.models.read_model_info(f"runs:/{run.id}/model")
    with pytest.raises(NotFound, match="has no model at"):
        loopml.load_model(f"runs:/{run.id}/model")


def test_a_tampered_stored_object_is_refused(project: Path, classifier: Any, frame: Any) -> None:
    with loopml.start_run() as run:
        info = loopml.log_model(classifier)
    digest = next(d for d in info.digests if d != info.manifest_digest)
    stored = loopml.Client(project).artifacts.path(digest)
    stored.chmod(0o644)
    stored.write_bytes(stored.read_bytes()[:-10])
    with pytest.raises(CorruptObject):
        loopml.load_model(f"runs:/{run.id}/model")


def test_a_tampered_cached_copy_is_fetched_anew(project: Path, classifier: Any, frame: Any) -> None:
    with loopml.start_run() as run:
        loopml.log_model(classifier)
    uri = f"runs:/{run.id}/model"
    loopml.load_model(uri)
    cached = next((project / ".loopml" / "cache" / "models").rglob("model.skops"))
    cached.write_bytes(b"not a model")
    np.testing.assert_array_equal(loopml.load_model(uri).predict(frame), classifier.predict(frame))


def test_pickle_models_in_a_run_need_the_opt_in_to_load(project: Path) -> None:
    with loopml.start_run() as run:
        loopml.log_model(Doubler(), allow_pickle=True)
    from loopml.errors import Untrusted

    with pytest.raises(Untrusted):
        loopml.load_model(f"runs:/{run.id}/model")
    assert loopml.load_model(f"runs:/{run.id}/model", allow_pickle=True).flavor == (
        "python_function"
    )


class Doubler:
    def load_context(self, context: Any) -> None:
        self.factor = 2

    def predict(self, frame: Any) -> Any:
        return frame["age"].to_numpy() * self.factor


@dataclass(frozen=True)
class FakeVersion:
    name: str
    version: int
    source: str


_VERSIONS: dict[str, FakeVersion] = {}


def fake_resolve(ctx: Any, parsed: Any) -> Node:
    version = _VERSIONS[parsed.alias or str(parsed.version)]
    return Node(uri=f"models:/{version.name}/{version.version}", value=version)


def test_models_uris_resolve_through_the_uri_registry(
    project: Path, classifier: Any, frame: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    with loopml.start_run() as run:
        info = loopml.log_model(classifier, input_example=frame.head())
    _VERSIONS.clear()
    _VERSIONS["3"] = _VERSIONS["champion"] = FakeVersion("churn", 3, info.uri)
    scheme = Scheme(
        "models", "loopml.uri:parse_model_uri", f"{__name__}:fake_resolve", f"{__name__}:x"
    )
    monkeypatch.setitem(SCHEMES, "models", scheme)
    for uri in ("models:/churn/3", "models:/churn@champion"):
        model = loopml.load_model(uri)
        assert model.uri == "models:/churn/3" and model.version == 3
        assert model.info.run_id == run.id
        np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))


def test_a_registered_version_loads_by_alias_and_after_its_run_is_purged(
    project: Path, classifier: Any, frame: Any
) -> None:
    with loopml.start_run(experiment="m") as run:
        loopml.log_model(classifier, input_example=frame.head())
    mv = loopml.register_model(f"runs:/{run.id}/model", "churn")
    loopml.set_alias("churn", "champion", mv.version)
    model = loopml.load_model("models:/churn@champion")
    assert model.uri == f"models:/churn/{mv.version}" and model.version == mv.version
    np.testing.assert_array_equal(model.predict(frame), classifier.predict(frame))

    # the version holds its package: deleting and purging the run does not lose it
    loopml.tracking.delete_run(run.id)
    report = loopml.gc(dry_run=False, grace_seconds=0)
    assert f"runs:/{run.id}" in report.purged
    with pytest.raises(NotFound):
        loopml.load_model(f"runs:/{run.id}/model")
    import shutil

    cache = project / ".loopml" / "cache" / "models"
    assert cache.is_dir()
    shutil.rmtree(cache)  # fetched again from the store, by the hashes the manifest lists
    again = loopml.load_model(f"models:/churn/{mv.version}")
    np.testing.assert_array_equal(again.predict(frame), classifier.predict(frame))
