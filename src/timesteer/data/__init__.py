"""Data: recordings on disk, importers from real formats, and (for training) windows and augmentation.

Knows nothing of models. Everything reads recordings through `Recording.open`.
"""

from timesteer.data.importers import PARSERS, ImportConfig, import_recording
from timesteer.data.info import format_info, recording_info
from timesteer.data.manifest import Manifest, Segment, Steering
from timesteer.data.recording import Recording

FORMATS = tuple(PARSERS)

__all__ = [
    "FORMATS",
    "ImportConfig",
    "Manifest",
    "Recording",
    "Segment",
    "Steering",
    "format_info",
    "import_recording",
    "recording_info",
]
