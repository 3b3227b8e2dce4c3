"""Check timesteer's LeRobot import and export against LeRobot's own code, in LeRobot's own environment.

LeRobot pins torch < 2.11 and needs torchvision, which do not install beside timesteer's torch, so this
script runs in two environments (LeRobot's needs `pip install lerobot==0.4.4`):

    LEROBOT_PY=/path/to/lerobot-venv/bin/python python benchmarks/check_lerobot.py --work /tmp/lrcheck

1. LeRobot writes a dataset (`LeRobotDataset.create`, `add_frame`, `save_episode`, `finalize`: its own
   encoder, AV1 by default) of drawn frames with known steering; timesteer imports it.
2. timesteer converts a recording to a LeRobot dataset; LeRobot's `LeRobotDataset` opens it and reads
   every frame and value.
Each side's values are compared with what was written. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

# Run by LeRobot's Python: `make DIR EXPECTED.npz` or `read DIR OUT.npz`.
LEROBOT_SIDE = r"""
import sys, numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
mode, root, out = sys.argv[1:4]
if mode == "make":
    H, W, FPS = 48, 64, 20
    camera = {"dtype": "video", "shape": (H, W, 3), "names": ["height", "width", "channels"]}
    features = {"observation.images.front": camera,
                "action": {"dtype": "float32", "shape": (2,), "names": ["steering", "throttle"]},
                "observation.state": {"dtype": "float32", "shape": (1,), "names": ["speed"]}}
    ds = LeRobotDataset.create(repo_id="local/timesteer-check", fps=FPS, root=root, features=features,
                               use_videos=True, video_backend="pyav")
    rng = np.random.default_rng(0)
    steer, frames, episode = [], [], []
    for ep, n in enumerate((37, 25)):
        for k in range(n):
            s = float(np.sin(0.2 * k + ep))
            y, x = np.mgrid[0:H, 0:W]
            img = np.stack([(x * 4 + k * 3) % 256, (y * 5 + 40 * ep) % 256, np.full((H, W), int(128 + 100 * s))],
                           -1).astype(np.uint8)
            ds.add_frame({"observation.images.front": img, "action": np.array([s, 0.3], np.float32),
                          "observation.state": np.array([10.0 + k], np.float32), "task": "drive"})
            steer.append(np.float32(s)); frames.append(img); episode.append(ep)
        ds.save_episode()
    ds.finalize()
    np.savez(out, steering=np.array(steer, np.float64), frames=np.stack(frames), episode=np.array(episode))
else:
    ds = LeRobotDataset("local/timesteer-export", root=root, video_backend="pyav")  # torchcodec needs a system FFmpeg
    items = [ds[i] for i in range(len(ds))]
    key = ds.meta.video_keys[0]
    np.savez(out, steering=np.array([float(it["action"][0]) for it in items]),
             frames=np.stack([(it[key].permute(1, 2, 0).numpy() * 255).round().astype(np.uint8) for it in items]),
             episode=np.array([int(it["episode_index"]) for it in items]), fps=ds.fps,
             video_keys=np.array(ds.meta.video_keys), total_episodes=ds.meta.total_episodes)
"""


def lerobot(python: str, *args: str) -> None:
    res = subprocess.run([python, "-c", LEROBOT_SIDE, *args], capture_output=True, text=True)
    if res.returncode:
        sys.exit(f"LeRobot's side failed:\n{res.stderr[-4000:]}")


def frame_error(a: np.ndarray, b: np.ndarray) -> dict:
    err = a.astype(np.float64) - b
    return {"mean_abs": float(np.abs(err).mean()), "max_abs": float(np.abs(err).max()),
            "psnr_db": float(10 * np.log10(255**2 / max(np.mean(err**2), 1e-12)))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--work", required=True)
    p.add_argument("--recording", help="a recording to export (default: one imported from a synthetic drive)")
    args = p.parse_args()
    python = os.environ.get("LEROBOT_PY")
    if not python:
        sys.exit("set LEROBOT_PY to the Python of an environment with lerobot installed")
    from timesteer.data import ImportConfig, Recording, import_recording
    from timesteer.data.lerobot_export import ConvertConfig, convert_recording

    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    # 1. LeRobot writes, timesteer reads.
    made = work / "made-by-lerobot"
    if not made.exists():
        lerobot(python, "make", str(made), str(work / "made.npz"))
    expected = np.load(work / "made.npz")
    rec = Recording.open(import_recording(ImportConfig("lerobot", str(made), str(work / "imported"), overwrite=False,
                                                       progress=False))) \
        if not (work / "imported").exists() else Recording.open(work / "imported")
    imported = {"frames": len(rec), "segments": [s.frames for s in rec.segments],
                "steering_max_abs_error": float(np.max(np.abs(rec.steering - expected["steering"]))),
                "signals": list(rec.signals), "frame_error": frame_error(np.asarray(rec.frames), expected["frames"]),
                "codec": json.loads((made / "meta/info.json").read_text())["features"]["observation.images.front"]
                .get("info", {}).get("video.codec")}
    # 2. timesteer writes, LeRobot reads.
    source = Path(args.recording) if args.recording else work / "imported"
    exported = work / "exported"
    if not exported.exists():
        convert_recording(ConvertConfig(rec=str(source), dest=str(exported), progress=False))
    lerobot(python, "read", str(exported), str(work / "read.npz"))
    got = np.load(work / "read.npz")
    src = Recording.open(source)
    read = {"frames": len(got["steering"]), "episodes": int(got["total_episodes"]), "fps": int(got["fps"]),
            "video_keys": got["video_keys"].tolist(),
            "steering_max_abs_error": float(np.max(np.abs(got["steering"] - src.steering))),
            "episodes_match_segments": bool(np.array_equal(
                got["episode"], np.repeat(np.arange(len(src.segments)), [s.frames for s in src.segments]))),
            "frame_error": frame_error(got["frames"], np.asarray(src.frames))}
    print(json.dumps({"check": "lerobot", "lerobot_python": python, "lerobot_made_then_timesteer_imported": imported,
                      "timesteer_exported_then_lerobot_read": read}, indent=2))


if __name__ == "__main__":
    main()
