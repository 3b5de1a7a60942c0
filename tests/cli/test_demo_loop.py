"""``loopml demo``: the closed loop, played whole in a fresh project on the embedded
default, then checked in the project's own store."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("sklearn")
pytest.importorskip("uvicorn")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPML_")}
    return {**env, "COLUMNS": "80", **extra}


def _loopml(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from loopml.cli import main; main()", *args],
        capture_output=True,
        text=True,
        env=env or _env(),
        cwd=cwd,
        timeout=600,
    )


@pytest.fixture(scope="module")
def played(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    base = tmp_path_factory.mktemp("loop")
    project = base / "demo"
    # a shell pointed at another project and its store: the demo keeps to its own
    (base / "mine").mkdir()
    (base / "mine" / "loopml.toml").write_text("# another project\n")
    env = _env(
        LOOPML_TRACKING_URI=f"sqlite:///{base / 'shared.db'}",
        LOOPML_PROJECT_DIR=str(base / "mine"),
    )
    result = _loopml("demo", "--dir", str(project), env=env)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert not (base / "shared.db").exists()
    assert sorted(p.name for p in (base / "mine").iterdir()) == ["loopml.toml"]
    assert "not using LOOPML_TRACKING_URI, LOOPML_PROJECT_DIR" in " ".join(result.stdout.split())
    return project, result.stdout


def test_the_loop_detects_retrains_promotes_and_rolls_back(played: tuple[Path, str]) -> None:
    project, out = played
    summary = json.loads((project / "loop-summary.json").read_text())
    titles = [p["title"] for p in summary["parts"]]
    assert titles[0] == "Version and validate the data" and len(titles) == 8
    assert all(p["seconds"] > 0 for p in summary["parts"])
    accuracy = summary["live_accuracy"]
    # the world changed under the first model, and the retrained one recovered
    assert accuracy["after the change"] < accuracy["before"] - 0.2
    assert accuracy["after the retrain"] > accuracy["after the change"] + 0.2
    assert 0 < summary["first_drifted_to_promoted_seconds"] < summary["seconds"]
    shown = out.split("Look around:")[0]  # the hints are not wrapped, so they paste whole
    assert max(len(line) for line in shown.splitlines()) <= 80, out
    for line in ("rollout:/1 PROMOTED", "rollout:/2 ROLLED_BACK", "whole demo"):
        assert line in out, out
    report = project / "loop-report.html"
    assert report.read_text().lstrip().lower().startswith("<!doctype html")


def test_the_store_holds_the_chain(
    played: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project, _ = played
    for key in [k for k in os.environ if k.startswith("LOOPML_")]:
        monkeypatch.delenv(key)
    monkeypatch.chdir(project)
    import loopml
    from loopml.automation import list_events
    from loopml.context import reset
    from loopml.deployments import get_deployment, list_rollouts
    from loopml.lineage import upstream
    from loopml.monitoring import list_alerts

    reset()
    try:
        serving = get_deployment("churn")
        assert (serving.model_name, serving.version) == ("churn", 2)
        rollouts = {r.id: (str(r.status), r.candidate_version) for r in list_rollouts("churn")}
        assert rollouts == {1: ("PROMOTED", 2), 2: ("ROLLED_BACK", 3)}
        (event,) = list_events("decay")
        assert str(event.status) == "SUCCEEDED" and event.model_version == "models:/churn/2"
        assert event.dataset == "data:/churn@2" and event.rollout_id == 1
        alert = loopml.monitoring.get_alert(event.cause)
        assert alert.rule == "live.accuracy < 0.7"
        # every alert of the change was resolved once the retrained model served
        assert {str(a.status) for a in list_alerts("churn")} == {"RESOLVED"}
        # lineage: the model <- its run <- the trigger event <- the alert <- the deployment
        assert any(e.src == event.uri for e in upstream(f"runs:/{event.run_id}"))
        assert any(e.src == event.cause and e.relation == "fired" for e in upstream(event.uri))
        assert loopml.get_model_version("churn", 3).version == 3  # the bad one stays registered
    finally:
        reset()


def test_demo_refuses_a_folder_with_files(tmp_path: Path) -> None:
    keep = tmp_path / "notes.txt"
    keep.write_text("mine")
    result = _loopml("demo", "--dir", str(tmp_path))
    assert result.returncode == 1
    said = " ".join(result.stderr.split())
    assert f"--dir {tmp_path} is not empty" in said, said
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]
    assert keep.read_text() == "mine"


def test_demo_help_lists_the_parts() -> None:
    result = _loopml("demo", "--help")
    assert result.returncode == 0
    assert "loop" in result.stdout and "tour" in result.stdout


def _hostile(tmp: Path, kind: str) -> Path:
    """A --dir the demo cannot make its project in."""
    if kind == "below-a-file":
        (tmp / "afile").write_text("x")
        return tmp / "afile" / "sub"
    if kind == "dangling-link":
        (tmp / "link").symlink_to(tmp / "nowhere" / "new")
        return tmp / "link"
    return Path("~no-such-user-here/demo")


@pytest.mark.parametrize(
    ("kind", "words"),
    [
        ("below-a-file", "cannot be made (Not a directory)"),
        ("dangling-link", "which does not exist"),
        ("unknown-home", "there is no home folder"),
    ],
)
def test_demo_refuses_a_folder_it_cannot_make_and_touches_nothing(
    tmp_path: Path, kind: str, words: str
) -> None:
    target = _hostile(tmp_path, kind)
    before = sorted(str(p) for p in tmp_path.rglob("*"))
    result = _loopml("demo", "--dir", str(target))
    said = " ".join(result.stderr.split())
    assert result.returncode == 1 and words in said, said
    assert "Traceback" not in result.stderr
    assert sorted(str(p) for p in tmp_path.rglob("*")) == before


def _servers_in(project: Path) -> list[int]:
    """The processes running ``loopml serve`` in ``project``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(entry / "cwd")
        except OSError:
            continue
        if b"serve" in cmdline and Path(cwd) == project:
            found.append(int(entry.name))
    return found


@pytest.mark.skipif(not Path("/proc/self/cwd").exists(), reason="needs /proc")
def test_sigterm_in_the_middle_of_the_demo_stops_its_server(tmp_path: Path) -> None:
    project = tmp_path / "demo"
    demo = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from loopml.cli import main; main()",
            "demo",
            "--dir",
            str(project),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    try:
        deadline = time.monotonic() + 300
        while not _servers_in(project):
            assert demo.poll() is None, demo.communicate()
            assert time.monotonic() < deadline, "the demo never started its server"
            time.sleep(0.1)
        (server,) = _servers_in(project)
        demo.send_signal(signal.SIGTERM)
        demo.communicate(timeout=120)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.communicate()
    assert demo.returncode != 0
    deadline = time.monotonic() + 30
    while _servers_in(project) and time.monotonic() < deadline:
        time.sleep(0.1)
    left = _servers_in(project)
    for pid in left:  # do not leave it running whatever the outcome
        os.kill(pid, signal.SIGKILL)
    assert left == [], f"loopml serve {server} still runs after the demo was stopped"
