from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from loopml.cli import app

click_like = Any  # a click Command or Parameter, as Typer builds them

runner = CliRunner()


def _loopml(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from loopml.cli import main; main()", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
    )


def test_init_writes_a_commented_config_and_an_ignored_state_folder(tmp_path: Path) -> None:
    result = runner.invoke(app, ["init", str(tmp_path / "p")])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "p" / "loopml.toml").read_text()
    assert "[store]" in text and "# tracking_uri" in text
    assert (tmp_path / "p" / ".loopml" / ".gitignore").read_text().strip().endswith("*")
    again = runner.invoke(app, ["init", str(tmp_path / "p")])
    assert again.exit_code != 0


def test_errors_print_one_line_without_traceback(tmp_path: Path) -> None:
    result = _loopml("lineage", "data:/@@", cwd=tmp_path)
    assert result.returncode == 1
    assert "error:" in result.stderr and "malformed dataset URI" in result.stderr
    assert "Traceback" not in result.stderr


def test_debug_variable_shows_the_traceback(tmp_path: Path) -> None:
    result = _loopml("lineage", "data:/@@", cwd=tmp_path, env={"LOOPML_DEBUG": "1"})
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_db_upgrade_reports_the_revision(project: Path) -> None:
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 0, result.output
    from loopml.store.metadata import SCHEMA_HEAD

    assert SCHEMA_HEAD in result.output


def test_help_lists_every_command_with_its_summary() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0, result.output
    for name in ("init", "lineage", "gc", "demo", "run", "tune", "data", "runs", "db"):
        assert f" {name} " in result.output, name
    assert "List, show and compare tracked runs." in result.output


def test_a_mistyped_command_suggests_the_close_ones() -> None:
    result = runner.invoke(app, ["rn"])
    assert result.exit_code != 0
    assert "'run'" in result.output and "'runs'" in result.output


# --- conventions every command follows (docs/cli-conventions.md) ---------------------

SHORT_FLAGS = {
    "-e": "--experiment",
    "-p": "--param",
    "-m": "--message",
    "-n": "--name",
    "-q": "--quiet",
    "-v": "--verbose",
}
# what Typer prints when a parameter has no metavar: <str>, <int range>, <list[str]>,
# <table|json|csv>, and the range [x>=1]; and {name} for a required argument
TYPE_LABEL = re.compile(
    r"<(?:str|int|float|bool|path|file|dir|uuid|datetime|text|integer|list\[[^\]]*\]"
    r"|[a-z]+ range|\w+(?:\|\w+)+)>|\b\d*<?=?x[<>]=?\d"
)
PLACEHOLDER = re.compile(r"\{[\w-]+\}")
METAVAR = re.compile(
    r"^(?:[A-Z][A-Z0-9_]*(?:=[A-Z][A-Z0-9_]*)?(?:\.\.\.)?|[a-z0-9_-]+(?:\|[a-z0-9_-]+)+)$"
)


def _commands() -> list[tuple[list[str], click_like]]:
    """Every command and group under ``loopml``, each with the words that reach it."""
    import typer

    found: list[tuple[list[str], click_like]] = []

    def walk(command: click_like, path: list[str]) -> None:
        found.append((path, command))
        for name in list(getattr(command, "commands", {})):
            walk(command.commands[name], [*path, name])

    walk(typer.main.get_command(app), [])
    return found


def _options(command: click_like) -> list[click_like]:
    return [p for p in command.params if p.param_type_name == "option"]


def test_every_command_is_walked() -> None:
    paths = {" ".join(path) for path, _ in _commands()}
    assert {"", "run", "tune", "lineage", "fsck", "demo", "init", "data", "data add"} <= paths
    assert {"runs", "runs list", "db", "gc"} <= paths


def test_every_help_renders_plainly_at_80_columns() -> None:
    for path, command in _commands():
        result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
        where = f"loopml {' '.join(path)} --help"
        assert result.exit_code == 0, f"{where}:\n{result.output}"
        out = result.output
        assert not TYPE_LABEL.search(out), f"{where} shows a type label:\n{out}"
        assert not PLACEHOLDER.search(out), f"{where} shows a placeholder:\n{out}"
        assert max(len(line) for line in out.splitlines()) <= 80, f"{where}:\n{out}"
        # every word of the command's own help and of its options' help is shown whole
        shown = set(re.sub(r"[│╭╮╰╯─]", " ", out).split())
        texts = [command.help or "", *(p.help or "" for p in command.params)]
        for text in texts:
            for word in text.replace("\\[", "[").split():
                assert word in shown, f"{where}: {word!r} is split or missing:\n{out}"
        usage = next(line for line in out.splitlines() if "Usage:" in line)
        for param in command.params:
            if param.param_type_name == "argument":
                word = param.metavar.removesuffix("...")
                assert word.isupper() and word in usage, f"{where}: {usage}"


