"""`compare-drives`: drivers over seeds side by side from `drive --json` files, paired on the same drives."""

from __future__ import annotations

import copy
import json

import pytest

from tests.helpers import run_cli
from timesteer.errors import ConfigError, InputError
from timesteer.sim import DriveConfig, drive
from timesteer.sim.compare_drives import CompareDrivesConfig, compare_drives, format_compare_drives, parse_drivers


def _track(name: str, interventions: int, elapsed_s: float = 60.0, causes: dict | None = None) -> dict:
    autonomy = max(0.0, (1 - interventions * 6.0 / elapsed_s) * 100)
    return {"track": name, "seed": int(name.split(":")[-1]), "interventions": interventions, "elapsed_s": elapsed_s,
            "autonomy_pct": autonomy, "interventions_by_cause": causes or {}}


def _write(path, tracks: list[dict], conditions: str = "hard") -> str:
    n = sum(t["interventions"] for t in tracks)
    causes: dict[str, int] = {}
    for t in tracks:
        for c, k in t["interventions_by_cause"].items():
            causes[c] = causes.get(c, 0) + k
    path.write_text(json.dumps({"run": str(path), "conditions": {"name": conditions}, "conditions_text": conditions,
                                "sim": "duckietown", "autonomy_pct": 0.0, "interventions": n,
                                "interventions_by_cause": causes, "seeds_overlap_training": [], "tracks": tracks}))
    return str(path)


def test_pooled_autonomy_per_seed_figures_and_the_paired_difference(tmp_path):
    # The baseline never fails; the other driver fails once on map a in its first seed (a 60-s drive: 90%).
    base = [_write(tmp_path / f"b{s}.json", [_track("a:1", 0), _track("b:1", 0)]) for s in range(2)]
    other = [_write(tmp_path / "o0.json", [_track("a:1", 1, causes={"left lane": 1}), _track("b:1", 0)]),
             _write(tmp_path / "o1.json", [_track("a:1", 0), _track("b:1", 0)])]
    result = compare_drives(CompareDrivesConfig(drivers={"base": base, "other": other}))
    by = {r["driver"]: r for r in result["drivers"]}
    assert result["baseline"] == "base" and result["tracks"] == 2
    assert by["base"]["autonomy_pct"] == 100.0 and by["base"]["vs_baseline"] is None
    # 1 intervention in 4 drives of 60 s: (1 - 6 / 240) x 100.
    assert by["other"]["autonomy_pct"] == pytest.approx(97.5)
    assert [s["interventions"] for s in by["other"]["per_seed"]] == [1, 0]
    # Each seed's figure from its tracks (the file's own totals are 0.0 here): 1 in 120 s, then none.
    assert [s["autonomy_pct"] for s in by["other"]["per_seed"]] == [pytest.approx(95.0), 100.0]
    assert by["other"]["interventions_by_cause"] == {"left lane": 1}
    p = by["other"]["vs_baseline"]
    # Map a: the seeds' mean (90 + 100) / 2 = 95, 5 below the baseline; map b level: a mean of -2.5.
    assert p["autonomy_diff_pct"] == pytest.approx(-2.5)
    assert (p["tracks_a_better"], p["tracks_b_better"]) == (0, 1)
    text = format_compare_drives(result)
    assert "minus base" in text and "-2.5" in text and "other: interventions: 1 left lane" in text
    # Another baseline turns the sign.
    flipped = compare_drives(CompareDrivesConfig(drivers={"base": base, "other": other}, baseline="other"))
    assert flipped["drivers"][0]["vs_baseline"]["autonomy_diff_pct"] == pytest.approx(2.5)


def test_drives_must_be_the_same(tmp_path):
    a = _write(tmp_path / "a.json", [_track("a:1", 0), _track("b:1", 0)])
    fewer = _write(tmp_path / "fewer.json", [_track("a:1", 0)])
    with pytest.raises(InputError, match=r"fewer\.json.*lacks b:1"):
        compare_drives(CompareDrivesConfig(drivers={"x": [a], "y": [fewer]}))
    clean = _write(tmp_path / "clean.json", [_track("a:1", 0), _track("b:1", 0)], conditions="clean")
    with pytest.raises(InputError, match=r"clean\.json: conditions .* differ"):
        compare_drives(CompareDrivesConfig(drivers={"x": [a], "y": [clean]}))
    with pytest.raises(InputError, match="given twice"):
        compare_drives(CompareDrivesConfig(drivers={"x": [a], "y": [a]}))


def test_bad_files_and_arguments_get_one_clear_line(tmp_path):
    (tmp_path / "broken.json").write_text('{"tracks": [')
    (tmp_path / "other.json").write_text('{"autonomy": 3}')
    (tmp_path / "notrack.json").write_text('{"tracks": [{"track": "a:1", "interventions": 0}]}')
    for name, message in (("missing.json", "no such file"), ("broken.json", "not a JSON file"),
                          ("other.json", "the file: lacks tracks"),
                          ("notrack.json", r"tracks\[0\]: lacks elapsed_s, autonomy_pct")):
        with pytest.raises(InputError, match=message) as e:
            compare_drives(CompareDrivesConfig(drivers={"x": [str(tmp_path / name)]}))
        assert name in str(e.value)
    with pytest.raises(ConfigError, match="baseline 'z'"):
        CompareDrivesConfig(drivers={"x": ["a.json"]}, baseline="z")
    with pytest.raises(ConfigError, match="given twice"):
        parse_drivers(["x=a.json", "x=b.json"])
    assert parse_drivers(["x=a.json,b.json", "dir/c.json"]) == {"x": ["a.json", "b.json"], "c": ["dir/c.json"]}


