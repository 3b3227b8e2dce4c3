"""How a native camera frame becomes a model input: the import's crop and resize, replayed live.

A recording's `FrameGeometry` (data/manifest.py) says what the import did to the source's frames; a run
keeps it, an exported ONNX step carries it in its metadata, and the Steerer, the server and the export
all build this one object from it. Its own module, so that `export` and `steerer` need not import each other.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from timesteer.data.imaging import FrameShaper

if TYPE_CHECKING:
    from timesteer.data.manifest import FrameGeometry
    from timesteer.train.run import RunInfo


@dataclass(frozen=True)
class Preprocessing:
    """How a native camera frame becomes a model input (recorded at import, used live)."""

    source_height: int
    source_width: int
    crop_top: int
    crop_bottom: int
    height: int
    width: int

    @classmethod
    def from_geometry(cls, f: FrameGeometry) -> Preprocessing:
        """From a recording's frame geometry (what the import did), as a run keeps it."""
        return cls(f.source_height or f.height, f.source_width or f.width, f.crop_top, f.crop_bottom, f.height,
                   f.width)

    @classmethod
    def from_run_info(cls, info: RunInfo) -> Preprocessing:
        return cls.from_geometry(info.data.frame)

    def shaper(self) -> FrameShaper:
        cropped = self.source_height - self.crop_top - self.crop_bottom
        resize = (self.height, self.width) != (cropped, self.source_width)
        return FrameShaper(self.source_height, self.source_width, self.crop_top, self.crop_bottom,
                           self.height if resize else None, self.width if resize else None)

    def describe(self) -> str:
        cropped = self.source_height - self.crop_top - self.crop_bottom
        resize = (f"resize to {self.height}x{self.width} (Pillow bilinear, antialiased)"
                  if (self.height, self.width) != (cropped, self.source_width) else "no resize")
        return (f"RGB uint8 {self.source_height}x{self.source_width} (HxW); crop {self.crop_top} rows from the top "
                f"and {self.crop_bottom} from the bottom; {resize}")
