"""What `import` promises beyond parsing: it never deletes what it must not, never leaves half a recording,
locks its destination, refuses bad settings in one line naming the option, and handles signals and a
full disk like any other error (README, "What timesteer promises")."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import (
    fails_with_one_line,
    make_recording,
    png_claiming,
    run_cli,
    save_jpeg,
    synthetic_frame,
    tree_state,
    write_donkey_tub,
    write_sully,
    write_udacity_sim,
)
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.files import hold


def sim(tmp_path: Path, n: int = 8) -> Path:
    return write_udacity_sim(tmp_path / "sim", n=n)


# ---------------------------------------------------------------- nothing deleted that is not ours
def test_overwrite_never_replaces_a_donkey_tub_even_when_it_is_the_source(tmp_path, capsys):
    tub = write_donkey_tub(tmp_path / "tub", n=6)
    line = fails_with_one_line(capsys, "import", "donkey", tub, tub, "--overwrite", "--quiet", watch=(tmp_path,))
    assert str(tub) in line and "source" in line


def test_overwrite_refuses_a_folder_whose_manifest_is_not_a_recording(tmp_path, capsys):
    folder = tmp_path / "web"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"name": "my app", "start_url": "/"}')
    (folder / "app.js").write_text("console.log('mine')")
    fails_with_one_line(capsys, "import", "udacity-sim", sim(tmp_path), folder, "--overwrite", "--quiet",
                        watch=(tmp_path,), mentions=("not a timesteer recording",))


def test_overwrite_refuses_a_destination_that_holds_the_source(tmp_path, capsys):
    src = sim(tmp_path)
    rec = tmp_path / "rec"
    assert run_cli("import", "udacity-sim", src, rec, "--quiet")[0] == 0
    # A recording directory used as the parent of a source: overwriting it would delete the source.
    inner = write_udacity_sim(rec / "inner", n=6)
    fails_with_one_line(capsys, "import", "udacity-sim", inner, rec, "--overwrite", "--quiet", watch=(tmp_path,),
                        mentions=(str(rec),))


def test_overwrite_replaces_a_recording_and_a_failed_overwrite_keeps_it(tmp_path, capsys):
    src = sim(tmp_path)
    rec = tmp_path / "rec"
    assert run_cli("import", "udacity-sim", src, rec, "--quiet")[0] == 0
    assert run_cli("import", "udacity-sim", src, rec, "--overwrite", "--quiet", "--size", "24x32")[0] == 0
    assert Recording.open(rec).frames.shape[1:3] == (24, 32)
    next(iter(sorted((src / "IMG").glob("center_*.jpg")))).write_bytes(b"broken")
    fails_with_one_line(capsys, "import", "udacity-sim", src, rec, "--overwrite", "--quiet", "--strict", watch=(rec,))


# ---------------------------------------------------------------- locks
def test_a_second_import_to_the_same_destination_is_refused_naming_the_holder(tmp_path, capsys):
    dest = tmp_path / "rec"
    with hold(tmp_path / ".rec.lock", str(dest)):
        line = fails_with_one_line(capsys, "import", "udacity-sim", sim(tmp_path), dest, "--quiet")
    assert "in use by process" in line and str(os.getpid()) in line
    assert not (tmp_path / ".rec.lock").exists()
    assert run_cli("import", "udacity-sim", tmp_path / "sim", dest, "--quiet")[0] == 0  # free again


def test_the_lock_is_released_when_its_holder_is_killed(tmp_path):
    lock = tmp_path / ".x.lock"
    code = "import sys, time; from timesteer.files import hold\nwith hold(sys.argv[1], 'x'):\n print('held', " \
           "flush=True); time.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-c", code, str(lock)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "held"
    with pytest.raises(Exception, match="in use by process"), hold(lock, "x"):
        pass
    proc.kill()
    proc.wait()
    with hold(lock, "x"):  # the kernel dropped the dead holder's lock: no stale lock file can block us
        pass


# ---------------------------------------------------------------- settings checked in one place
@pytest.mark.parametrize(("args", "option"), [
    (["--workers", "-1"], "--workers"),
    (["--gap", "nan"], "--gap"),
    (["--gap", "-1"], "--gap"),
    (["--fps", "nan"], "--fps"),
    (["--fps", "inf"], "--fps"),
    (["--fps", "-30"], "--fps"),
    (["--steering-to-rad", "nan"], "--steering-to-rad"),
    (["--size", "0x10"], "--size"),
    (["--crop=-1,2"], "--crop"),
])
def test_bad_settings_name_the_option(tmp_path, capsys, args, option):
    fails_with_one_line(capsys, "import", "udacity-sim", sim(tmp_path), tmp_path / "rec", "--quiet", *args,
                        watch=(tmp_path,), mentions=(option,))


def test_sully_bad_fps_is_blamed_on_the_option_not_the_log(tmp_path, capsys):
    src = write_sully(tmp_path / "sully", n=5)
    line = fails_with_one_line(capsys, "import", "sully", src, tmp_path / "rec", "--fps", "-30", "--quiet",
                               watch=(tmp_path,), mentions=("--fps",))
    assert "data.txt" not in line


def test_a_single_frame_names_the_log_not_a_manifest_that_does_not_exist(tmp_path, capsys):
    src = write_udacity_sim(tmp_path / "sim", n=1)
    line = fails_with_one_line(capsys, "import", "udacity-sim", src, tmp_path / "rec", "--quiet",
                               watch=(tmp_path,), mentions=("driving_log.csv", "frame rate"))
    assert "manifest.json" not in line


def test_an_unbalanced_quote_is_reported_on_its_own_line(tmp_path, capsys):
    src = sim(tmp_path, n=8)
    log = src / "driving_log.csv"
    lines = log.read_text().splitlines()
    lines[3] = lines[3].replace(",0.4,", ',"0.4,', 1)
    log.write_text("\n".join(lines) + "\n")
    fails_with_one_line(capsys, "import", "udacity-sim", src, tmp_path / "rec", "--quiet", watch=(tmp_path,),
                        mentions=("driving_log.csv, line 4",))


def test_a_decompression_bomb_is_refused_naming_the_image(tmp_path, capsys):
    src = sim(tmp_path, n=6)
    victim = sorted((src / "IMG").glob("center_*.jpg"))[2]
    victim.write_bytes(png_claiming(65000, 65000))
    fails_with_one_line(capsys, "import", "udacity-sim", src, tmp_path / "rec", "--quiet", "--strict",
                        watch=(tmp_path,), mentions=(victim.name, "enormous"))
    # Without --strict it is one more image that does not decode: skipped, never decoded.
    rec = Recording.open(import_recording(ImportConfig("udacity-sim", str(src), str(tmp_path / "rec"),
                                                       progress=False)))
    assert len(rec) == 5 and "enormous" in rec.manifest.source.details["skipped"]["first"][0]


# ---------------------------------------------------------------- text that is not UTF-8, JSON of the wrong shape
def test_sully_and_donkey_files_with_a_byte_order_mark_import(tmp_path):
    sully = write_sully(tmp_path / "sully", n=6)
    (sully / "data.txt").write_bytes(b"\xef\xbb\xbf" + (sully / "data.txt").read_bytes())
    assert run_cli("import", "sully", sully, tmp_path / "r1", "--quiet")[0] == 0
    tub = write_donkey_tub(tmp_path / "tub", n=6)
    for f in [tub / "manifest.json", *tub.glob("catalog_*.catalog")]:
        f.write_bytes(b"\xef\xbb\xbf" + f.read_bytes())
    assert run_cli("import", "donkey", tub, tmp_path / "r2", "--quiet")[0] == 0


def _latin1(path: Path) -> None:
    path.write_bytes(path.read_bytes().replace(b"user/mode", b"user/m\xf6de").replace(b"jpg", b"jp\xe9g", 1))


@pytest.mark.parametrize("victim", ["manifest.json", "catalog_0.catalog"])
def test_donkey_files_that_are_not_utf8(tmp_path, capsys, victim):
    tub = write_donkey_tub(tmp_path / "tub", n=6)
    _latin1(tub / victim)
    fails_with_one_line(capsys, "import", "donkey", tub, tmp_path / "rec", "--quiet", watch=(tmp_path,),
                        mentions=(victim, "UTF-8"))


def test_sully_data_that_is_not_utf8(tmp_path, capsys):
    src = write_sully(tmp_path / "sully", n=4)
    (src / "data.txt").write_bytes((src / "data.txt").read_bytes() + "5.jpg 1.0 é\n".encode("latin-1"))
    fails_with_one_line(capsys, "import", "sully", src, tmp_path / "rec", "--quiet", watch=(tmp_path,),
                        mentions=("data.txt", "UTF-8"))


def _edit_catalog(tub: Path, line: int, edit) -> None:
    cat = tub / "catalog_0.catalog"
    lines = cat.read_text().splitlines()
    lines[line - 1] = edit(lines[line - 1])
    cat.write_text("\n".join(lines) + "\n")


@pytest.mark.parametrize(("edit", "mentions"), [
    (lambda s: json.dumps([1, 2, 3]), ("catalog_0.catalog, line 2", "JSON object")),
    (lambda s: json.dumps({**json.loads(s), "_index": [1]}), ("catalog_0.catalog, line 2", "_index")),
    (lambda s: s.replace('"_timestamp_ms": 1622548800050', '"_timestamp_ms": NaN'),
     ("catalog_0.catalog, line 2", "timestamp is nan")),  # skipped without --strict
    (lambda s: json.dumps({**json.loads(s), "user/angle": "left"}), ("line 2", "user/angle")),
    (lambda s: json.dumps({**json.loads(s), "cam/image_array": 7}), ("line 2", "cam/image_array")),
])
def test_donkey_records_of_the_wrong_shape(tmp_path, capsys, edit, mentions):
    tub = write_donkey_tub(tmp_path / "tub", n=6)
    _edit_catalog(tub, 2, edit)
    fails_with_one_line(capsys, "import", "donkey", tub, tmp_path / "rec", "--quiet", "--strict", watch=(tmp_path,),
                        mentions=mentions)


@pytest.mark.parametrize(("field", "value"), [("paths", "catalog_0.catalog"), ("paths", [3]),
                                              ("deleted_indexes", "3"), ("deleted_indexes", [[3]])])
def test_donkey_catalog_metadata_of_the_wrong_type(tmp_path, capsys, field, value):
    tub = write_donkey_tub(tmp_path / "tub", n=6)
    lines = (tub / "manifest.json").read_text().splitlines()
    meta = json.loads(lines[4])
    meta[field] = value
    lines[4] = json.dumps(meta)
    (tub / "manifest.json").write_text("\n".join(lines) + "\n")
    fails_with_one_line(capsys, "import", "donkey", tub, tmp_path / "rec", "--quiet", watch=(tmp_path,),
                        mentions=("manifest.json", field))


@pytest.mark.parametrize("content", [b"[]", b"{}", b'{"format": "timesteer.recording"}', b"\xff\xfe\x00",
                                     b'{"format": "timesteer.recording", "frames": "many"}'])
def test_info_on_a_broken_manifest_is_one_line(tmp_path, capsys, content):
    src = sim(tmp_path)
    rec = tmp_path / "rec"
    assert run_cli("import", "udacity-sim", src, rec, "--quiet")[0] == 0
    (rec / "manifest.json").write_bytes(content)
    fails_with_one_line(capsys, "info", rec, watch=(tmp_path,), mentions=("manifest.json",))


def test_signals_that_are_not_utf8(tmp_path, capsys):
    src = sim(tmp_path)
    rec = tmp_path / "rec"
    assert run_cli("import", "udacity-sim", src, rec, "--quiet")[0] == 0
    (rec / "signals.csv").write_bytes((rec / "signals.csv").read_bytes() + b"\xff\xfe,1\n")
    fails_with_one_line(capsys, "info", rec, watch=(tmp_path,), mentions=("signals.csv",))


def test_manifest_never_holds_nan(tmp_path):
    """JSON has no NaN: a recording's manifest is strict JSON, whatever the input."""
    rec = tmp_path / "rec"
    assert run_cli("import", "udacity-sim", sim(tmp_path), rec, "--quiet")[0] == 0
    json.loads((rec / "manifest.json").read_text(), parse_constant=lambda c: pytest.fail(f"{c} in manifest"))


