"""eval, compare and report on a small trained run; mismatches and broken checkpoints are clear errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import av
import numpy as np
import pytest

from tests.helpers import make_recording, run_cli
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.errors import InputError, TimesteerError
from timesteer.evaluate import CompareConfig, EvalConfig, ReportConfig, compare, evaluate, report
from timesteer.train import TrainConfig, train


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("eval")
    rec = make_recording(root / "rec", n=240, segments=2)
    out = {}
    for name in ("pilotnet", "cnn_gru"):
        train(TrainConfig(data=str(rec), out=str(root / name), model=name, epochs=3, batch_frames=32, threads=2,
                          progress=False, tensorboard=False))
        out[name] = root / name
    return rec, out


def test_eval_val_split_matches_training_validation(runs):
    rec, run = runs
    (ev,) = evaluate(EvalConfig(run=str(run["pilotnet"]), data=str(rec))).parts
    info = json.loads((run["pilotnet"] / "run.json").read_text())
    assert ev.metrics["frames"] == info["data"]["val_frames"]
    assert ev.metrics["rmse"] == pytest.approx(info["best_val_rmse"], rel=1e-5)
    assert "state carried" in ev.metrics["mode"]
    # Recomputing RMSE from the kept arrays gives the reported figure.
    assert ev.metrics["rmse"] == pytest.approx(float(np.sqrt(np.mean((ev.pred - ev.true) ** 2))))
    every = evaluate(EvalConfig(run=str(run["pilotnet"]), data=str(rec), split="all"))
    assert every.metrics["frames"] == 240


def test_min_speed_drops_slow_frames(runs):
    rec, run = runs
    speed = Recording.open(rec).signals["speed"]
    cut = float(np.median(speed))
    ev = evaluate(EvalConfig(run=str(run["pilotnet"]), data=str(rec), split="all", min_speed=cut))
    assert ev.metrics["frames"] == int((speed >= cut).sum())
    assert ev.metrics["frames_dropped_by_speed"] == int((speed < cut).sum())


def test_val_split_on_a_foreign_recording_is_an_error(runs, tmp_path):
    _rec, run = runs
    other = make_recording(tmp_path / "other", n=40)
    with pytest.raises(TimesteerError, match="no validation block there; use --split all"):
        evaluate(EvalConfig(run=str(run["pilotnet"]), data=str(other)))
    assert evaluate(EvalConfig(run=str(run["pilotnet"]), data=str(other), split="all")).metrics["frames"] == 40


def test_mismatched_frame_size_names_both(runs, tmp_path):
    _rec, run = runs
    src = tmp_path / "src"
    make_recording(tmp_path / "x", n=20)
    shutil.copytree(tmp_path / "x-src", src)
    small = import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "small"), size=(24, 32),
                                          progress=False))
    with pytest.raises(InputError) as err:
        evaluate(EvalConfig(run=str(run["pilotnet"]), data=str(small), split="all"))
    assert str(small) in str(err.value) and str(run["pilotnet"]) in str(err.value) and "24x32" in str(err.value)


def test_missing_and_corrupt_checkpoints(runs, tmp_path, capsys):
    rec, run = runs
    broken = tmp_path / "broken"
    shutil.copytree(run["pilotnet"], broken)
    whole = (run["pilotnet"] / "best.pt").read_bytes()
    for damaged in (b"\x00garbage", b"garbage\n", b"", whole[: len(whole) // 2]):
        (broken / "best.pt").write_bytes(damaged)
        code, _, err = run_cli("eval", broken, "--data", rec, capsys=capsys)
        assert code == 2 and "best.pt: not a readable timesteer checkpoint" in err and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1, err
        assert "weights_only" not in err  # never torch's advice to unpickle what the file holds
    (broken / "best.pt").unlink()
    code, _, err = run_cli("eval", broken, "--data", rec, capsys=capsys)
    assert code == 2 and "best.pt: checkpoint not found" in err
    code, _, err = run_cli("eval", tmp_path, "--data", rec, capsys=capsys)
    assert code == 2 and "not a training run" in err


def test_cli_eval_json_and_compare_table(runs, capsys):
    rec, run = runs
    code, out, _ = run_cli("eval", run["cnn_gru"], "--data", rec, "--json", capsys=capsys)
    m = json.loads(out)
    assert code == 0 and {"rmse", "mae", "smoothness_pred", "smoothness_true", "frames"} <= set(m)
    table = compare(CompareConfig(runs=[str(run["pilotnet"]), str(run["cnn_gru"])], data=str(rec)))
    assert [r["rmse"] for r in table["rows"]] == sorted(r["rmse"] for r in table["rows"])
    assert {r["model"] for r in table["rows"]} == {"pilotnet", "cnn_gru"}
    code, out, _ = run_cli("compare", run["pilotnet"], run["cnn_gru"], "--data", rec, capsys=capsys)
    assert code == 0 and out.startswith("| rank |") and out.count("\n") >= 3
    # the floors beside the model: recomputed here from the recording's own labels
    from timesteer.data import Recording
    from timesteer.train.run import load_run

    r = Recording.open(rec)
    spans = load_run(run["cnn_gru"]).val_spans_for(r)
    idx = np.concatenate([np.arange(a, b) for a, b in spans])
    true = r.steering[idx]
    prev_ok = np.array([i - 1 >= s.start for i in idx for s in r.segments if s.start <= i < s.stop])
    copycat = np.sqrt(np.mean((r.steering[idx - 1][prev_ok] - true[prev_ok]) ** 2))
    assert m["floors"]["copycat_rmse"] == pytest.approx(copycat)
    assert m["floors"]["zero_rmse"] == pytest.approx(np.sqrt(np.mean(true**2)))
    assert 0 < m["floors"]["keyframes"]["frames"] < m["frames"]
    assert "RMSE keyframes" in out and "copycat (previous label)" in out


def test_report_writes_plots_video_and_page(runs, tmp_path):
    rec, run = runs
    page = report(ReportConfig(run=str(run["cnn_gru"]), data=str(rec), out=str(tmp_path / "rep"), progress=False))
    out = page.parent
    for name in ("steering_over_time.png", "error_histogram.png", "predicted_vs_human.png", "drive.mp4",
                 "metrics.json"):
        assert (out / name).stat().st_size > 1000, name
    with av.open(str(out / "drive.mp4")) as c:
        stream = c.streams.video[0]
        assert stream.codec_context.name == "h264" and stream.frames == json.loads(
            (out / "metrics.json").read_text())["frames"]
    html = page.read_text()
    # Three plots, then the section on time: how far back it looks, and the gates of cnn_gru's GRU.
    assert html.count("data:image/png;base64,") == 5 and html.count("data:video/mp4;base64,") == 2
    assert "How far back it looks, and where" in html and "Memory horizon" in html and "update gate" in html
    assert (out / "through_time" / "influence.png").stat().st_size > 1000
    assert "<video" in html and "RMSE" in html
    plain = report(ReportConfig(run=str(run["cnn_gru"]), data=str(rec), out=str(tmp_path / "plain"), explain=False,
                                video=False, progress=False)).read_text()
    assert plain.count("data:image/png;base64,") == 3 and "How far back" not in plain


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(chromium() is None, reason="headless Chromium not installed (Debian package `chromium`)")
def test_report_page_renders_in_headless_chromium(runs, tmp_path):
    rec, run = runs
    page = report(ReportConfig(run=str(run["pilotnet"]), data=str(rec), out=str(tmp_path / "rep"), progress=False))
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--virtual-time-budget=5000"]
    dom = subprocess.run([chromium(), *flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120).stdout
    # The page's own script marks decoded images and the video's duration once the browser has them.
    loaded = re.search(r'data-images-loaded="(\d+)/(\d+)"', dom)
    assert loaded and loaded.group(1) == loaded.group(2) and int(loaded.group(2)) >= 4, dom[:500]
    assert "<video" in dom and "data-video-duration=" in dom and 'data-video-error' not in dom
    shot = tmp_path / "shot.png"
    subprocess.run([chromium(), *flags, "--window-size=1200,2400", f"--screenshot={shot}", page.as_uri()],
                   capture_output=True, timeout=120)
    from PIL import Image

    pixels = np.asarray(Image.open(shot).convert("RGB")).astype(int)
    # Orange model lines from the plots are on screen, not a blank page.
    orange = (np.abs(pixels - np.array([232, 89, 12])).sum(axis=-1) < 60).sum()
    assert orange > 500
