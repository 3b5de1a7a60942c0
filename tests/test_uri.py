from __future__ import annotations

import pytest

from loopml.errors import InvalidInput
from loopml.uri import DataURI, ModelURI, RunURI, parse_data_uri, parse_uri


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("data:/iris@3", DataURI("iris", 3)),
        ("data:/iris@latest", DataURI("iris", None)),
        ("data:/iris", DataURI("iris", None)),
        ("runs:/0123abcd0123abcd/model/model.pkl", RunURI("0123abcd0123abcd", "model/model.pkl")),
        ("runs:/0123abcd0123abcd", RunURI("0123abcd0123abcd", "")),
        ("models:/churn/2", ModelURI("churn", 2, None)),
        ("models:/churn@champion", ModelURI("churn", None, "champion")),
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
    ],
)
def test_malformed_uris_name_the_problem(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_uri(text)