# ---------------------------------------------------------------- the environment
def test_destination_parent_is_a_file(tmp_path, capsys):
    (tmp_path / "afile").write_text("x")
    fails_with_one_line(capsys, "import", "udacity-sim", sim(tmp_path), tmp_path / "afile" / "rec", "--quiet",
                        watch=(tmp_path,), mentions=("afile",))


def test_destination_that_is_a_file(tmp_path, capsys):
    (tmp_path / "rec").write_text("x")
    fails_with_one_line(capsys, "import", "udacity-sim", sim(tmp_path), tmp_path / "rec", "--quiet",
                        watch=(tmp_path,), mentions=(str(tmp_path / "rec"),))


@pytest.mark.skipif(os.name != "posix", reason="RLIMIT_FSIZE is POSIX")
def test_a_full_disk_gives_one_line_and_leaves_nothing(tmp_path):
    src = write_udacity_sim(tmp_path / "sim", n=40, size=(96, 128))
    before = tree_state(tmp_path)

    def small_files() -> None:  # files may not grow past 200 kB, as on a nearly full disk
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (200_000, 200_000))

    proc = subprocess.run([sys.executable, "-m", "timesteer", "import", "udacity-sim", str(src),
                           str(tmp_path / "rec"), "--quiet"], capture_output=True, text=True, preexec_fn=small_files)
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr
    assert "rec" in proc.stderr and "File too large" in proc.stderr
    assert tree_state(tmp_path) == before


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_a_termination_signal_mid_import_leaves_nothing(tmp_path, capsys, monkeypatch, signum):
    """The signal arrives while frames are being written (delivered for real, to this process)."""
    from timesteer.data.importers import write

    real = write.FrameFile.write
    calls = {"n": 0}

    def write_then_signal(self, frames: np.ndarray) -> None:
        real(self, frames)
        calls["n"] += 1
        if calls["n"] == 1:
            assert any(p.name.startswith(".rec.tmp-") for p in tmp_path.iterdir())  # mid-import for sure
            os.kill(os.getpid(), signum)

    monkeypatch.setattr(write.FrameFile, "write", write_then_signal)
    src = write_udacity_sim(tmp_path / "sim", n=80)
    before = tree_state(tmp_path)
    code, _, err = run_cli("import", "udacity-sim", src, tmp_path / "rec", "--quiet", capsys=capsys)
    assert code == 128 + signum and "interrupted" in err and "Traceback" not in err
    assert tree_state(tmp_path) == before


def test_saving_frames_for_a_bomb_check_does_not_slow_normal_images(tmp_path):
    """A normal camera frame passes the size check (guard against a check that refuses real data)."""
    save_jpeg(tmp_path / "a.jpg", synthetic_frame(0.1, 480, 640))
    from timesteer.data.imaging import open_image

    assert open_image(tmp_path / "a.jpg").size == (640, 480)


@pytest.mark.parametrize("keep_bytes", [0, 100, 500])
def test_an_empty_or_truncated_frame_array_is_one_line_for_every_command(tmp_path, capsys, keep_bytes):
    rec = make_recording(tmp_path / "rec", n=30)
    frames = rec / "frames.npy"
    frames.write_bytes(frames.read_bytes()[:keep_bytes])
    for cmd in (["info", rec], ["train", "--data", rec, "--out", tmp_path / "run", "--epochs", "1", "--quiet"]):
        fails_with_one_line(capsys, *cmd, watch=(tmp_path,), mentions=(str(frames),))
