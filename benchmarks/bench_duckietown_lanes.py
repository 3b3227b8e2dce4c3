"""Does the intervention test call a car on a junction's branch out? Duckietown's lane against any branch.

    python benchmarks/bench_duckietown_lanes.py [--maps 4way,udem1,ETH_small_intersect] [--offsets 0,0.25,0.5,0.75]

For every kind of drivable tile of each map, poses along every curve of the tile (25 along each), shifted
sideways by a fraction of half a lane each way and facing along the curve: all of them are in their lane.
Counts how many Duckietown's own choice of lane (`get_lane_pos2`, by the chord of each curve) calls out, and
how many the intervention test (`lane_of_any_branch`, any curve of the tile that runs the car's way) does.
Runs the worker's code in the Duckietown environment (`python3 dev.py sim duckietown`); prints one JSON line
per map and tile kind.
"""

from __future__ import annotations

import argparse
import os
import subprocess

from timesteer.sim import duckietown as dt

PROBE = r"""
import json, sys
import duckietown_probe as probe
import duckietown_worker as w

map_name, offsets = sys.argv[1], [float(x) for x in sys.argv[2].split(",")]
world = w.World(map_name, 1, 80, 60, 30.0)
hw = world.half_width_m
seen = set()
for tile in world.env.grid:
    if not tile["drivable"] or tile["kind"] in seen:
        continue
    seen.add(tile["kind"])
    row = {"map": map_name, "tile": tile["kind"], "curves": len(tile["curves"]), "half_lane_m": round(hw, 4)}
    for frac in offsets:
        n = out_dt = out_any = 0
        for q, angle in probe.poses_along_curves(tile, frac * hw):
            n += 1
            d, _, ok = world.lane(q, angle)
            out_dt += (not ok) or abs(d) > hw
            d, _, ok = world.lane_of_any_branch(q, angle)
            out_any += (not ok) or abs(d) > hw
        row[f"offset_{frac:g}"] = {"poses": n, "out_duckietown": int(out_dt), "out_any_branch": int(out_any)}
    print("RESULT " + json.dumps(row), file=sys.stderr)
"""


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--maps", default="4way,udem1,ETH_small_intersect")
    ap.add_argument("--offsets", default="0,0.25,0.5,0.75", help="sideways shifts, as fractions of half a lane")
    args = ap.parse_args()
    python = dt.check_environment()
    for map_name in args.maps.split(","):
        # The worker sends the libraries' chatter to stderr; results are the lines marked RESULT there.
        done = subprocess.run([str(python), "-c", PROBE, map_name, args.offsets], cwd=dt.WORKER.parent,
                              env={**os.environ, "PYGLET_HEADLESS": "true"}, capture_output=True,
                              text=True, check=True)
        for line in done.stderr.splitlines():
            if line.startswith("RESULT "):
                print(line[len("RESULT "):])


if __name__ == "__main__":
    main()
