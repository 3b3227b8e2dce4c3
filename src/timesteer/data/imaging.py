"""Frame shaping: crop rows, resize to the working resolution, as uint8 RGB.

The same `FrameShaper` runs at import time and live (the `Steerer`), so a model sees frames made the
same way in training and in driving. Resizing uses Pillow's antialiased bilinear filter.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from timesteer.errors import InputError


@dataclass(frozen=True)
class FrameShaper:
    """Crop `crop_top`/`crop_bottom` source rows, then resize to (height, width) when given."""

    source_height: int
    source_width: int
    crop_top: int = 0
    crop_bottom: int = 0
    height: int | None = None
    width: int | None = None

    def __post_init__(self) -> None:
        if self.crop_top < 0 or self.crop_bottom < 0:
            raise InputError(None, f"crop rows must be >= 0, got top={self.crop_top} bottom={self.crop_bottom}")
        if self.crop_top + self.crop_bottom >= self.source_height:
            raise InputError(None, f"crop {self.crop_top},{self.crop_bottom} removes all "
                                   f"{self.source_height} source rows")
        if (self.height is None) != (self.width is None):
            raise InputError(None, "give both height and width of the working size, or neither")
        if self.height is not None and (self.height <= 0 or self.width <= 0):
            raise InputError(None, f"working size must be positive, got {self.height}x{self.width}")

    @property
    def out_height(self) -> int:
        return self.height if self.height is not None else self.source_height - self.crop_top - self.crop_bottom

    @property
    def out_width(self) -> int:
        return self.width if self.width is not None else self.source_width

    def shape_image(self, image: Image.Image) -> np.ndarray:
        """A PIL image of the source size -> uint8 array (out_height, out_width, 3)."""
        if image.mode != "RGB":
            image = image.convert("RGB")
        if self.crop_top or self.crop_bottom:
            image = image.crop((0, self.crop_top, self.source_width, self.source_height - self.crop_bottom))
        if self.height is not None and (image.height, image.width) != (self.height, self.width):
            image = image.resize((self.out_width, self.out_height), Image.Resampling.BILINEAR)
        return np.asarray(image, dtype=np.uint8)

    def shape_array(self, frame: np.ndarray) -> np.ndarray:
        """A uint8 (H, W, 3) array of the source size -> working size."""
        if frame.shape[:2] != (self.source_height, self.source_width):
            raise InputError(None, f"frame is {frame.shape[1]}x{frame.shape[0]}, expected "
                                   f"{self.source_width}x{self.source_height}")
        if not (self.crop_top or self.crop_bottom or self.height is not None):
            return np.ascontiguousarray(frame, dtype=np.uint8)
        return self.shape_image(Image.fromarray(np.ascontiguousarray(frame, dtype=np.uint8)))


def open_image(path: Path, named_by: str = "") -> Image.Image:
    """Open and fully decode an image file, or raise an InputError naming it (and the log line that
    named it, given as `named_by` such as "line 5 of driving_log.csv")."""
    suffix = f" (named on {named_by})" if named_by else ""
    if not path.is_file():
        raise InputError(path, f"image file not found{suffix}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                _check_size(img)
                img.load()
                return img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise InputError(path, f"image claims to be enormous ({_first(exc)}); refusing to decode it{suffix}") \
            from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError) as exc:
        raise InputError(path, f"image does not decode ({_first(exc)}){suffix}") from None


MAX_IMAGE_PIXELS = 40_000_000  # a 4K dashcam frame is 8.3 Mpx; a header claiming far more is a bomb or damage


def _check_size(img: Image.Image) -> None:
    if img.width * img.height > MAX_IMAGE_PIXELS:
        raise Image.DecompressionBombError(f"{img.width}x{img.height} pixels, more than the {MAX_IMAGE_PIXELS:,} "
                                           f"any camera frame has")


def _first(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__


def decode_image_bytes(data: bytes) -> Image.Image:
    """Decode an in-memory encoded image (JPEG, PNG), raising ValueError when it is not one."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                _check_size(img)
                img.load()
                return img
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"image claims to be enormous ({_first(exc)}); refusing to decode it") from None
    except (UnidentifiedImageError, OSError, SyntaxError, EOFError, ValueError) as exc:
        raise ValueError(f"not a decodable image ({_first(exc)})") from None


def parse_size(text: str | None) -> tuple[int, int] | None:
    """'66x200' -> (66, 200): height x width."""
    if text is None:
        return None
    try:
        h, w = (int(v) for v in text.lower().split("x"))
    except ValueError as exc:
        raise InputError(None, f"--size: expected HEIGHTxWIDTH such as 66x200, got {text!r}") from exc
    if h <= 0 or w <= 0:
        raise InputError(None, f"--size: expected positive sizes, got {text!r}")
    return h, w


def parse_crop(text: str | None) -> tuple[int, int]:
    """'60,25' -> (60, 25): rows cut from the top and the bottom, in source pixels."""
    if text is None:
        return 0, 0
    try:
        top, bottom = (int(v) for v in text.split(","))
    except ValueError as exc:
        raise InputError(None, f"--crop: expected TOP,BOTTOM rows such as 60,25, got {text!r}") from exc
    if top < 0 or bottom < 0:
        raise InputError(None, f"--crop: expected rows >= 0, got {text!r}")
    return top, bottom
