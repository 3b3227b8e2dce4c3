"""Small recordings the tests write themselves, in each source format's exact layout.

Frames are synthetic but not random: a bright "road" band whose horizontal position follows the
steering angle, so a model can learn from them and a test can check that it did.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import struct
import zlib
from pathlib import Path

import av
import numpy as np
from PIL import Image

from timesteer.cli import main as cli_main


def synthetic_frame(steer: float, height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    """uint8 (H, W, 3): sky, ground, and a road band shifted by `steer` (in [-1, 1])."""
    rng = np.random.default_rng(seed)
    img = np.zeros((height, width, 3), dtype=np.uint8)
    img[: height // 3] = (90, 140, 200)
    img[height // 3 :] = (70, 110, 60)
    centre = int(width / 2 + steer * width / 3)
    for row in range(height // 3, height):
        half = 2 + (row - height // 3) * width // (3 * height)
        img[row, max(0, centre - half) : centre + half] = (150, 150, 150)
    noise = rng.integers(0, 6, size=img.shape, dtype=np.uint8)
    return np.clip(img.astype(np.int16) + noise, 0, 255).astype(np.uint8)


def blocks(frame: np.ndarray, k: int = 4) -> np.ndarray:
    """Mean of k x k blocks: compares pictures while ignoring per-pixel noise and JPEG ringing."""
    h, w = frame.shape[0] // k * k, frame.shape[1] // k * k
    return frame[:h, :w].astype(np.float64).reshape(h // k, k, w // k, k, -1).mean(axis=(1, 3))


def steering_wave(n: int, seed: int = 0) -> np.ndarray:
    t = np.arange(n)
    rng = np.random.default_rng(seed)
    return (0.5 * np.sin(t / 7.0) + 0.05 * rng.standard_normal(n)).round(4)


def save_jpeg(path: Path, frame: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(frame).save(path, quality=95)


def write_udacity_sim(root: Path, n: int = 20, *, gaps_after: tuple[int, ...] = (), header: bool = False,
                      windows_paths: bool = True, extra_columns: bool = False, size=(48, 64)) -> Path:
    """driving_log.csv (no header) + IMG/{center,left,right}_YYYY_MM_DD_HH_MM_SS_mmm.jpg at 10 Hz."""
    steer = steering_wave(n)
    start = dt.datetime(2017, 2, 11, 21, 34, 14, 978000)
    lines = ["center,left,right,steering,throttle,brake,speed"] if header else []
    t = start
    for i in range(n):
        t += dt.timedelta(milliseconds=3000 if i - 1 in gaps_after else 100)
        stamp = t.strftime("%Y_%m_%d_%H_%M_%S_") + f"{t.microsecond // 1000:03d}"
        names = []
        for cam, shift in (("center", 0.0), ("left", 0.2), ("right", -0.2)):
            name = f"{cam}_{stamp}.jpg"
            save_jpeg(root / "IMG" / name, synthetic_frame(steer[i] + shift, *size, seed=i))
            names.append(f"C:\\Users\\someone\\sim\\IMG\\{name}" if windows_paths else f"/home/x/data/IMG/{name}")
        row = [*names, f"{steer[i]}", "0.4", "0", f"{30 + i * 0.01:.4f}"]
        if extra_columns:
            row.append("extra")
        lines.append(",".join(row))
    (root / "driving_log.csv").write_text("\n".join(lines) + "\n")
    return root


def write_udacity_challenge(root: Path, n: int = 12) -> Path:
    steer = steering_wave(n) * 0.3
    lines = ["index,timestamp,width,height,frame_id,filename,angle,torque,speed,lat,long,alt"]
    t0 = 1479424215880976321
    k = 0
    for i in range(n):
        for cam in ("left_camera", "center_camera", "right_camera"):
            ts = t0 + i * 50_000_000 + (0 if cam == "center_camera" else 1_000_000)
            folder = cam.split("_")[0]
            name = f"{folder}/{ts}.jpg"
            save_jpeg(root / name, synthetic_frame(steer[i], 48, 64, seed=i))
            lines.append(f"{k},{ts},64,48,{cam},{name},{steer[i]},0.1,{10 + i * 0.1:.3f},37.0,-122.0,0")
            k += 1
    (root / "interpolated.csv").write_text("\n".join(lines) + "\n")
    return root


def write_video(path: Path, frames: list[np.ndarray], fps: int = 30, codec: str = "libx264") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.height, stream.width = frames[0].shape[:2]
        stream.pix_fmt = "yuv420p"
        for frame in frames:
            for packet in stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def ramp(n: int) -> np.ndarray:
    """Steering that changes every frame, so each frame's picture is unlike any other's."""
    return np.linspace(-0.7, 0.7, n).round(4)


def write_deeptesla(root: Path, n: int = 15, csv_rows: int | None = None, epoch: str = "epoch01") -> Path:
    steer = ramp(n) * 20
    write_video(root / f"{epoch}_front.mkv", [synthetic_frame(s / 20, 48, 64, seed=i) for i, s in enumerate(steer)])
    rows = csv_rows if csv_rows is not None else n
    lines = ["ts_micro,frame_index,wheel"]
    for i in range(rows):
        lines.append(f"{1464650070285914 + i * 33333},{i},{steer[i % n]}")
    (root / f"{epoch}_steering.csv").write_text("\n".join(lines) + "\n")
    return root


def write_donkey_tub(root: Path, n: int = 12, deleted: tuple[int, ...] = (3,), sessions: int = 2) -> Path:
    """A donkeycar tub v2: manifest.json (5 JSON lines), catalog_N.catalog JSON lines, images/."""
    steer = steering_wave(n)
    per_catalog = 5
    paths = [f"catalog_{k}.catalog" for k in range((n + per_catalog - 1) // per_catalog)]
    for k, name in enumerate(paths):
        records = []
        for i in range(k * per_catalog, min(n, (k + 1) * per_catalog)):
            image = f"{i}_cam_image_array_.jpg"
            save_jpeg(root / "images" / image, synthetic_frame(steer[i], 48, 64, seed=i))
            session = f"21-06-01_{i * sessions // n}"
            records.append(json.dumps({"_index": i, "_session_id": session, "_timestamp_ms": 1622548800000 + i * 50,
                                       "cam/image_array": image, "user/angle": float(steer[i]),
                                       "user/throttle": 0.3, "user/mode": "user"}))
        (root / name).write_text("\r\n".join(records) + "\r\n")
    manifest = [
        json.dumps(["cam/image_array", "user/angle", "user/throttle", "user/mode"]),
        json.dumps(["image_array", "float", "float", "str"]),
        json.dumps({}),
        json.dumps({"created_at": 1622548800.0, "sessions": {"all_full_ids": ["21-06-01_0", "21-06-01_1"]}}),
        json.dumps({"paths": paths, "current_index": n, "max_len": per_catalog, "deleted_indexes": list(deleted)}),
    ]
    (root / "manifest.json").write_text("\r\n".join(manifest) + "\r\n")
    return root


def write_sully(root: Path, n: int = 10, timestamps: bool = False) -> Path:
    steer = steering_wave(n) * 30
    lines = []
    for i in range(n):
        save_jpeg(root / f"{i}.jpg", synthetic_frame(steer[i] / 30, 48, 64, seed=i))
        suffix = f",2018-07-01 17:09:{44 + i // 20:02d}:{(i % 20) * 50:03d}" if timestamps else ""
        lines.append(f"{i}.jpg {steer[i]:.6f}{suffix}")
    (root / "data.txt").write_text("\n".join(lines) + "\n")
    return root


def run_cli(*args: str, capsys=None) -> tuple[int, str, str]:
    """Run the CLI in-process; returns (exit code, stdout, stderr) when given pytest's capsys."""
    code = cli_main([str(a) for a in args])
    if capsys is None:
        return code, "", ""
    out, err = capsys.readouterr()
    return code, out, err


