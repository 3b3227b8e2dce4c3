"""What `train` promises: resume in the directory given (runs may move), one process per run directory,
settings refused in one line naming the option, a run never stuck, and a full disk or a signal handled
like any other error, losing at most the epoch in progress."""

from __future__ import annotations

import json
import os
import resource
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import fails_with_one_line, make_recording, run_cli, tree_state
from timesteer.files import hold
from timesteer.train import load_checkpoint

QUICK = ("--batch-frames", "32", "--seq-len", "8", "--threads", "1", "--quiet", "--no-tensorboard")


@pytest.fixture(scope="module")
def rec(tmp_path_factory):
    return make_recording(tmp_path_factory.mktemp("data") / "rec", n=160, segments=2)


def train(rec, out, *extra, capsys=None):
    return run_cli("train", "--data", rec, "--out", out, "--model", "pilotnet", *QUICK, *extra, capsys=capsys)


def epochs_in(run: Path) -> int:
    return json.loads((run / "run.json").read_text())["epochs_done"]


def test_resume_trains_the_directory_given_not_the_one_recorded(rec, tmp_path, capsys):
    original = tmp_path / "original"
    assert train(rec, original, "--epochs", "1", capsys=capsys)[0] == 0
    copy = tmp_path / "moved" / "copy"
    shutil.copytree(original, copy)
    before = tree_state(original)
    code, _, err = run_cli("train", "--resume", copy, "--epochs", "2", "--quiet", capsys=capsys)
    assert code == 0, err
    assert tree_state(original) == before  # the original is untouched
    assert epochs_in(copy) == 2 and load_checkpoint(copy / "last.pt")["epoch"] == 1


