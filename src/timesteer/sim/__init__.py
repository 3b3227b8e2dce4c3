"""Driving closed-loop: a small simulator interface (CarRacing behind it), driving conditions drawn per
track, an expert, recordings of it, model drives with autonomy and its interval, and DAgger."""

# The simulators shipped: importing their adapters registers them (sim/registry.py); neither imports its
# simulator until one is made.
from timesteer.sim import carracing, duckietown  # noqa: F401
from timesteer.sim.compare_drives import CompareDrivesConfig, compare_drives, format_compare_drives
from timesteer.sim.conditions import NAMED as CONDITIONS
from timesteer.sim.conditions import Conditions, conditions_from
from timesteer.sim.dagger import DaggerConfig, dagger
from timesteer.sim.drive import DriveConfig, drive, format_drive
from timesteer.sim.episode import EpisodeConfig, autonomy_pct, run_episode
from timesteer.sim.expert import Expert, ExpertConfig
from timesteer.sim.parallel import parse_seeds
from timesteer.sim.record import RecordConfig, record_sim
from timesteer.sim.registry import SimulatorEntry, register_simulator, simulator_names
from timesteer.sim.stats import paired, track_interval

__all__ = ["CONDITIONS", "CompareDrivesConfig", "Conditions", "DaggerConfig", "DriveConfig", "EpisodeConfig",
           "Expert", "ExpertConfig", "RecordConfig", "SimulatorEntry", "autonomy_pct", "compare_drives",
           "conditions_from", "dagger", "drive", "format_compare_drives", "format_drive", "paired", "parse_seeds",
           "record_sim", "register_simulator", "run_episode", "simulator_names", "track_interval"]
