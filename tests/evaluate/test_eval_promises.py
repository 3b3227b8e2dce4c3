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


def _poisoned_copy(run, dest, value: float):
    """A copy of `run` whose checkpoints hold `value` in every float tensor."""
    import shutil

    import torch

    shutil.copytree(run, dest)
    for name in ("best.pt", "last.pt"):
        payload = torch.load(dest / name, weights_only=True)
        for tensor in payload["model"]["state_dict"].values():
            if tensor.is_floating_point():
                tensor.fill_(value)
        torch.save(payload, dest / name)
    return dest


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_a_run_whose_weights_are_not_finite_is_one_line_everywhere(run, tmp_path, capsys, value):
    rec, r = run
    bad = _poisoned_copy(r, tmp_path / "diverged", value)
    for cmd in (["eval", bad, "--data", rec], ["eval", bad, "--data", rec, "--json"],
                ["report", bad, "--data", rec, "--out", tmp_path / "rep", "--no-video", "--quiet"],
                ["explain", bad, "--data", rec, "--out", tmp_path / "ex", "--quiet"],
                ["export", bad, "--onnx", tmp_path / "m.onnx"]):
        fails_with_one_line(capsys, *cmd, watch=(tmp_path,), mentions=(str(bad / "best.pt"), "NaN or infinity"))


def test_compare_shows_a_failed_model_as_failed_and_its_json_is_json(run, tmp_path, capsys):
    import json

    rec, r = run
    bad = _poisoned_copy(r, tmp_path / "diverged", float("nan"))
    # finite weights whose output overflows float32: the model runs, its answer is not a number
    huge = _poisoned_copy(r, tmp_path / "huge", 1e30)
    code, out, err = run_cli("compare", bad, r, huge, "--data", rec, "--json", capsys=capsys)
    assert code == 0, err
    rows = json.loads(out, parse_constant=lambda c: pytest.fail(f"{c} in the JSON"))["rows"]
    assert rows[0]["run"] == str(r) and rows[0]["rmse"] > 0
    failed = {row["run"]: row["failed"] for row in rows[1:]}
    assert set(failed) == {str(bad), str(huge)} and all(row["rmse"] is None for row in rows[1:])
    assert "NaN or infinity" in failed[str(bad)] and "not finite" in failed[str(huge)]
    code, out, err = run_cli("compare", bad, r, "--data", rec, capsys=capsys)
    assert code == 0 and "| failed |" in out and "Traceback" not in err
    fails_with_one_line(capsys, "eval", huge, "--data", rec, mentions=("not finite", str(rec)))


def test_steering_past_what_a_car_can_do_is_one_line_naming_the_frame(tmp_path, capsys):
    rec = make_recording(tmp_path / "rec", n=60)
    signals = rec / "signals.csv"
    lines = signals.read_text().splitlines()
    header = lines[0].split(",")
    row = lines[8].split(",")
    row[header.index("steering")] = "1e308"
    lines[8] = ",".join(row)
    signals.write_text("\n".join(lines) + "\n")
    fails_with_one_line(capsys, "train", "--data", rec, "--out", tmp_path / "run", "--model", "pilotnet",
                        "--epochs", "1", "--quiet", watch=(rec,), mentions=(str(signals), "frame 7", "steering 1e+308"))
    assert not (tmp_path / "run").exists()


def test_the_mean_model_goes_through_every_command(run, tmp_path, capsys):
    """`mean` looks at no frame: its exported step has no frame input, it has no convolution to quantise or to
    follow back, and each command still answers (or says so in one line)."""
    import json

    import numpy as np

    from timesteer.stream import Steerer

    rec, _ = run
    mean = tmp_path / "mean"
    assert run_cli("train", "--data", rec, "--out", mean, "--model", "mean", "--epochs", "1", "--threads", "1",
                   "--quiet", "--no-tensorboard")[0] == 0
    code, _, err = run_cli("export", mean, "--onnx", tmp_path / "m.onnx", capsys=capsys)
    assert code == 0, err
    steerer = Steerer.from_onnx(tmp_path / "m.onnx")
    steerer.reset()
    value = steerer.step(np.zeros((48, 64, 3), np.uint8), timestamp_s=0.0)
    assert value == pytest.approx(Steerer.from_run(mean).step(np.zeros((48, 64, 3), np.uint8), 0.0), abs=1e-5)
    fails_with_one_line(capsys, "export", mean, "--onnx", tmp_path / "m8.onnx", "--int8", watch=(tmp_path,),
                        mentions=("no", "convolution"))
    code, out, err = run_cli("bench", "stream", mean, "--frames", "5", "--threads", "1", "--json", capsys=capsys)
    assert code == 0, err
    assert json.loads(out)["onnx_p50_ms"] > 0
    code, out, err = run_cli("explain", mean, "--data", rec, "--out", tmp_path / "ex", "--json", "--quiet",
                             capsys=capsys)
    assert code == 0, err
    assert "does not look" in json.loads(out)["visualbackprop"]
    code, _, err = run_cli("report", mean, "--data", rec, "--out", tmp_path / "rep", "--no-video", "--quiet",
                           capsys=capsys)
    assert code == 0, err
    assert "Where it looks.</b> Nowhere" in (tmp_path / "rep" / "index.html").read_text()
