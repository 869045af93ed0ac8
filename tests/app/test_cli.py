"""The ``doppelganger`` command line: every subcommand explains itself."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from app.cli import build_parser, main



def _commands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command path of the parser, read from the parser itself (``("index", "build")``, ...)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found.append((*prefix, name))
                found += _commands(sub, (*prefix, name))
    return found


SUBCOMMANDS = [list(c) for c in _commands(build_parser())]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: doppelganger " + " ".join(command))
    assert len(out.splitlines()) > 4


def test_the_subcommands_are_all_there() -> None:
    assert {"data", "train", "evaluate", "report", "visualize", "retrieve", "compare", "faces", "index", "match",
            "serve"} <= {c[0] for c in SUBCOMMANDS}
    assert ["index", "build"] in SUBCOMMANDS and ["faces", "calibrate"] in SUBCOMMANDS and ["data", "download"] in SUBCOMMANDS


def test_train_help_names_the_required_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--dataset", "--min-images", "--loss", "--miner", "--backbone", "--dim", "--epochs", "--seed", "--out", "--resume", "--config"):
        assert flag in out


def test_console_script_is_installed() -> None:
    """The ``doppelganger`` script that ``pip install`` put beside this Python runs and lists every command."""
    script = Path(sys.executable).parent / "doppelganger"
    assert script.is_file(), f"{script} is missing: `pip install -e .` (make setup) installs it"
    result = subprocess.run([str(script), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: doppelganger")
    for command in {c[0] for c in SUBCOMMANDS}:
        assert command in result.stdout, command


def test_unknown_choice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["train", "--dataset", "imagenet"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_evaluate_of_a_missing_run_is_a_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