def make_recording(dest: Path, n: int = 60, *, segments: int = 1, size=(48, 64)) -> Path:
    """A recording written straight through the importer (udacity-sim), with `segments` drives."""
    src = dest.parent / f"{dest.name}-src"
    per = n // segments
    write_udacity_sim(src, n=n, gaps_after=tuple(per * k - 1 for k in range(1, segments)), size=size)
    from timesteer.data import ImportConfig, import_recording

    import_recording(ImportConfig(format="udacity-sim", src=str(src), dest=str(dest), progress=False))
    return dest


def tree_state(*roots: Path) -> dict[str, tuple[int, str]]:
    """Every file under `roots` (hidden ones too) with its size and content hash: compare before and
    after a command to prove it created, changed and left behind nothing."""
    import hashlib

    state: dict[str, tuple[int, str]] = {}
    for root in roots:
        root = Path(root)
        if root.is_file():
            state[str(root)] = (root.stat().st_size, hashlib.sha1(root.read_bytes()).hexdigest())
            continue
        if not root.exists():
            continue
        state[str(root) + "/"] = (0, "dir")
        for p in sorted(root.rglob("*")):
            if p.is_file():
                state[str(p)] = (p.stat().st_size, hashlib.sha1(p.read_bytes()).hexdigest())
            else:
                state[str(p) + "/"] = (0, "dir")
    return state


def fails_with_one_line(capsys, *args, watch: tuple[Path, ...] = (), mentions: tuple[str, ...] = ()) -> str:
    """Run the CLI expecting exit status 2 and one line on stderr that mentions each of `mentions`, with no
    traceback, and nothing under `watch` created, changed or removed. Returns the line."""
    before = tree_state(*watch)
    code, out, err = run_cli(*args, capsys=capsys)
    assert code == 2, (code, out, err)
    lines = [ln for ln in err.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("timesteer: error: ") and "Traceback" not in err, err
    for text in mentions:
        assert str(text) in lines[0], (text, lines[0])
    assert tree_state(*watch) == before, "the command changed files it must not touch"
    return lines[0]


def png_claiming(width: int, height: int) -> bytes:
    """A small PNG whose header claims a huge picture (a decompression bomb's calling card)."""
    buf = io.BytesIO()
    Image.new("L", (1, 1)).save(buf, format="PNG")
    data = bytearray(buf.getvalue())
    ihdr = data.index(b"IHDR")
    data[ihdr + 4 : ihdr + 12] = struct.pack(">II", width, height)
    data[ihdr + 17 : ihdr + 21] = struct.pack(">I", zlib.crc32(bytes(data[ihdr : ihdr + 17])))
    return bytes(data)
