"""Property: whatever bytes or rows an importer's log holds, import gives a recording or the one-line error,
never a traceback, and never a half-written destination.

Each example starts from a valid source of every format and damages its log: cells replaced by random
text, lines by random JSON or random bytes, the file cut short. Hypothesis searches for a damage that
escapes as anything but a `TimesteerError`.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers import (
    synthetic_frame,
    write_deeptesla,
    write_donkey_tub,
    write_sully,
    write_udacity_challenge,
    write_udacity_sim,
    write_video,
)
from timesteer.data import ImportConfig, Recording, import_recording
from timesteer.errors import TimesteerError

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
                    derandomize=True)


def _video_source(root: Path) -> Path:
    write_video(root / "drive.mp4", [synthetic_frame(0.05 * i, seed=i) for i in range(8)], fps=10)
    rows = ["timestamp_s,steering,speed"] + [f"{0.1 * i:.2f},{0.01 * i:.3f},{10 + i}" for i in range(8)]
    (root / "drive.csv").write_text("\n".join(rows) + "\n")
    return root / "drive.mp4"


# format -> (writer of a valid source, the log file inside it that is damaged)
SOURCES = {
    "udacity-sim": (lambda r: write_udacity_sim(r, n=5), "driving_log.csv"),
    "udacity": (lambda r: write_udacity_challenge(r, n=4), "interpolated.csv"),
    "deeptesla": (lambda r: write_deeptesla(r, n=6), "epoch01_steering.csv"),
    "video": (lambda r: (_video_source(r), r)[1], "drive.csv"),
    "donkey": (lambda r: write_donkey_tub(r, n=6), "catalog_0.catalog"),
    "donkey-manifest": (lambda r: write_donkey_tub(r, n=6), "manifest.json"),
    "sully": (lambda r: write_sully(r, n=5, timestamps=True), "data.txt"),
}


@pytest.fixture(scope="module")
def sources(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("valid")
    return {name: writer(root / name) for name, (writer, _) in SOURCES.items()}


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-10**12, 10**12) | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=8)

damage = st.one_of(
    st.tuples(st.just("cell"), st.integers(0, 8), st.integers(0, 12), st.text(max_size=20)),
    st.tuples(st.just("line"), st.integers(0, 8), st.text(max_size=60)),
    st.tuples(st.just("json"), st.integers(0, 8), json_values),
    st.tuples(st.just("bytes"), st.integers(0, 400), st.binary(max_size=40)),
    st.tuples(st.just("cut"), st.integers(0, 400)),
)


def apply(path: Path, edits: list[tuple]) -> None:
    data = path.read_bytes()
    for edit in edits:
        kind = edit[0]
        if kind in ("cell", "line", "json"):
            lines = data.decode("utf-8", "surrogateescape").split("\n")
            i = edit[1] % max(1, len(lines))
            if kind == "cell":
                sep = " " if path.name == "data.txt" else ","
                cells = lines[i].split(sep)
                cells[edit[2] % len(cells)] = edit[3]
                lines[i] = sep.join(cells)
            elif kind == "line":
                lines[i] = edit[2]
            else:
                lines[i] = json.dumps(edit[2], allow_nan=True)
            data = "\n".join(lines).encode("utf-8", "surrogateescape")
        elif kind == "bytes":
            at = edit[1] % (len(data) + 1)
            data = data[:at] + edit[2] + data[at:]
        else:
            data = data[: edit[1] % (len(data) + 1)]
    path.write_bytes(data)


@pytest.mark.parametrize("name", list(SOURCES))
@SETTINGS
@given(edits=st.lists(damage, min_size=1, max_size=3))
def test_damaged_logs_give_a_recording_or_one_clear_error(sources, name, edits):
    fmt = name.split("-manifest")[0]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "src"
        shutil.copytree(sources[name], src)
        apply(src / SOURCES[name][1], edits)
        dest = Path(tmp) / "rec"
        target = src / "drive.mp4" if fmt == "video" else src
        try:
            import_recording(ImportConfig(fmt, str(target), str(dest), progress=False))
        except TimesteerError as exc:
            assert "\n" not in str(exc).strip() or len(str(exc).strip().splitlines()) == 1
            assert not dest.exists()
            assert not [p for p in Path(tmp).iterdir() if p.name.startswith(".rec.")]
            return
        rec = Recording.open(dest)  # what was imported opens and holds finite numbers
        assert len(rec) > 0 and np.isfinite(rec.steering).all() and np.isfinite(rec.timestamps_s).all()
