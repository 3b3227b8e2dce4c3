"""An output never swallows an input: every command that writes a directory or a file may replace only
what the same command made, never a special file, never a directory that holds one of its inputs; a run
or recording is never mixed into someone else's files; a lock belongs to the real path; a resume goes on
only from its own checkpoint, on the data it started on."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys

import pytest

from tests.helpers import fails_with_one_line, make_recording, run_cli, tree_state
from timesteer.files import hold, lock_for

QUICK = ("--batch-frames", "32", "--seq-len", "8", "--threads", "1", "--quiet", "--no-tensorboard")


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("swallow")
    rec = make_recording(root / "rec", n=120)
    code, _, err = run_cli("train", "--data", rec, "--out", root / "run", "--model", "pilotnet", "--epochs", "1",
                           *QUICK)
    assert code == 0, err
    return rec, root / "run"


@pytest.mark.parametrize("command", ["report", "explain"])
def test_a_directory_output_never_replaces_one_holding_its_run(trained, tmp_path, capsys, command):
    rec, run = trained
    out = tmp_path / "rep"
    extra = ("--no-video", "--no-explain") if command == "report" else ("--video-seconds", "0.5")
    assert run_cli(command, run, "--data", rec, "--out", out, *extra, "--quiet")[0] == 0
    shutil.copytree(run, out / "MYRUN")  # the user keeps a copy of the run inside the old report
    fails_with_one_line(capsys, command, out / "MYRUN", "--data", rec, "--out", out, *extra, "--quiet",
                        watch=(tmp_path,), mentions=(str(out), "input of this command"))


def test_a_report_never_replaces_a_directory_holding_its_recording(trained, tmp_path, capsys):
    rec, run = trained
    out = tmp_path / "rep"
    assert run_cli("report", run, "--data", rec, "--out", out, "--no-video", "--no-explain", "--quiet")[0] == 0
    shutil.copytree(rec, out / "REC")
    fails_with_one_line(capsys, "report", run, "--data", out / "REC", "--out", out, "--no-video", "--no-explain",
                        "--quiet", watch=(tmp_path,), mentions=("input of this command",))


@pytest.mark.skipif(os.name == "nt", reason="FIFOs are POSIX")
def test_export_never_replaces_a_special_file(trained, tmp_path, capsys):
    _, run = trained
    fifo = tmp_path / "pipe.onnx"
    os.mkfifo(fifo)
    fails_with_one_line(capsys, "export", run, "--onnx", fifo, mentions=(str(fifo), "special file"))
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)  # still the FIFO, not a regular file in its place


def test_import_overwrite_never_deletes_what_else_lives_in_the_recording(tmp_path, capsys):
    rec = make_recording(tmp_path / "rec", n=40)
    (rec / "notes.txt").write_text("my notes")
    src = tmp_path / "rec-src"
    fails_with_one_line(capsys, "import", "udacity-sim", src, rec, "--overwrite", watch=(tmp_path,),
                        mentions=(str(rec), "notes.txt", "not part of the recording"))


def test_import_overwrite_replaces_a_recording_holding_only_its_own_files(tmp_path, capsys):
    rec = make_recording(tmp_path / "rec", n=40)
    assert run_cli("import", "udacity-sim", tmp_path / "rec-src", rec, "--overwrite", "--quiet")[0] == 0
    assert sorted(p.name for p in rec.iterdir()) == ["frames.npy", "manifest.json", "signals.csv"]


@pytest.mark.parametrize("out", ["", "/"])
def test_train_refuses_the_working_directory_and_the_root(trained, tmp_path, capsys, monkeypatch, out):
    rec, _ = trained
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    fails_with_one_line(capsys, "train", "--data", rec, "--out", out, "--model", "pilotnet", "--epochs", "1",
                        *QUICK, watch=(tmp_path,), mentions=("--out",))


def test_train_never_mixes_a_run_into_a_directory_of_other_files(trained, tmp_path, capsys):
    rec, _ = trained
    (tmp_path / "photos").mkdir()
    (tmp_path / "photos" / "cat.jpg").write_bytes(b"jpeg")
    fails_with_one_line(capsys, "train", "--data", rec, "--out", tmp_path / "photos", "--model", "pilotnet",
                        "--epochs", "1", *QUICK, watch=(tmp_path,), mentions=("not made by timesteer", "run directory"))
    # ... nor into a recording (whose --overwrite would then delete the run)
    fails_with_one_line(capsys, "train", "--data", rec, "--out", rec, "--model", "pilotnet", "--epochs", "1",
                        *QUICK, watch=(rec,), mentions=("not made by timesteer",))


def test_an_empty_directory_is_a_fine_place_for_a_run(trained, tmp_path):
    rec, _ = trained
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli("train", "--data", rec, "--out", tmp_path / "empty", "--model", "pilotnet", "--epochs",
                           "1", *QUICK)
    assert code == 0, err
    assert (tmp_path / "empty" / "last.pt").is_file()


def test_a_symlink_to_a_run_takes_the_same_lock(trained, tmp_path, capsys):
    _, run = trained
    real = tmp_path / "real"
    shutil.copytree(run, real)
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert lock_for(link) == lock_for(real)
    # a process holds the real directory; training through the link is refused, naming the holder
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from timesteer.files import hold, lock_for\n"
        f"with hold(lock_for({str(real)!r}), 'x'):\n    print('held', flush=True); time.sleep(60)")],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        fails_with_one_line(capsys, "train", "--resume", link, "--epochs", "2", "--quiet",
                            watch=(real,), mentions=("in use by process",))
    finally:
        holder.kill()
        holder.wait()
    with hold(lock_for(link), "x"):  # and the lock goes with its holder
        pass


def test_resume_refuses_a_recording_imported_again_with_other_frames(tmp_path, capsys):
    rec = make_recording(tmp_path / "rec", n=120)
    mine = tmp_path / "run"
    assert run_cli("train", "--data", rec, "--out", mine, "--model", "pilotnet", "--epochs", "1", *QUICK)[0] == 0
    shutil.rmtree(rec)
    make_recording(tmp_path / "rec", n=100)  # the same path, other frames
    fails_with_one_line(capsys, "train", "--resume", mine, "--epochs", "2", "--quiet", watch=(mine,),
                        mentions=(str(rec), "not the recording this run started on"))


def test_resume_refuses_a_checkpoint_of_another_model(trained, tmp_path, capsys):
    rec, run = trained
    other = tmp_path / "gru"
    code, _, err = run_cli("train", "--data", rec, "--out", other, "--model", "cnn_gru", "--epochs", "1", *QUICK,
                           "--model-config", '{"hidden": 8}')
    assert code == 0, err
    mine = tmp_path / "mine"
    shutil.copytree(run, mine)
    shutil.copy(other / "last.pt", mine / "last.pt")  # another run's checkpoint put in its place
    before = tree_state(mine)
    line = fails_with_one_line(capsys, "train", "--resume", mine, "--epochs", "2", "--quiet",
                               mentions=("not this run's checkpoint",))
    assert "model" in line and tree_state(mine) == before


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_the_next_run_sweeps_what_killed_processes_left_beside_its_output(trained, tmp_path, capsys):
    rec, run = trained
    out = tmp_path / "rep"
    dead = tmp_path / f".rep.tmp-{_dead_pid()}-0badf00d"
    live = tmp_path / f".rep.tmp-{os.getppid()}-0badf00d"  # a process that is still running: left alone
    for leftover in (dead, live):
        leftover.mkdir()
        (leftover / "index.html").write_text("half a report")
    assert run_cli("report", run, "--data", rec, "--out", out, "--no-video", "--no-explain", "--quiet")[0] == 0
    assert not dead.exists() and live.exists()
    # an import into a destination sweeps a killed import's leftovers too
    killed = tmp_path / f".again.tmp-{_dead_pid()}-0badf00d"
    killed.mkdir()
    assert run_cli("import", "udacity-sim", rec.parent / "rec-src", tmp_path / "again", "--quiet")[0] == 0
    assert not killed.exists() and (tmp_path / "again" / "manifest.json").is_file()
