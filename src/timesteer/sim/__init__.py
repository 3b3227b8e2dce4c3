"""Driving closed-loop in gymnasium's CarRacing: an expert, recordings of it, and model drives."""

from timesteer.sim.drive import DriveConfig, drive, format_drive
from timesteer.sim.episode import EpisodeConfig, autonomy_pct, run_episode
from timesteer.sim.expert import Expert, ExpertConfig
from timesteer.sim.record import RecordConfig, parse_seeds, record_sim

__all__ = ["DriveConfig", "EpisodeConfig", "Expert", "ExpertConfig", "RecordConfig", "autonomy_pct", "drive",
           "format_drive", "parse_seeds", "record_sim", "run_episode"]
