"""Recordings as people have them: missing and broken frames, NaN and impossible steering.

Every importer keeps what is there: a broken record is skipped, the hole it leaves starts a new segment,
the recording says what it skipped and where, and `--strict` refuses the first instead. A recording
that would end up empty is still one line and exit 2.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import (
    fails_with_one_line,
    run_cli,
    save_jpeg,
    synthetic_frame,
    write_deeptesla,
    write_donkey_tub,
    write_sully,
    write_udacity_challenge,
    write_udacity_sim,
    write_video,
)
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.data.writer import FrameFile

N = 14


def _image_of(fmt: str, src: Path, k: int) -> Path:
    """The image file the source names for frame k of the camera an import reads by default."""
    if fmt == "udacity-sim":
        return sorted((src / "IMG").glob("center_*.jpg"))[k]
    if fmt == "udacity":
        return sorted((src / "center").glob("*.jpg"))[k]
    if fmt == "donkey":
        return src / "images" / f"{k}_cam_image_array_.jpg"
    return src / f"{k}.jpg"


def _source(fmt: str, root: Path) -> Path:
    if fmt == "udacity-sim":
        return write_udacity_sim(root, n=N)
    if fmt == "udacity":
        return write_udacity_challenge(root, n=N)
    if fmt == "donkey":
        return write_donkey_tub(root, n=N, deleted=(), sessions=1)
    return write_sully(root, n=N, timestamps=True)


def _import(fmt: str, src: Path, dest: Path, **kw) -> Recording:
    return Recording.open(import_recording(ImportConfig(fmt, str(src), str(dest), progress=False, **kw)))


@pytest.mark.parametrize("fmt", ["udacity-sim", "udacity", "donkey", "sully"])
def test_missing_and_broken_images_are_skipped_and_split_the_segment(tmp_path, fmt):
    src = _source(fmt, tmp_path / "src")
    clean = _import(fmt, src, tmp_path / "clean")
    assert len(clean) == N and len(clean.segments) == 1
    missing, broken = _image_of(fmt, src, 4), _image_of(fmt, src, 9)
    missing.unlink()
    broken.write_bytes(b"\xff\xd8 not a jpeg at all")
    rec = _import(fmt, src, tmp_path / "rec")

    keep = [i for i in range(N) if i not in (4, 9)]
    assert len(rec) == N - 2
    # What is kept is exactly what a clean import holds for those records, frames and signals alike.
    np.testing.assert_array_equal(np.asarray(rec.frames), np.asarray(clean.frames)[keep])
    np.testing.assert_allclose(rec.steering, clean.steering[keep])
    np.testing.assert_allclose(rec.timestamps_s, clean.timestamps_s[keep])
    # Each hole starts a segment: no state runs from frame 3 to frame 5.
    assert [(s.start, s.stop) for s in rec.segments] == [(0, 4), (4, 8), (8, 12)]
    skipped = rec.manifest.source.details["skipped"]
    assert skipped["records"] == 2 and skipped["of"] == N
    assert skipped["by_reason"] == {"image not found": 1, "image does not decode": 1}
    assert missing.name in skipped["first"][0] and broken.name in skipped["first"][1]


@pytest.mark.parametrize("fmt", ["udacity-sim", "udacity", "donkey", "sully"])
def test_strict_refuses_the_first_missing_image(tmp_path, capsys, fmt):
    src = _source(fmt, tmp_path / "src")
    missing = _image_of(fmt, src, 6)
    missing.unlink()
    _image_of(fmt, src, 2).write_bytes(b"")
    fails_with_one_line(capsys, "import", fmt, src, tmp_path / "rec", "--quiet", "--strict", watch=(tmp_path,),
                        mentions=(missing.name, "not found"))


def test_the_cli_says_once_what_it_skipped_and_info_keeps_it(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=N)
    _image_of("udacity-sim", src, 3).unlink()
    code, out, err = run_cli("import", "udacity-sim", src, tmp_path / "rec", "--quiet", capsys=capsys)
    assert code == 0, err
    said = [ln for ln in (out + err).splitlines() if "skipped" in ln]
    assert len(said) == 1 and "skipped     1 of 14 records (image not found 1)" in said[0]
    assert "driving_log.csv line 4" in said[0]
    code, out, _ = run_cli("info", tmp_path / "rec", "--json", capsys=capsys)
    assert json.loads(out)["skipped"]["records"] == 1


def test_an_image_of_another_size_is_skipped_in_every_camera(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=N)
    save_jpeg(sorted((src / "IMG").glob("left_*.jpg"))[5], synthetic_frame(0.0, 50, 64))
    rec = _import("udacity-sim", src, tmp_path / "rec", camera="all")
    assert len(rec) == N - 1
    for cam in rec.manifest.cameras:
        assert len(rec.camera_frames(cam.name)) == N - 1
    assert rec.manifest.source.details["skipped"]["by_reason"] == {"image of another size": 1}


def test_a_broken_first_image_is_skipped_too(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=N)
    _image_of("udacity-sim", src, 0).write_bytes(b"GIF89a broken")
    rec = _import("udacity-sim", src, tmp_path / "rec")
    assert len(rec) == N - 1 and rec.timestamps_s[0] == pytest.approx(0.1, abs=1e-6)


def _edit_log_steering(log: Path, line: int, value: str) -> None:
    lines = log.read_text().splitlines()
    cells = lines[line - 1].split(",")
    cells[3] = value
    lines[line - 1] = ",".join(cells)
    log.write_text("\n".join(lines) + "\n")


def test_nan_and_out_of_range_steering_are_skipped(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=N)
    _edit_log_steering(src / "driving_log.csv", 5, "nan")
    _edit_log_steering(src / "driving_log.csv", 8, "3.5")  # the simulator's steering is in [-1, 1]
    _edit_log_steering(src / "driving_log.csv", 9, "-1.0")  # the end of the range is a steer
    rec = _import("udacity-sim", src, tmp_path / "rec")
    assert len(rec) == N - 2 and float(np.min(rec.steering)) == -1.0
    assert rec.manifest.source.details["skipped"]["by_reason"] == {"steering not finite": 1,
                                                                  "steering out of range": 1}
    assert [(s.start, s.stop) for s in rec.segments] == [(0, 4), (4, 6), (6, 12)]


def test_donkey_nan_angle_and_a_catalog_cut_short(tmp_path):
    tub = write_donkey_tub(tmp_path / "tub", n=N, deleted=(), sessions=1)  # catalogs of 5 records
    cat = tub / "catalog_0.catalog"
    lines = cat.read_text().splitlines()
    record = json.loads(lines[1])
    record["user/angle"] = float("nan")
    lines[1] = json.dumps(record)  # Python writes NaN, as donkeycar's own catalogs can hold
    lines[4] = lines[4][:25]  # the last record written when the card filled up
    cat.write_text("\n".join(lines) + "\n")
    rec = _import("donkey", tub, tmp_path / "rec")
    assert len(rec) == N - 2
    assert rec.manifest.source.details["skipped"]["by_reason"] == {"record cut short": 1, "steering not finite": 1}
    assert [(s.start, s.stop) for s in rec.segments] == [(0, 1), (1, 3), (3, 12)]


def test_a_broken_line_inside_a_catalog_is_still_an_error(tmp_path, capsys):
    """Only the last line of a catalog can be cut short by a full card; damage elsewhere is not a tub."""
    tub = write_donkey_tub(tmp_path / "tub", n=N, deleted=())
    cat = tub / "catalog_0.catalog"
    lines = cat.read_text().splitlines()
    lines[2] = lines[2][:25]
    cat.write_text("\n".join(lines) + "\n")
    fails_with_one_line(capsys, "import", "donkey", tub, tmp_path / "rec", "--quiet", watch=(tmp_path,),
                        mentions=("catalog_0.catalog, line 3",))


@pytest.mark.parametrize("fmt", ["video", "deeptesla"])
def test_video_importers_skip_nan_steering_rows(tmp_path, fmt):
    if fmt == "video":
        src = write_video(tmp_path / "v.mkv", [synthetic_frame(0.05 * i, seed=i) for i in range(N)], fps=20)
        rows = [f"{i},{0.05 * i:.3f}" for i in range(N)]
        rows[6] = "6,nan"
        (tmp_path / "v.csv").write_text("frame_index,steering\n" + "\n".join(rows) + "\n")
    else:
        src = write_deeptesla(tmp_path / "dt", n=N)
        log = src / "epoch01_steering.csv"
        lines = log.read_text().splitlines()
        lines[7] = lines[7].rsplit(",", 1)[0] + ",NaN"  # frame 6
        log.write_text("\n".join(lines) + "\n")
    rec = _import(fmt, src, tmp_path / "rec")
    assert len(rec) == N - 1 and np.all(np.isfinite(rec.steering))
    assert [(s.start, s.stop) for s in rec.segments] == [(0, 6), (6, N - 1)]


def test_a_video_shorter_than_its_csv_is_still_an_error(tmp_path, capsys):
    src = write_deeptesla(tmp_path / "dt", n=8, csv_rows=12)
    fails_with_one_line(capsys, "import", "deeptesla", src, tmp_path / "rec", "--quiet", watch=(tmp_path,),
                        mentions=("shorter than its CSV",))


@pytest.mark.parametrize("fmt", ["udacity-sim", "donkey"])
def test_a_recording_with_nothing_left_is_one_line(tmp_path, capsys, fmt):
    src = _source(fmt, tmp_path / "src")
    for image in [_image_of(fmt, src, k) for k in range(N)]:
        image.unlink()
    fails_with_one_line(capsys, "import", fmt, src, tmp_path / "rec", "--quiet", watch=(tmp_path,),
                        mentions=("nothing to import", f"{N} of {N} records", "image not found"))


def test_nothing_left_after_decoding_is_one_line(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=4)
    for k in range(4):
        _image_of("udacity-sim", src, k).write_bytes(b"\x89PNG broken")
    fails_with_one_line(capsys, "import", "udacity-sim", src, tmp_path / "rec", "--quiet", watch=(tmp_path,),
                        mentions=("nothing to import", "no image decodes"))


def test_a_tub_missing_most_of_its_images_imports_the_rest(tmp_path):
    """The issue's tub in small: images never uploaded for whole stretches of every catalog."""
    n = 60
    tub = write_donkey_tub(tmp_path / "tub", n=n, deleted=(), sessions=3)
    gone = [k for k in range(n) if k % 5 < 2]  # the first two records of every catalog of five
    for k in gone:
        (tub / "images" / f"{k}_cam_image_array_.jpg").unlink()
    rec = _import("donkey", tub, tmp_path / "rec")
    assert len(rec) == n - len(gone)
    assert rec.manifest.source.details["skipped"]["records"] == len(gone)
    assert all(seg.frames == 3 for seg in rec.segments)


def test_frame_file_keep_only_rewrites_a_valid_npy(tmp_path):
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (1234, 3, 4, 3), dtype=np.uint8)
    out = FrameFile(tmp_path / "f.npy", frames.shape)
    out.write(frames)
    out.close()
    keep = np.flatnonzero(rng.random(len(frames)) < 0.3)
    out.keep_only(keep)
    back = np.load(tmp_path / "f.npy")
    np.testing.assert_array_equal(back, frames[keep])
    assert (tmp_path / "f.npy").stat().st_size == np.load(tmp_path / "f.npy", mmap_mode="r").offset + back.nbytes


def test_skipping_leaves_the_source_untouched(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=N)
    _image_of("udacity-sim", src, 2).unlink()
    copy = shutil.copytree(src, tmp_path / "copy")
    _import("udacity-sim", src, tmp_path / "rec")
    assert sorted(p.name for p in src.rglob("*")) == sorted(p.name for p in Path(copy).rglob("*"))
