"""[privacy] mask / drop: raw values never reach the disk."""

from __future__ import annotations

import hashlib
import hmac
import stat
from pathlib import Path

import pytest

import loopml
from loopml.errors import InvalidInput
from loopml.predictions import PredictionLogger, PredictionRecord

TOML = '[privacy]\nmask = ["email"]\ndrop = ["ssn"]\n'


def _log(rows: list[dict[str, object]]) -> PredictionLogger:
    with PredictionLogger("churn") as logger:
        for i, inputs in enumerate(rows):
            logger.log(PredictionRecord(f"req-{i}", inputs=inputs, prediction=1))
    return logger


def _all_bytes(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())


def test_masked_and_dropped_values_appear_nowhere_on_disk(project: Path) -> None:
    (project / "loopml.toml").write_text(TOML)
    rows = [
        {"email": "alice.secret@example.org", "ssn": "123-45-6789", "note": "kiwi-orchard"},
        {"email": "bob.hidden@example.org", "ssn": "987-65-4321", "note": "zebra-lantern"},
        {"email": "alice.secret@example.org", "ssn": "555-55-5555", "note": "quartz-violin"},
    ]
    _log(rows)
    disk = _all_bytes(project)
    assert b"zebra-lantern" in disk  # the search finds a column that is not masked
    for secret in ("alice.secret", "bob.hidden", "123-45-6789", "987-65-4321", "555-55-5555"):
        assert secret.encode() not in disk, secret
    frame = loopml.read_predictions("churn")
    assert "in.ssn" not in frame.columns
    hashed = frame["in.email"].tolist()
    assert hashed[0] == hashed[2] != hashed[1]  # still usable to group by
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in hashed)
    key = (project / ".loopml" / "privacy.key").read_bytes().strip()
    expected = hmac.new(key, b"alice.secret@example.org", hashlib.sha256).hexdigest()
    assert hashed[0] == expected
    mode = stat.S_IMODE((project / ".loopml" / "privacy.key").stat().st_mode)
    assert mode == 0o600


def test_the_key_file_is_made_once_and_the_environment_key_wins(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (project / "loopml.toml").write_text(TOML)
    _log([{"email": "same@example.org"}])
    key_file = project / ".loopml" / "privacy.key"
    first = key_file.read_bytes()
    _log([{"email": "same@example.org"}])
    assert key_file.read_bytes() == first
    monkeypatch.setenv("LOOPML_PRIVACY_KEY", "a key from the environment")
    logger = _log([{"email": "same@example.org"}])
    assert "a key from the environment" not in repr(logger.privacy)
    hashes = loopml.read_predictions("churn")["in.email"].tolist()
    assert hashes[0] == hashes[1] != hashes[2]
    expected = hmac.new(b"a key from the environment", b"same@example.org", hashlib.sha256)
    assert hashes[2] == expected.hexdigest()


def test_without_masked_columns_no_key_is_made(project: Path) -> None:
    (project / "loopml.toml").write_text('[privacy]\ndrop = ["ssn"]\n')
    _log([{"ssn": "123-45-6789", "age": 3}])
    assert not (project / ".loopml" / "privacy.key").exists()
    assert list(loopml.read_predictions("churn").filter(like="in.").columns) == ["in.age"]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ('[privacy]\nmask = "email"\n', "mask must be a list of distinct"),
        ('[privacy]\nmask = ["a", "a"]\n', "mask must be a list of distinct"),
        ("[privacy]\ndrop = [1]\n", "drop must be a list of distinct"),
        ('[privacy]\ndrop = [""]\n', "drop must be a list of distinct"),
        ('[privacy]\nhide = ["a"]\n', "unknown key 'hide' in \\[privacy\\]"),
        ('[privacy]\nmask = ["a"]\ndrop = ["a", "b"]\n', "'a' under both mask and drop"),
        ("[predictions]\nretention_days = 0\n", "retention_days must be a positive number"),
        ('[predictions]\nretention_days = "7"\n', "retention_days must be a positive number"),
        ("[predictions]\nretention_days = inf\n", "retention_days must be a positive number"),
        ("[predictions]\nkeep = 3\n", "unknown key 'keep' in \\[predictions\\]"),
    ],
)
def test_a_bad_privacy_or_predictions_section_is_refused(
    project: Path, toml: str, message: str
) -> None:
    (project / "loopml.toml").write_text(toml)
    with pytest.raises(InvalidInput, match=message):
        PredictionLogger("churn")
    assert not (project / ".loopml" / "artifacts" / "predictions").exists()


def test_the_sections_are_read_into_settings(project: Path) -> None:
    (project / "loopml.toml").write_text(TOML + "[predictions]\nretention_days = 14\n")
    settings = loopml.Client(project).settings
    assert settings.privacy.mask == ("email",) and settings.privacy.drop == ("ssn",)
    assert settings.predictions.retention_days == 14
