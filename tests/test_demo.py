"""The main job, shrunk: two training tracks, one test track, one epoch per model."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from timesteer.demo import DemoConfig, prepare_out, run_demo
from timesteer.errors import TimesteerError


def test_demo_end_to_end(tmp_path):
    cfg = DemoConfig(out=str(tmp_path / "demo"), quick=True, train_seeds="1-2", test_seeds="1001-1002", epochs=1,
                     progress=False)
    index = run_demo(cfg)
    assert index == tmp_path / "demo" / "report" / "index.html"
    summary = json.loads((index.parent / "summary.json").read_text())
    assert [m["model"] for m in summary["models"]] == ["expert", "pilotnet", "cnn_gru"]
    assert summary["conditions"] == "hard" and "latency 100 ms" in summary["conditions_text"]
    assert summary["train_seeds"] == [1, 2]  # given seeds are kept under quick, not replaced by its defaults
    for m in summary["models"]:  # (a bound on autonomy would prove nothing: it is clamped to 0-100)
        assert (m["interventions"] == 0) == (m["autonomy_pct"] == 100.0), m
    for m in summary["models"][1:]:
        assert m["rmse"] > 0
        assert (index.parent / m["page"]).is_file()
        assert (index.parent / m["page"]).with_name("drive.mp4").stat().st_size > 1000
    comparison = summary["cnn_gru_minus_pilotnet"]
    assert comparison["tracks"] == 2 and "autonomy_diff_ci95" in comparison
    page = index.read_text()
    assert page.count("<video") == 3 and "autonomy" in page and "cnn_gru minus pilotnet" in page
    # A quick run says its comparison means nothing, instead of a verdict either way.
    assert summary["quick"] and "trains too little" in page and "drives better" not in page
    # A rerun with bad settings loses nothing of the last demo; a rerun replaces the demo's own directory
    # (`prepare_out`, the rerun's first step: a second whole demo here would double the test's minutes).
    (tmp_path / "demo" / "stale.txt").write_text("old")
    with pytest.raises(TimesteerError, match="must differ"):
        run_demo(replace(cfg, test_seeds="2-3"))
    assert (tmp_path / "demo" / "stale.txt").exists() and index.is_file()
    prepare_out(tmp_path / "demo")
    assert not (tmp_path / "demo" / "stale.txt").exists() and not index.exists()


def test_demo_never_deletes_a_directory_it_did_not_make(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "thesis.tex").write_text("precious")
    with pytest.raises(TimesteerError, match="not made by `timesteer demo`"):
        run_demo(DemoConfig(out=str(tmp_path / "mine"), progress=False))
    assert (tmp_path / "mine" / "thesis.tex").read_text() == "precious"
