"""What eval and report promise: bad settings in one line, a report directory that is either whole or
untouched, and never a stranger's directory overwritten."""

from __future__ import annotations

import pytest

from tests.helpers import fails_with_one_line, make_recording, run_cli, tree_state


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("evalp")
    rec = make_recording(root / "rec", n=120)
    code, _, _ = run_cli("train", "--data", rec, "--out", root / "run", "--model", "pilotnet", "--epochs", "1",
                         "--batch-frames", "32", "--threads", "1", "--quiet", "--no-tensorboard")
    assert code == 0
    return rec, root / "run"


def test_min_speed_that_leaves_no_frame(run, tmp_path, capsys):
    rec, r = run
    for cmd in (["eval", r], ["eval", r, "--json"], ["report", r, "--out", tmp_path / "rep", "--no-video"]):
        fails_with_one_line(capsys, *cmd, "--data", rec, "--min-speed", "1000", watch=(tmp_path,),
                            mentions=("--min-speed", "no frame"))


def test_report_out_that_is_a_file(run, tmp_path, capsys):
    rec, r = run
    (tmp_path / "rep").write_text("x")
    fails_with_one_line(capsys, "report", r, "--data", rec, "--out", tmp_path / "rep", "--no-video", "--quiet",
                        watch=(tmp_path,), mentions=(str(tmp_path / "rep"),))


def test_report_never_overwrites_a_directory_it_did_not_make(run, tmp_path, capsys):
    rec, r = run
    mine = tmp_path / "site"
    mine.mkdir()
    (mine / "index.html").write_text("<h1>my homepage</h1>")
    fails_with_one_line(capsys, "report", r, "--data", rec, "--out", mine, "--no-video", "--quiet",
                        watch=(tmp_path,), mentions=("not made by timesteer",))


def test_report_replaces_its_own_report_whole(run, tmp_path, capsys):
    rec, r = run
    out = tmp_path / "rep"
    assert run_cli("report", r, "--data", rec, "--out", out, "--no-video", "--quiet")[0] == 0
    (out / "stale.png").write_bytes(b"old")
    assert run_cli("report", r, "--data", rec, "--out", out, "--no-video", "--quiet")[0] == 0
    assert not (out / "stale.png").exists() and (out / "index.html").exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rep.")]


def test_a_failed_report_leaves_the_previous_one(run, tmp_path, capsys, monkeypatch):
    rec, r = run
    out = tmp_path / "rep"
    assert run_cli("report", r, "--data", rec, "--out", out, "--no-video", "--quiet")[0] == 0
    before = tree_state(tmp_path)
    import importlib

    report_module = importlib.import_module("timesteer.evaluate.report")

    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(report_module, "plot_scatter", broken)
    code, _, err = run_cli("report", r, "--data", rec, "--out", out, "--no-video", "--quiet", capsys=capsys)
    assert code == 2 and "No space left on device" in err and len(err.strip().splitlines()) == 1
    assert tree_state(tmp_path) == before