def test_real_drive_output_through_the_command_line(tmp_path, capsys):
    # A real `drive --json` of the expert on two CarRacing tracks, and the same drive with one intervention
    # added on track 5 (the file format is the one `drive` writes, not one made up here).
    result = drive(DriveConfig(run="expert", seeds=[4, 5], laps=0.05, workers=1, progress=False))
    (tmp_path / "expert.json").write_text(json.dumps(result))
    worse = copy.deepcopy(result)
    t5 = next(t for t in worse["tracks"] if t["track"] == "5")
    t5["interventions"] += 1
    t5["autonomy_pct"] = max(0.0, (1 - t5["interventions"] * 6.0 / t5["elapsed_s"]) * 100)
    (tmp_path / "worse.json").write_text(json.dumps(worse))
    code, out, err = run_cli("compare-drives", f"expert={tmp_path / 'expert.json'}", str(tmp_path / "worse.json"),
                             "--json", capsys=capsys)
    assert code == 0, err
    rows = {r["driver"]: r for r in json.loads(out)["drivers"]}
    assert rows["worse"]["interventions"] == rows["expert"]["interventions"] + 1
    assert rows["worse"]["vs_baseline"]["tracks_b_better"] == 1
    assert rows["worse"]["vs_baseline"]["autonomy_diff_pct"] == pytest.approx((t5["autonomy_pct"] - 100.0) / 2)
    code, out, err = run_cli("compare-drives", f"expert={tmp_path / 'nothere.json'}", capsys=capsys)
    assert code == 2 and "nothere.json: no such file" in err and "Traceback" not in err


@pytest.mark.parametrize(("edit", "mentions"), [
    (lambda d: d["tracks"][1].update(autonomy_pct="97.5"), ("tracks[1].autonomy_pct", "a number")),
    (lambda d: d["tracks"][0].update(interventions_by_cause={"left lane": 2.5}),
     ("tracks[0].interventions_by_cause.left lane", "an integer")),
    (lambda d: d["tracks"][0].update(interventions_by_cause=["left lane"]), ("interventions_by_cause", "an object")),
    (lambda d: d["tracks"][0].update(interventions=-1), ("tracks[0].interventions", ">= 0")),
    (lambda d: d["tracks"][0].update(elapsed_s=1e300), ("tracks[0].elapsed_s", "<= 1e+09")),
    (lambda d: d["tracks"][0].update(autonomy_pct=250), ("tracks[0].autonomy_pct", "<= 100")),
    (lambda d: d["tracks"][0].pop("elapsed_s"), ("tracks[0]", "elapsed_s")),
    (lambda d: d.update(sim=3), ("sim", "a string or a null")),
    (lambda d: d.update(tracks={"a": 1}), ("tracks", "an array")),
])
def test_a_drive_file_edited_by_hand_names_the_file_and_the_field(tmp_path, capsys, edit, mentions):
    good = _write(tmp_path / "good.json", [_track("a:1", 0), _track("b:1", 1)])
    data = json.loads((tmp_path / "good.json").read_text())
    edit(data)
    (tmp_path / "bad.json").write_text(json.dumps(data))
    code, _, err = run_cli("compare-drives", f"a={good}", f"b={tmp_path / 'bad.json'}", capsys=capsys)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"timesteer: error: {tmp_path / 'bad.json'}: ")
    for text in mentions:
        assert text in lines[0], (text, lines[0])


@pytest.mark.parametrize("number", ["9" * 5000, "NaN", "Infinity", "-Infinity"])
def test_numbers_json_cannot_hold_are_one_line(tmp_path, capsys, number):
    good = _write(tmp_path / "good.json", [_track("a:1", 0)])
    text = (tmp_path / "good.json").read_text().replace('"interventions": 0, "elapsed_s"',
                                                          f'"interventions": {number}, "elapsed_s"')
    assert number in text
    (tmp_path / "bad.json").write_text(text)
    code, _, err = run_cli("compare-drives", f"a={good}", f"b={tmp_path / 'bad.json'}", capsys=capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert str(tmp_path / "bad.json") in err


BLOCK_SIMULATORS = r"""
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):  # as on a machine where gymnasium is not installed
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("gymnasium", "Box2D", "pygame"):
            raise ImportError(f"No module named {name!r}")
sys.meta_path.insert(0, Block())
from timesteer.cli import main
code = main(sys.argv[1:])
print("gymnasium imported:", "gymnasium" in sys.modules)
sys.exit(code)
"""


def test_compare_drives_needs_no_simulator_installed(tmp_path):
    """compare-drives only does arithmetic on JSON: it runs where gymnasium is not installed (issue 31)."""
    import subprocess
    import sys

    a = _write(tmp_path / "a.json", [_track("a:1", 0), _track("b:1", 1)])
    b = _write(tmp_path / "b.json", [_track("a:1", 1), _track("b:1", 1)])
    out = subprocess.run([sys.executable, "-c", BLOCK_SIMULATORS, "compare-drives", f"one={a}", f"two={b}"],
                         capture_output=True, text=True, check=False)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "minus one" in out.stdout and "gymnasium imported: False" in out.stdout