def test_resume_from_another_working_directory(rec, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(rec.parent)
    assert train(rec.name, "runs/r", "--epochs", "1", capsys=capsys)[0] == 0  # relative paths
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli("train", "--resume", rec.parent / "runs" / "r", "--epochs", "2", "--quiet",
                           capsys=capsys)
    assert code == 0, err
    assert epochs_in(rec.parent / "runs" / "r") == 2


def test_resume_with_nothing_more_to_do_says_so(rec, tmp_path, capsys):
    run = tmp_path / "r"
    assert train(rec, run, "--epochs", "1", capsys=capsys)[0] == 0
    fails_with_one_line(capsys, "train", "--resume", run, "--epochs", "1", watch=(tmp_path,),
                        mentions=("already at 1 of 1 epochs", "--epochs N"))


def test_a_run_directory_in_use_is_refused_naming_the_holder(rec, tmp_path, capsys):
    with hold(tmp_path / ".r.lock", str(tmp_path / "r")):
        line = fails_with_one_line(capsys, "train", "--data", rec, "--out", tmp_path / "r", *QUICK,
                                   watch=(tmp_path,))
    assert "in use by process" in line


def test_two_trainings_into_one_directory_one_wins_cleanly(rec, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "timesteer", "train", "--data", str(rec), "--out", str(tmp_path / "r"),
           "--model", "cnn_gru", "--epochs", "3", *QUICK]
    first = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lock = tmp_path / ".r.lock"
    while not lock.exists() and first.poll() is None:
        pass
    second = subprocess.run(cmd, env=env, capture_output=True, text=True)
    first.communicate()
    assert first.returncode == 0
    # Which message the second gets depends on timing: while the first trains it is told who holds the
    # directory; if the first has already finished (slow start on a busy machine) it is told to --resume.
    # Either way it exits 2 with one line and writes nothing into the first's run.
    assert second.returncode == 2
    assert "in use by process" in second.stderr or "already holds a training run" in second.stderr
    assert len(second.stderr.strip().splitlines()) == 1
    rows = (tmp_path / "r" / "metrics.csv").read_text().strip().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2", "3"]  # one run's epochs, not two mixed


@pytest.mark.parametrize(("args", "option"), [
    (["--epochs", "0"], "--epochs"), (["--epochs=-3"], "--epochs"), (["--lr", "nan"], "--lr"),
    (["--lr=-1"], "--lr"), (["--threads=-2"], "--threads"), (["--grad-clip", "nan"], "--grad-clip"),
    (["--val-fraction", "1.5"], "--val-fraction"), (["--batch-frames", "0"], "--batch-frames"),
    (["--model-config", '{"hidden": 0}'], "hidden"), (["--model-config", '{"hidden": -4}'], "hidden"),
    (["--model-config", '{"dropout": 2}'], "dropout"), (["--augment", '{"flip": 1.5}'], "flip"),
])
def test_bad_settings_name_the_option_and_create_nothing(rec, tmp_path, capsys, args, option):
    fails_with_one_line(capsys, "train", "--data", rec, "--out", tmp_path / "run", "--model", "cnn_gru", *QUICK,
                        *args, watch=(tmp_path,), mentions=(option,))


def test_out_that_is_a_file(rec, tmp_path, capsys):
    (tmp_path / "run").write_text("x")
    fails_with_one_line(capsys, "train", "--data", rec, "--out", tmp_path / "run", *QUICK, watch=(tmp_path,),
                        mentions=(str(tmp_path / "run"),))


def test_a_run_stopped_before_its_first_checkpoint_starts_again(rec, tmp_path, capsys, monkeypatch):
    from timesteer.train import loop

    real = loop.save_checkpoint

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C in epoch 1, before any checkpoint

    monkeypatch.setattr(loop, "save_checkpoint", interrupted)
    run = tmp_path / "r"
    code, _, err = train(rec, run, "--epochs", "1", capsys=capsys)
    assert code == 130 and "interrupted" in err
    assert (run / "run.json").exists() and not (run / "last.pt").exists()
    monkeypatch.setattr(loop, "save_checkpoint", real)
    code, out, err = run_cli("train", "--resume", run, "--quiet", capsys=capsys)  # resume: starts again
    assert code == 0, err
    assert "starting from the beginning" in out
    assert epochs_in(run) == 1
    (run / "last.pt").unlink()
    assert train(rec, run, "--epochs", "1", capsys=capsys)[0] == 0  # a fresh train into it works too


@pytest.mark.parametrize("content", ["[]", "{}", '{"config": {}, "data": {"frame": "66x200"}}', "\udcff"])
@pytest.mark.parametrize("command", ["eval", "export", "bench", "resume", "drive"])
def test_a_broken_run_json_is_one_line_for_every_command(rec, tmp_path, capsys, content, command):
    run = tmp_path / "run"
    shutil.copytree(_one_epoch_run(rec, tmp_path.parent / "shared-run"), run)
    (run / "run.json").write_bytes(content.encode("utf-8", "surrogateescape"))
    args = {"eval": ["eval", run, "--data", rec], "export": ["export", run, "--onnx", tmp_path / "m.onnx"],
            "bench": ["bench", "stream", run, "--frames", "5"], "resume": ["train", "--resume", run],
            "drive": ["drive", run, "--seeds", "1", "--laps", "0.05"]}[command]
    fails_with_one_line(capsys, *args, watch=(tmp_path,), mentions=("run.json",))


def _one_epoch_run(rec, out: Path) -> Path:
    if not (out / "best.pt").exists():
        assert train(rec, out, "--epochs", "1")[0] == 0
    return out


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_while_checkpointing_gives_one_line_and_no_partial_file(rec, tmp_path):
    def small_files() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (300_000, 300_000))

    proc = subprocess.run([sys.executable, "-m", "timesteer", "train", "--data", str(rec), "--out",
                           str(tmp_path / "r"), "--model", "pilotnet", "--epochs", "1", *QUICK],
                          capture_output=True, text=True, preexec_fn=small_files,
                          env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "File too large" in proc.stderr
    left = sorted(p.name for p in (tmp_path / "r").iterdir())
    assert not [n for n in left if n.endswith(".tmp") or n.endswith(".pt")], left


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_signal_mid_epoch_keeps_the_last_checkpoint_whole(rec, tmp_path, capsys, monkeypatch, signum):
    from timesteer.train import loop

    run = tmp_path / "r"
    assert train(rec, run, "--epochs", "1", capsys=capsys)[0] == 0
    before = (run / "last.pt").read_bytes()
    real = loop.loss_terms

    def loss_then_signal(*args, **kwargs):
        os.kill(os.getpid(), signum)  # delivered for real, in the middle of an epoch
        return real(*args, **kwargs)

    monkeypatch.setattr(loop, "loss_terms", loss_then_signal)
    code, _, err = run_cli("train", "--resume", run, "--epochs", "2", "--quiet", capsys=capsys)
    assert code == 128 + signum and "interrupted" in err and "Traceback" not in err
    assert (run / "last.pt").read_bytes() == before
    assert not [p for p in run.iterdir() if p.name.endswith(".tmp")]
    assert not (tmp_path / ".r.lock").exists()
