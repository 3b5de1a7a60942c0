from __future__ import annotations

import pytest

from loopml.errors import InvalidInput
from loopml.uri import (
    CacheURI,
    DataURI,
    ModelURI,
    RunURI,
    ValidationURI,
    local_path,
    parse_data_uri,
    parse_uri,
    redact,
    scheme_of,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data:/iris@3", DataURI("iris", 3)),
        ("data:/iris@latest", DataURI("iris", None, latest=True)),
        ("data:/iris", DataURI("iris", None)),
        ("runs:/0123abcd0123abcd/model/model.pkl", RunURI("0123abcd0123abcd", "model/model.pkl")),
        ("runs:/0123abcd0123abcd", RunURI("0123abcd0123abcd", "")),
        ("models:/churn/2", ModelURI("churn", 2, None)),
        ("models:/churn@champion", ModelURI("churn", None, "champion")),
        ("validation:/0123abcd0123abcd", ValidationURI("0123abcd0123abcd")),
        ("cache:/" + "ab" * 32, CacheURI("ab" * 32)),
    ],
)
def test_uris_parse_into_records(text: str, expected: object) -> None:
    assert parse_uri(text) == expected


def test_bare_dataset_names_are_accepted() -> None:
    assert parse_data_uri("iris@2") == DataURI("iris", 2)
    assert parse_data_uri("iris") == DataURI("iris", None)
    assert str(DataURI("iris", 2)) == "data:/iris@2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("data:/iris@x", "malformed dataset version 'x'"),
        ("data:/iris@0", "malformed dataset version '0'"),
        ("data:/@3", "malformed dataset URI"),
        ("runs:/not-hex", "malformed run URI"),
        ("models:/m", "malformed model URI"),
        ("s3://bucket/x", "unknown URI"),
        ("validation:/xyz", "malformed validation URI"),
        ("cache:/short", "malformed cache URI"),
    ],
)
def test_malformed_uris_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_uri(text)


def test_records_print_the_uri_they_parse_from() -> None:
    for text in (
        "data:/iris@3",
        "data:/iris@latest",
        "data:/iris",
        "runs:/0123abcd0123abcd",
        "runs:/0123abcd0123abcd/model/model.pkl",
        "models:/churn/2",
        "models:/churn@champion",
        "validation:/0123abcd0123abcd",
        "cache:/" + "ab" * 32,
    ):
        assert str(parse_uri(text)) == text
    assert str(RunURI("4f3a9c0e" * 4, "outputs/model.skops")) == (
        "runs:/4f3a9c0e4f3a9c0e4f3a9c0e4f3a9c0e/outputs/model.skops"
    )
    assert str(DataURI("iris", latest=True)) == "data:/iris@latest"
    assert str(DataURI("iris")) == "data:/iris"  # the version loopml.lock pins


def test_scheme_of_names_the_scheme_or_refuses() -> None:
    assert scheme_of("data:/iris@3") == "data"
    assert scheme_of("runs:/0123abcd") == "runs"
    with pytest.raises(InvalidInput, match="malformed URI"):
        scheme_of("iris")


def test_local_path_is_none_for_remote_urls() -> None:
    assert local_path("/tmp/objects") == "/tmp/objects"
    assert local_path("relative/objects") == "relative/objects"
    assert local_path("file:///tmp/objects") == "/tmp/objects"
    assert local_path("s3://bucket/prefix") is None


def test_redact_hides_passwords_and_secret_query_values() -> None:
    assert redact("postgresql://u:s3cret@h/db") == "postgresql://u:***@h/db"
    assert redact("postgresql://u@h/db") == "postgresql://u@h/db"
    assert redact("s3://bucket/x?token=abc123&region=eu") == "s3://bucket/x?token=***&region=eu"
    assert redact("/plain/path") == "/plain/path"


@pytest.mark.parametrize("version", ["0", "99999999999999999999999", str(2**63)])
def test_a_model_version_out_of_range_is_one_invalid_input(version: str) -> None:
    from loopml.uri import parse_model_uri

    with pytest.raises(InvalidInput, match="malformed model version"):
        parse_model_uri(f"models:/churn/{version}")
    assert parse_model_uri(f"models:/churn/{2**63 - 1}").version == 2**63 - 1
