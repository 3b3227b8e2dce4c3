"""The command line: every subcommand has --help; bad input exits 2 with one line."""

from __future__ import annotations

import argparse
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


def _subparsers():
    from timesteer.cli import build_parser

    parser = build_parser()
    (sub,) = [a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction"]
    return sub.choices


def test_every_option_says_what_it_does_and_its_default():
    for name, sub in _subparsers().items():
        text = sub.format_help()
        for action in sub._actions:
            if not action.option_strings or action.dest == "help":
                continue
            assert action.help, f"{name} {action.option_strings[0]} has no help"
            default = getattr(action, "config_default", action.default)
            if default not in (None, False, True, {}, argparse.SUPPRESS):
                assert "default" in sub._get_formatter()._get_help_string(action), (name, action.option_strings)
        assert "(default:" in text or name in ("info", "models"), name


def test_train_help_shows_the_typed_configs_defaults():
    from timesteer.train.config import TrainConfig

    text = " ".join(_subparsers()["train"].format_help().split())
    defaults = TrainConfig(data="x", out="y")
    assert f"(default: {defaults.epochs})" in text and f"(default: {defaults.lr})" in text
    assert f"(default: {defaults.batch_frames})" in text and "(default: best)" in " ".join(
        _subparsers()["eval"].format_help().split())
    assert "(default: 127.0.0.1)" in " ".join(_subparsers()["serve"].format_help().split())


@pytest.mark.parametrize("args", [["train", "--data", "R", "--epochs", "x"], ["drive"], ["nope"],
                                  ["drive", "run", "--seeds", "1", "--conditions", "{}"]])
def test_a_command_line_argparse_cannot_read_is_one_line(args, capsys):
    from tests.helpers import run_cli

    code, out, err = run_cli(*args, capsys=capsys)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and err.startswith("timesteer: error: ") and "--help" in err, err
    assert "usage:" not in err


def test_ctrl_c_while_the_parser_is_built_is_one_line(monkeypatch, capsys):
    import timesteer.cli as cli

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["info", "x"]) == 130
    err = capsys.readouterr().err
    assert err.strip().splitlines() == ["timesteer: interrupted (SIGINT) before anything started"]


@pytest.mark.parametrize(("args", "option"), [
    (["train", "--data", "R", "--out", "O", "--seed", str(2**64 + 1)], "--seed"),
    (["train", "--data", "R", "--out", "O", "--threads", "100000"], "--threads"),
    (["train", "--data", "R", "--out", "O", "--lr", "1e300"], "--lr"),
    (["train", "--data", "R", "--out", "O", "--model-config", '{"hidden": 99999999999}'], "hidden"),
    (["bench", "stream", "R", "--frames", "99999999999"], "--frames"),
    (["explain", "R", "--data", "D", "--out", "O", "--max-lag", "1e9"], "--max-lag"),
    (["record-sim", "--seeds", "1", "--out", "O", "--latency-ms", "1e12"], "--latency-ms"),
    (["record-sim", "--seeds", "1-99999999999", "--out", "O"], "--seeds"),
])
def test_numbers_past_what_the_machine_holds_are_one_line_naming_the_option(args, option, tmp_path, capsys,
                                                                             monkeypatch):
    from tests.helpers import fails_with_one_line

    monkeypatch.chdir(tmp_path)
    fails_with_one_line(capsys, *args, watch=(tmp_path,), mentions=(option, "<="))


def test_ctrl_c_while_the_script_starts_is_one_line():
    # What the `timesteer` script does first: import the entry module; a Ctrl-C before the command line is
    # built (importing it, building the parser) says one line and exits 130.
    code = ("import os, signal, time\nimport timesteer._entry\nos.kill(os.getpid(), signal.SIGINT)\n"
            "time.sleep(5)\nprint('not interrupted')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 130 and out.stdout == ""
    assert out.stderr.strip().splitlines() == ["timesteer: interrupted (SIGINT) before anything started"]


def test_importing_the_command_line_changes_no_signal_handler():
    code = ("import signal\nbefore = signal.getsignal(signal.SIGINT)\nimport timesteer.cli\n"
            "assert signal.getsignal(signal.SIGINT) is before\nprint('same')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "same", out.stderr
