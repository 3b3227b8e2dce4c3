"""What a recording's steering sets (a wheel angle or a turn rate): written by the importers and
simulators that know it, said by the user for a video or a LeRobot dataset, implied by the source for
recordings made before the manifest said it, and kept through a LeRobot round trip."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.helpers import make_recording, run_cli, synthetic_frame, write_donkey_tub, write_video
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.data.info import format_info, recording_info
from timesteer.data.lerobot_export import ConvertConfig, convert_recording


def _edit(path, **changes):
    manifest = json.loads((path / "manifest.json").read_text())
    for key, value in changes.items():
        if key == "kind":
            if value is None:
                manifest["steering"].pop("kind", None)
            else:
                manifest["steering"]["kind"] = value
        elif key == "format":
            manifest["source"]["format"] = value
        else:
            manifest[key] = value
    (path / "manifest.json").write_text(json.dumps(manifest))
    return Recording.open(path)


def test_the_importers_of_cars_logs_say_a_wheel_angle(tmp_path):
    rec = Recording.open(make_recording(tmp_path / "sim", n=20))
    assert rec.manifest.steering.kind == "wheel_angle" and rec.manifest.steering_kind == "wheel_angle"
    tub = Recording.open(import_recording(ImportConfig("donkey", str(write_donkey_tub(tmp_path / "tub")),
                                                       str(tmp_path / "donkey"), progress=False)))
    assert tub.manifest.steering.kind == "wheel_angle"  # a servo angle
    info = recording_info(rec.path)
    assert info["steering_kind"] == "wheel_angle" and ", a wheel angle:" in format_info(info)


def test_a_video_says_it_only_when_told(tmp_path, capsys):
    video = write_video(tmp_path / "drive.mp4", [synthetic_frame(0.0, seed=i) for i in range(8)], fps=10)
    (tmp_path / "drive.csv").write_text("frame_index,steering\n" + "\n".join(f"{i},0.1" for i in range(8)) + "\n")
    plain = Recording.open(import_recording(ImportConfig("video", str(video), str(tmp_path / "a"), progress=False)))
    assert plain.manifest.steering.kind is None and plain.manifest.steering_kind is None
    assert "steering_kind" in recording_info(plain.path) and ", a " not in format_info(recording_info(plain.path))
    code, _, err = run_cli("import", "video", video, tmp_path / "b", "--steering-kind", "turn_rate", "--quiet",
                           capsys=capsys)
    assert code == 0, err
    assert Recording.open(tmp_path / "b").manifest.steering_kind == "turn_rate"


@pytest.mark.parametrize(("changes", "kind"), [
    ({"kind": None}, "wheel_angle"),  # udacity-sim: the source's own unit is an angle
    ({"kind": None, "format": "video"}, None),  # a user's CSV: nothing says
    ({"kind": None, "format": "video", "view": {"pivot_row_px": 40.0, "pivot_col_px": 31.5,
                                                "px_per_m_across": 2.0, "px_per_m_along": 2.0,
                                                "wheelbase_m": 3.0}}, "wheel_angle"),  # seen from above: CarRacing
    ({"kind": None, "format": "video", "dashcam": {"focal_px": 62.5, "centre_row_px": 47.5, "centre_col_px": 63.5,
                                                   "height_m": 0.1, "ahead_m": 0.07, "tilt_down_rad": 0.3,
                                                   "yaw_rate_per_unit": 0.45, "full_lock": 3.0}}, "turn_rate"),
    ({"kind": None, "format": "duckietown"}, "turn_rate"),
    ({"kind": "turn_rate"}, "turn_rate"),  # what the manifest says wins over the source
])
def test_older_manifests_take_it_from_their_source(tmp_path, changes, kind):
    rec = _edit(make_recording(tmp_path / "rec", n=20), **changes)
    assert rec.manifest.steering_kind == kind


def test_a_wrong_kind_is_refused_naming_the_manifest(tmp_path, capsys):
    path = make_recording(tmp_path / "rec", n=20)
    manifest = json.loads((path / "manifest.json").read_text())
    manifest["steering"]["kind"] = "wheel"
    (path / "manifest.json").write_text(json.dumps(manifest))
    code, _, err = run_cli("info", path, capsys=capsys)
    assert code != 0 and "manifest.json" in err and "kind" in err


def test_the_kind_survives_a_lerobot_round_trip(tmp_path):
    rec = _edit(make_recording(tmp_path / "rec", n=20), kind="turn_rate")
    convert_recording(ConvertConfig(rec=str(rec.path), dest=str(tmp_path / "ds"), progress=False))
    back = Recording.open(import_recording(ImportConfig("lerobot", str(tmp_path / "ds"), str(tmp_path / "back"),
                                                        progress=False)))
    assert back.manifest.steering.kind == "turn_rate"
    told = Recording.open(import_recording(ImportConfig("lerobot", str(tmp_path / "ds"), str(tmp_path / "told"),
                                                        steering_kind="wheel_angle", progress=False)))
    assert told.manifest.steering.kind == "wheel_angle"  # the user's word over the dataset's
    assert np.allclose(back.steering, rec.steering)