def test_options_show_a_capital_word_and_flags_show_none() -> None:
    for path, command in _commands():
        for option in _options(command):
            where = f"loopml {' '.join(path)} {option.opts[0]}"
            if option.is_flag or option.count:
                assert not option.metavar, where
            else:
                assert option.metavar and METAVAR.match(option.metavar), (
                    f"{where}: metavar {option.metavar!r}"
                )


def test_a_value_option_shows_its_word_in_help() -> None:
    result = runner.invoke(app, ["tune", "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert any("--n-trials" in line and " N " in line for line in lines)
    assert any("--param" in line and "-p" in line and "KEY=VALUE" in line for line in lines)
    assert any("--tracking-uri" in line and "URL" in line for line in lines)
    help_line = next(line for line in lines if "--help" in line)
    assert "Show this message and exit." in help_line and "BOOL" not in help_line.upper()
    assert "Usage: loopml tune [OPTIONS] [PIPELINE]" in result.output


def test_each_short_flag_means_one_long_option_everywhere() -> None:
    problems = []
    seen: set[str] = set()
    for path, command in _commands():
        for option in _options(command):
            shorts = [o for o in option.opts + option.secondary_opts if not o.startswith("--")]
            longs = ", ".join(o for o in option.opts if o.startswith("--"))
            for short in shorts:
                where = f"loopml {' '.join(path)} {short} ({longs})"
                if short not in SHORT_FLAGS:
                    problems.append(f"{where}: not a short flag of the CLI; make it long only")
                elif SHORT_FLAGS[short] not in option.opts:
                    problems.append(f"{where}: {short} means {SHORT_FLAGS[short]} everywhere")
                else:
                    seen.add(short)
    assert not problems, "\n".join(problems)
    assert {"-e", "-p", "-m", "-n"} <= seen  # run, tune and data add use them


def test_run_and_tune_take_the_experiment_and_the_stores() -> None:
    commands = dict((" ".join(path), command) for path, command in _commands())
    for name in ("run", "tune", "lineage", "fsck"):
        opts = {o for option in _options(commands[name]) for o in option.opts}
        assert {"--tracking-uri", "--artifact-uri"} <= opts, name
    for name in ("run", "tune"):
        opts = {o for option in _options(commands[name]) for o in option.opts}
        assert {"--experiment", "-e", "--executor"} <= opts, name
        assert "-n" not in opts and "-m" not in opts and "-d" not in opts, name


def test_version_prints_the_installed_version_fast(tmp_path: Path) -> None:
    from importlib.metadata import version

    result = _loopml("--version", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"loopml {version('loopml')}\n"
    assert not (tmp_path / ".loopml").exists()
    modules = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys\nfrom loopml.cli import main\ntry:\n    main(['--version'])\n"
            "except SystemExit:\n    pass\nprint(sorted(m for m in sys.modules))",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    loaded = modules.stdout.splitlines()[-1]
    assert "'rich.table'" not in loaded and "'sqlite3'" not in loaded


def test_python_dash_m_loopml_is_the_cli(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "loopml", "--version"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("loopml ")


def test_the_root_help_lists_every_command_by_its_own_summary_without_importing_it() -> None:
    import subprocess
    import sys

    from loopml.cli import _COMMANDS, _load

    for name, (_, _, summary) in _COMMANDS.items():
        own = (_load(name).help or "").split("\n\n")[0].strip()
        assert " ".join(own.split()) == summary, f"loopml {name}: update its summary in _COMMANDS"
    code = (
        "import sys, io, contextlib\n"
        "from loopml.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('loopml.cli.')\n"
        "                and m.split('.')[-1][0] != '_')\n"
        "print(loaded)\n"
        "print(out.getvalue())\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**__import__("os").environ, "COLUMNS": "200"},
    ).stdout
    assert shown.splitlines()[0] == "[]", "loopml --help imported command modules"
    for name, (_, _, summary) in _COMMANDS.items():
        assert name in shown and summary.replace("\\", "") in shown


def test_the_consoles_take_the_width_when_they_print_not_when_they_are_made(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from loopml.cli import _output

    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.setenv("LINES", "90")
    made = _output._console()
    monkeypatch.setenv("COLUMNS", "80")
    monkeypatch.setenv("LINES", "30")
    assert (made.width, made.height) == (80, 30)
    assert _output.console.width == _output.err_console.width == 80
