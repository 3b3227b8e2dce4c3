"""Live use: a Steerer (one frame in, one angle out, state carried), ONNX export, a drive server."""

from timesteer.stream.steerer import Preprocessing, Steerer

__all__ = ["Preprocessing", "Steerer"]
