"""The ``doppelganger`` command line: every subcommand explains itself."""

from __future__ import annotations

import subprocess
import sys

import pytest

from app.cli import build_parser, main

SUBCOMMANDS = [["data"], ["data", "download"], ["data", "info"], ["train"], ["evaluate"], ["report"], ["visualize"], ["retrieve"], ["compare"]]


@pytest.mark.parametrize("command", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_has_help(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main([*command, "--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: doppelganger " + " ".join(command))
    assert len(out.splitlines()) > 4


def test_train_help_names_the_required_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    out = capsys.readouterr().out
    for flag in ("--dataset", "--min-images", "--loss", "--miner", "--backbone", "--dim", "--epochs", "--seed", "--out", "--resume", "--config"):
        assert flag in out


def test_console_script_is_installed() -> None:
    result = subprocess.run([sys.executable, "-m", "app.cli", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and "train" in result.stdout and "evaluate" in result.stdout


def test_unknown_choice_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        build_parser().parse_args(["train", "--dataset", "imagenet"])
    assert exit_.value.code == 2
    assert "invalid choice" in capsys.readouterr().err


def test_evaluate_of_a_missing_run_is_a_clear_error(tmp_path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["evaluate", str(tmp_path / "nothing")]) == 2
    assert "not a run directory" in capsys.readouterr().err
