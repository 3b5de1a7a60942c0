"""Saving, loading and declaring suites; malformed ones are refused clearly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import loopml
from loopml.errors import InvalidInput, NotFound
from loopml.validation import Check, Suite, expect_column_values_between


@pytest.mark.parametrize("ext", ["json", "yaml", "yml"])
def test_suite_round_trips_through_a_file(tmp_path: Path, iris: pd.DataFrame, ext: str) -> None:
    suite = loopml.infer_suite(iris, name="iris")
    path = suite.save(tmp_path / f"suite.{ext}")
    loaded = Suite.load(path)
    assert loaded == suite
    assert loopml.validate(iris, str(path)).passed


def test_saved_yaml_is_editable_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(
        "name: people\nchecks:\n  - kind: between\n    column: age\n    min: 0\n    max: 120\n"
        "    severity: warning\n"
    )
    suite = Suite.load(path)
    assert suite.checks == [Check("between", "age", {"min": 0, "max": 120}, "warning")]


def test_invalid_range_is_refused() -> None:
    with pytest.raises(InvalidInput, match="min 5 is greater than max 1"):
        expect_column_values_between("x", 5, 1)


def test_unknown_kind_severity_and_parameter_are_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown check kind 'bogus'"):
        Check("bogus", "x")
    with pytest.raises(InvalidInput, match="severity must be 'error' or 'warning'"):
        Check("unique", "x", severity="fatal")
    with pytest.raises(InvalidInput, match="unknown parameter"):
        Check("between", "x", {"minimum": 1})


def test_json_that_does_not_parse_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    path.write_text('{"checks": [\n  {"kind": "unique",\n}\n]}')
    with pytest.raises(InvalidInput, match=r"broken\.json, line 3"):
        Suite.load(path)


def test_yaml_that_does_not_parse_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("checks:\n  - kind: unique\n    column: [x\n")
    with pytest.raises(InvalidInput, match=r"broken\.yaml, line \d"):
        Suite.load(path)


def test_bad_check_in_file_names_its_position(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"checks": [{"kind": "unique", "column": "a"}, {"kind": "between"}]}')
    with pytest.raises(InvalidInput, match=r"bad\.json, check 2: a 'between' check needs a column"):
        Suite.load(path)


def test_missing_suite_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="does not exist"):
        Suite.load(tmp_path / "nope.json")
