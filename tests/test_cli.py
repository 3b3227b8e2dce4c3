"""The command line: every subcommand has --help; bad input exits 2 with one line."""

from __future__ import annotations

import subprocess
import sys

import pytest

from timesteer.cli import COMMANDS, build_parser


def test_help_lists_subcommands(capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args(["--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name, *_ in COMMANDS:
        assert name in out


@pytest.mark.parametrize("name", [c[0] for c in COMMANDS])
def test_each_subcommand_has_help(name, capsys):
    with pytest.raises(SystemExit) as exc:
        build_parser().parse_args([name, "--help"])
    assert exc.value.code == 0
    assert "usage: timesteer " + name in capsys.readouterr().out


def test_python_dash_m_runs_the_cli():
    out = subprocess.run([sys.executable, "-m", "timesteer", "--version"], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.startswith("timesteer ")


def test_missing_recording_exits_2(tmp_path):
    out = subprocess.run([sys.executable, "-m", "timesteer", "info", str(tmp_path / "nope")],
                         capture_output=True, text=True)
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "recording not found" in out.stderr
