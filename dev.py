#!/usr/bin/env python3
"""Set up timesteer in `.venv` and run its main job or its tests: the README's two commands.

    python3 dev.py demo [DEMO ARGS]    # set up, then `timesteer demo`
    python3 dev.py test [PYTEST ARGS]  # set up, then ruff and the test suite
    python3 dev.py setup               # set up only
    python3 dev.py sim duckietown      # also create .venv-duckietown, the Duckietown simulator's own environment

Setting up creates `.venv` (standard library `venv`), installs a CPU build of PyTorch unless
TIMESTEER_TORCH=cuda is set, then installs timesteer in editable mode with its dev extras. A stamp
file remembers what was installed, so a second run skips straight to the job.

Why a Python script and not a Makefile: it needs nothing but the Python 3.11+ that timesteer itself
needs, on Linux, macOS and Windows alike.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
STAMP = VENV / ".timesteer-setup"
# Duckietown's simulator pins old numpy, pyglet and gym, which clash with timesteer's own: it lives in an
# environment of its own, and timesteer talks to it across a process boundary (sim/duckietown.py).
SIM_VENVS = {"duckietown": ROOT / ".venv-duckietown"}
DUCKIETOWN_PINS = [
    "duckietown-gym-daffy==6.1.34", "duckietown-world-daffy==6.4.3", "pyglet==1.5.31", "numpy==1.23.5",
    "scipy<1.12", "matplotlib<3.9", "contourpy<1.3", "opencv-python==4.10.0.84", "gym==0.26.2",
]
TORCH_PIN = "torch==2.13.0"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def venv_bin(name: str) -> Path:
    folder = "Scripts" if os.name == "nt" else "bin"
    suffix = ".exe" if os.name == "nt" else ""
    return VENV / folder / f"{name}{suffix}"


def run(cmd: list[str | Path], **kwargs) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, **kwargs)


def setup_stamp() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "dev.py"):
        digest.update((ROOT / name).read_bytes())
    digest.update(os.environ.get("TIMESTEER_TORCH", "cpu").encode())
    digest.update(sys.version.encode())
    return digest.hexdigest()


def torch_install_args(pip: list[str | Path]) -> list[str]:
    """Arguments that install a CPU build of torch, asking pip first what it would pick.

    On Linux, PyPI's torch is a CUDA build of several GB; the CPU build lives on PyTorch's own index.
    Where a local wheel house already offers a `+cpu` build (as on the project's CI machines), or on
    macOS and Windows where PyPI's build is the CPU one, plain pip is right and fastest.
    """
    if os.environ.get("TIMESTEER_TORCH", "cpu") == "cuda" or platform.system() != "Linux":
        return [TORCH_PIN]
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        probe = subprocess.run(
            [*map(str, pip), "install", "--dry-run", "--quiet", "--no-deps", "--report", str(report), TORCH_PIN],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0 and report.exists():
            picked = json.loads(report.read_text()).get("install", [])
            versions = [item.get("metadata", {}).get("version", "") for item in picked]
            if any(v.endswith("+cpu") for v in versions):
                return [TORCH_PIN]
    return [TORCH_PIN, "--index-url", TORCH_CPU_INDEX, "--extra-index-url", "https://pypi.org/simple"]


def setup() -> None:
    if sys.version_info < (3, 11):
        sys.exit(f"timesteer needs Python 3.11 or newer; this is {platform.python_version()}")
    if not venv_bin("python").exists():
        run([sys.executable, "-m", "venv", VENV])
    stamp = setup_stamp()
    if STAMP.exists() and STAMP.read_text() == stamp:
        return
    pip: list[str | Path] = [venv_bin("python"), "-m", "pip"]
    run([*pip, "install", "--quiet", *torch_install_args(pip)])
    run([*pip, "install", "--quiet", "-e", f"{ROOT}[dev]"])
    STAMP.write_text(stamp)


def setup_sim(name: str) -> None:
    """Create (once) the environment of simulator `name`; a stamp of its pins makes a second run instant."""
    venv = SIM_VENVS[name]
    stamp = venv / ".timesteer-sim"
    wanted = "\n".join(DUCKIETOWN_PINS) + "\n" + sys.version
    if stamp.exists() and stamp.read_text() == wanted:
        return
    folder = "Scripts" if os.name == "nt" else "bin"
    python = venv / folder / ("python.exe" if os.name == "nt" else "python")
    if not python.exists():
        run([sys.executable, "-m", "venv", venv])
    run([python, "-m", "pip", "install", "--quiet", *DUCKIETOWN_PINS])
    stamp.write_text(wanted)


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in {"demo", "test", "setup", "sim"}:
        print(__doc__)
        return 2
    job, rest = argv[0], argv[1:]
    if job == "sim":
        if len(rest) != 1 or rest[0] not in SIM_VENVS:
            print(f"usage: python3 dev.py sim {{{','.join(SIM_VENVS)}}}")
            return 2
        setup_sim(rest[0])
        return 0
    setup()
    if job == "setup":
        return 0
    env = dict(os.environ)
    if job == "demo":
        return subprocess.call([str(venv_bin("timesteer")), "demo", *rest], cwd=ROOT, env=env)
    lint = [str(venv_bin("python")), "-m", "ruff", "check", "src", "tests", "benchmarks", "dev.py"]
    ruff = subprocess.call(lint, cwd=ROOT)
    if ruff != 0:
        return ruff
    return subprocess.call([str(venv_bin("python")), "-m", "pytest", *rest], cwd=ROOT, env=env)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
