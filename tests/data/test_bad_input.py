"""Bad input: a one-line error naming the file, the row or frame and what was expected; exit status 2;
nothing left at DEST."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.helpers import (
    run_cli,
    save_jpeg,
    synthetic_frame,
    write_deeptesla,
    write_donkey_tub,
    write_udacity_challenge,
    write_udacity_sim,
    write_video,
)


def fails_cleanly(capsys, dest: Path, *args: str) -> str:
    code, out, err = run_cli(*args, "--quiet", capsys=capsys)
    assert code == 2, (out, err)
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("timesteer: error: ")
    assert not dest.exists()
    assert not [p for p in dest.parent.iterdir() if p.name.startswith(f".{dest.name}.")]
    return lines[0]


def edit_line(path: Path, line: int, edit) -> None:
    lines = path.read_text().splitlines()
    lines[line - 1] = edit(lines[line - 1])
    path.write_text("\n".join(lines) + "\n")


def test_missing_log_file(tmp_path, capsys):
    (tmp_path / "sim").mkdir()
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", tmp_path / "sim", dest)
    assert "driving_log.csv" in msg and "not found" in msg


# Broken records are skipped by default (tests/data/test_messy_recordings.py); --strict refuses the first.
def test_missing_image_file_names_image_and_line(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=8)
    victim = sorted((src / "IMG").glob("center_*.jpg"))[5]
    victim.unlink()
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest, "--strict")
    assert victim.name in msg and "not found" in msg and "line 6 of driving_log.csv" in msg


def test_row_with_missing_columns(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=6)
    edit_line(src / "driving_log.csv", 4, lambda s: ",".join(s.split(",")[:5]))
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest)
    assert "driving_log.csv, line 4" in msg and "expected 7 columns" in msg


def test_missing_named_column(tmp_path, capsys):
    src = write_udacity_challenge(tmp_path / "udc", n=4)
    edit_line(src / "interpolated.csv", 1, lambda s: s.replace("angle", "angel"))
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity", src, dest)
    assert "interpolated.csv, line 1" in msg and "missing column 'angle'" in msg


def test_non_numeric_steering(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=6)
    edit_line(src / "driving_log.csv", 3, lambda s: ",".join([*s.split(",")[:3], "left-ish", *s.split(",")[4:]]))
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest)
    assert "driving_log.csv, line 3" in msg and "'steering': expected a number, got 'left-ish'" in msg


def test_nan_steering(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=6)
    edit_line(src / "driving_log.csv", 5, lambda s: ",".join([*s.split(",")[:3], "nan", *s.split(",")[4:]]))
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest, "--strict")
    assert "driving_log.csv, line 5" in msg and "steering is nan" in msg and "finite" in msg


def test_image_that_does_not_decode(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=6)
    victim = sorted((src / "IMG").glob("center_*.jpg"))[2]
    victim.write_bytes(b"\xff\xd8 this is not a jpeg")
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest, "--strict")
    assert victim.name in msg and "does not decode" in msg and "line 3" in msg


def test_images_of_different_sizes(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=6)
    victim = sorted((src / "IMG").glob("center_*.jpg"))[4]
    save_jpeg(victim, synthetic_frame(0.0, 50, 64))
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest, "--strict")
    assert victim.name in msg and "image is 64x50, expected 64x48" in msg and "line 5" in msg


def test_timestamps_that_go_backwards(tmp_path, capsys):
    src = write_deeptesla(tmp_path / "dt", n=6)
    csv = src / "epoch01_steering.csv"
    edit_line(csv, 5, lambda s: "1464650070000000," + s.split(",", 1)[1])
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "deeptesla", src, dest)
    assert "epoch01_steering.csv, line 5" in msg and "backwards" in msg


def test_timestamps_backwards_in_udacity_file_names(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=6)
    log = src / "driving_log.csv"
    lines = log.read_text().splitlines()
    lines[2], lines[3] = lines[3], lines[2]
    log.write_text("\n".join(lines) + "\n")
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest)
    assert "driving_log.csv, line 4" in msg and "backwards" in msg


def test_empty_log(tmp_path, capsys):
    src = tmp_path / "sim"
    src.mkdir()
    (src / "driving_log.csv").write_text("")
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest)
    assert "driving_log.csv" in msg and "empty log" in msg


def test_empty_donkey_tub(tmp_path, capsys):
    src = write_donkey_tub(tmp_path / "tub", n=3, deleted=(0, 1, 2))
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "donkey", src, dest)
    assert "empty log" in msg


def test_video_shorter_than_its_csv(tmp_path, capsys):
    src = write_deeptesla(tmp_path / "dt", n=8, csv_rows=12)
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "deeptesla", src, dest)
    assert "epoch01_front.mkv, frame 8" in msg and "video shorter than its CSV" in msg
    assert "line 10 of epoch01_steering.csv" in msg


def test_plain_video_shorter_than_its_csv(tmp_path, capsys):
    video = write_video(tmp_path / "v.mp4", [synthetic_frame(0, seed=i) for i in range(10)], fps=10)
    (tmp_path / "v.csv").write_text("timestamp_s,steering\n0,0\n1,0.1\n2,0.2\n3,0.3\n")
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "video", video, dest)
    assert "v.mp4" in msg and "video shorter than its CSV" in msg and "line 5 of v.csv" in msg


def test_destination_exists(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=4)
    dest = tmp_path / "rec"
    dest.mkdir()
    (dest / "keep.txt").write_text("mine")
    code, _, err = run_cli("import", "udacity-sim", src, dest, "--quiet", capsys=capsys)
    assert code == 2 and "already exists" in err and "--overwrite" in err
    assert (dest / "keep.txt").read_text() == "mine"
    # --overwrite never deletes a directory that is not a recording.
    code, _, err = run_cli("import", "udacity-sim", src, dest, "--overwrite", "--quiet", capsys=capsys)
    assert code == 2 and "not a timesteer recording" in err
    assert (dest / "keep.txt").read_text() == "mine"


def test_failure_midway_leaves_the_old_recording_intact(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=6)
    dest = tmp_path / "rec"
    assert run_cli("import", "udacity-sim", src, dest, "--quiet", capsys=capsys)[0] == 0
    before = np.load(dest / "frames.npy").copy()
    sorted((src / "IMG").glob("center_*.jpg"))[3].write_bytes(b"broken")
    code, _, err = run_cli("import", "udacity-sim", src, dest, "--overwrite", "--quiet", "--strict", capsys=capsys)
    assert code == 2 and "does not decode" in err
    np.testing.assert_array_equal(np.load(dest / "frames.npy"), before)
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".rec.")]


def test_bad_size_argument(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=4)
    dest = tmp_path / "rec"
    msg = fails_cleanly(capsys, dest, "import", "udacity-sim", src, dest, "--size", "66by200")
    assert "--size" in msg and "HEIGHTxWIDTH" in msg
