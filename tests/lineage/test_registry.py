"""The URI registry: every scheme parses, resolves and describes its nodes, and every node
the lineage graph holds can be opened."""

from __future__ import annotations

from pathlib import Path

import pytest

import loopml
from loopml.errors import InvalidInput, NotFound
from loopml.lineage import SCHEMES, resolve


@pytest.fixture
def linked(project: Path) -> dict[str, str]:
    """A dataset version, a validation of it, a run that used it and a pipeline run."""
    (project / "d.csv").write_text("x,y\n1,a\n2,b\n3,c\n")
    version = loopml.add_dataset(project / "d.csv", "d")
    result = loopml.validate("d@1", reference="data:/d@1")
    with loopml.start_run(experiment="e") as run:
        run.use_dataset("d")
    (project / "lineage_flow.py").write_text(
        "import loopml\n\n\n@loopml.step\ndef total(ds: str) -> int:\n"
        "    return int(loopml.get_dataset(ds).to_pandas()['x'].sum())\n\n\n"
        "@loopml.pipeline\ndef flow(ds: str = 'data:/d@1'):\n    return total(ds)\n"
    )
    prun = loopml.pipelines.run_pipeline("lineage_flow:flow")
    assert result.uri is not None
    return {
        "data": version.uri,
        "validation": result.uri,
        "runs": run.uri,
        "pipeline": prun.uri,
        "cache": f"cache:/{prun.steps[0].cache_key}",
    }


def test_every_scheme_resolves_its_nodes_and_describes_them(linked: dict[str, str]) -> None:
    assert set(SCHEMES) == {
        "data",
        "runs",
        "models",
        "validation",
        "cache",
        "evaluation",
        "promotion",
        "deployments",
        "rollout",
        "alerts",
        "triggers",
    }
    assert resolve(linked["data"]).uri == linked["data"]
    assert resolve("data:/d@latest").uri == "data:/d@1"
    assert resolve(linked["validation"]).passed
    run = resolve(linked["runs"][:14])  # a prefix of the id opens the run
    assert run.id == linked["runs"].removeprefix("runs:/")
    assert resolve(linked["cache"]).step.endswith("flow.total")
    labels = loopml.get_lineage(linked["data"]).labels
    assert labels[linked["validation"]].startswith("passed")
    assert labels[linked["runs"]].endswith("(e, finished)")


def test_an_evaluation_resolves_and_is_described(project: Path) -> None:
    import pandas as pd
    from sklearn.linear_model import LinearRegression

    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0], "y": [2.0, 4.1, 5.9, 8.0]})
    loopml.save_model(
        LinearRegression().fit(frame[["x"]], frame["y"]), "m", input_example=frame[["x"]]
    )
    ev = loopml.evaluate("m", frame, latency=False)
    assert ev.uri is not None
    assert resolve(ev.uri).metrics == ev.metrics
    (frame.to_csv(project / "e.csv", index=False))
    on_data = loopml.evaluate("m", loopml.add_dataset("e.csv", "e").uri, latency=False)
    labels = loopml.get_lineage("data:/e@1").labels
    assert labels[on_data.uri].startswith("regression on 4 rows: rmse")
    with pytest.raises(NotFound, match="no stored evaluation evaluation:/99"):
        resolve("evaluation:/99")


def test_every_node_of_a_lineage_graph_can_be_opened(linked: dict[str, str]) -> None:
    for uri in (linked["data"], linked["pipeline"], linked["validation"]):
        graph = loopml.get_lineage(uri)
        for node in graph.nodes():
            assert resolve(node) is not None, node
            assert node in graph.labels, node


def test_lineage_of_a_validation_result_leads_back_to_the_data(linked: dict[str, str]) -> None:
    graph = loopml.get_lineage(linked["validation"])
    up = [(c.uri, c.relation) for c in graph.upstream.children]
    assert up == [(linked["data"], "validated")]


def test_dataset_references_are_accepted_in_one_form_everywhere(linked: dict[str, str]) -> None:
    for ref in ("d@1", "d", "data:/d@1", "data:/d@latest", "data:/d"):
        assert loopml.get_dataset(ref).uri == "data:/d@1"
        assert loopml.validate(ref, reference="d", store=False).passed
        with loopml.start_run(experiment="refs") as run:
            assert run.use_dataset(ref).uri == "data:/d@1"


def test_unknown_schemes_and_missing_nodes_are_clear_errors(linked: dict[str, str]) -> None:
    with pytest.raises(InvalidInput, match="no part of loopml serves 'monitors:/'"):
        loopml.get_lineage("monitors:/churn")
    with pytest.raises(NotFound, match="no deployment 'churn'"):
        loopml.get_lineage("deployments:/churn")
    with pytest.raises(NotFound, match="no registered model 'churn'"):
        loopml.get_lineage("models:/churn/1")
    with pytest.raises(InvalidInput, match="malformed URI"):
        resolve("not a uri")
    with pytest.raises(NotFound, match="no stored validation result"):
        resolve("validation:/" + "0" * 16)
    with pytest.raises(NotFound, match="no step cache entry"):
        resolve("cache:/" + "0" * 64)
    with pytest.raises(NotFound):
        resolve(linked["runs"] + "/no/such/artifact")


def test_add_edge_refuses_uris_nobody_serves(linked: dict[str, str]) -> None:
    loopml.lineage.add_edge(linked["data"], linked["runs"], "reviewed")
    assert (linked["data"], "reviewed") in {
        (e.src, e.relation) for e in loopml.lineage.upstream(linked["runs"])
    }
    with pytest.raises(InvalidInput):
        loopml.lineage.add_edge("ftp:/x", linked["runs"], "input")
    with pytest.raises(InvalidInput):
        loopml.lineage.add_edge(linked["data"], linked["runs"], "two words")
