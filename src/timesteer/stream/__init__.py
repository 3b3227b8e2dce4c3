"""Live use: a Steerer (one frame in, one angle out, state carried), ONNX export, a drive server."""

from timesteer.stream.preprocessing import Preprocessing
from timesteer.stream.steerer import Steerer

__all__ = ["Preprocessing", "Steerer"]
