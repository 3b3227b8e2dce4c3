"""A camera's frames as an H.264 video (`import --store video`): about 12x smaller than `frames.npy`.

`frames.npy` is raw: 40 KB a frame at 66x200, so ten hours at 20 Hz is 29 GB. The video store encodes
the same frames with libx264 (through PyAV) into one MP4 per camera, `frames.mp4`, that any player
opens. Every frame is a keyframe (all-intra): on the simulator's drives at 66x200 and 20 Hz, inter-frame
coding saved under 5% (the camera moves, and x264 put a scene cut every 15 frames on its own), while
all-intra lets training read any frame alone - a shuffled single-frame model wastes no decoding, and a
lane of truncated BPTT reads forward one packet a frame. The pictures are YUV 4:4:4 (no chroma
subsampling, any frame size) at CRF 20: on those drives 11.7x smaller than raw, a mean absolute error
of 3.9 of 255 (PSNR 34 dB); CRF 18, x264's "visually lossless", was 9.9x (BENCHMARKS.md has both, and
what the loss costs in validation RMSE).

`VideoFrames` reads it as an array: `frames[i]`, `frames[a:b]`, `frames[idx]` for an integer array of
any shape, `len`, `shape`, `dtype`. It reads each packet straight from the file (its byte range is
indexed once, when the recording opens), decodes on a small pool of threads (FFmpeg's decoder releases
the GIL) and converts YUV to RGB with one matrix product for the whole request.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np

from timesteer.errors import InputError

SUFFIX = ".mp4"
CODEC = "libx264"
PIXEL_FORMAT = "yuv444p"
CRF = 20  # two steps past x264's "visually lossless" 18: 11.7x smaller than raw instead of 9.9x
ENCODER_OPTIONS = {"crf": str(CRF), "g": "1", "bf": "0"}  # every frame a keyframe, no reordering
# Decoding threads per open video (TIMESTEER_DECODE_THREADS overrides): four keep a 2-core machine's
# training fed (BENCHMARKS.md); a GPU machine's many cores may want more.
DECODE_THREADS = int(os.environ.get("TIMESTEER_DECODE_THREADS", "0") or 0) or min(4, os.cpu_count() or 1)
PARALLEL_FROM = 16  # frames in one request before decoding spreads over threads
# Decoded frames kept in memory, over all open videos, least recently used first out
# (TIMESTEER_VIDEO_CACHE_MB; 0: none). A drive that fits is decoded once, not every epoch: what lets a GPU,
# which trains faster than one process decodes, keep its pace after the first epoch (BENCHMARKS.md).
CACHE_MB = float(os.environ.get("TIMESTEER_VIDEO_CACHE_MB", "1024"))


class _FrameCache:
    """A byte-bounded LRU of decoded frames keyed by (video, frame), shared by every `VideoFrames`."""

    def __init__(self, budget_bytes: int) -> None:
        self.budget = budget_bytes
        self.used = 0
        self._frames: OrderedDict[tuple[str, int], np.ndarray] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, int]) -> np.ndarray | None:
        with self._lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
            return frame

    def put(self, key: tuple[str, int], frame: np.ndarray) -> None:
        if frame.nbytes > self.budget:
            return
        with self._lock:
            if key in self._frames:
                return
            self._frames[key] = frame
            self.used += frame.nbytes
            while self.used > self.budget:
                _, old = self._frames.popitem(last=False)
                self.used -= old.nbytes


CACHE = _FrameCache(int(CACHE_MB * 2**20))
CONVERT_BLOCK = 32  # frames decoded and converted together by one thread

# BT.601 limited range, what FFmpeg's swscale uses by default for RGB -> YUV at these sizes: the inverse,
# a 3x3 product plus an offset (`yuv_to_rgb`: 8x faster than swscale's own YUV 4:4:4 -> RGB here).
_YUV_TO_RGB = np.array([[1.164383, 0.0, 1.596027],
                        [1.164383, -0.391762, -0.812968],
                        [1.164383, 2.017232, 0.0]], dtype=np.float32)
_OFFSET = _YUV_TO_RGB @ np.array([16.0, 128.0, 128.0], dtype=np.float32) - 0.5  # -0.5: round, not floor


def is_video(file: str | Path) -> bool:
    return str(file).endswith(SUFFIX)


class VideoFrameFile:
    """Append uint8 RGB frames (N, H, W, 3) to an all-intra MP4; the same interface as `FrameFile`."""

    def __init__(self, path: Path, shape: tuple[int, int, int, int], fps: float = 20.0) -> None:
        if shape[3] != 3:
            raise ValueError(f"the video store holds RGB frames, not {shape[3]} channels")
        self.path = path
        self.shape = shape
        self.fps = fps
        self.written = 0
        self._container = av.open(str(path), mode="w", format="mp4")
        self._stream = self._container.add_stream(CODEC, rate=_rate(fps), options=dict(ENCODER_OPTIONS))
        self._stream.height, self._stream.width = shape[1], shape[2]
        self._stream.pix_fmt = PIXEL_FORMAT
        self.closed = False

    def write(self, frames: np.ndarray) -> None:
        if frames.shape[1:] != self.shape[1:] or frames.dtype != np.uint8:
            raise ValueError(f"frames {frames.dtype}{frames.shape} do not fit {self.shape}")
        if self.written + len(frames) > self.shape[0]:
            raise ValueError(f"{self.path.name}: more than {self.shape[0]} frames written")
        for frame in frames:
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(frame), format="rgb24")
            picture.pts = self.written
            self._container.mux(self._stream.encode(picture))
            self.written += 1

    def close(self) -> None:
        if self.closed:
            return
        self._container.mux(self._stream.encode(None))
        self._container.close()
        self.closed = True
        with open(self.path, "rb+") as fh:
            os.fsync(fh.fileno())
        if self.written != self.shape[0]:
            raise ValueError(f"{self.path.name}: {self.written} frames written, {self.shape[0]} expected")

    def abort(self) -> None:
        if not self.closed:
            self.closed = True
            with contextlib.suppress(av.FFmpegError):  # the file goes with the temporary directory anyway
                self._container.close()

    def keep_only(self, keep: np.ndarray) -> None:
        """After close: keep frames `keep` (ascending). Every frame is a keyframe, so the kept packets are
        copied into a new file as they are, renumbered; nothing is encoded again."""
        if not self.closed:
            raise ValueError(f"{self.path.name}: close before keep_only")
        keep_set = set(np.asarray(keep, dtype=np.int64).tolist())
        tmp = self.path.with_name(self.path.name + ".part")
        with av.open(str(self.path)) as src, av.open(str(tmp), mode="w", format="mp4") as dst:
            stream_in = src.streams.video[0]
            stream_out = dst.add_stream_from_template(stream_in)
            kept = 0
            for i, packet in enumerate(p for p in src.demux(stream_in) if p.size):
                if i in keep_set:
                    packet.pts = packet.dts = kept
                    packet.time_base = stream_in.time_base
                    packet.stream = stream_out
                    dst.mux(packet)
                    kept += 1
        os.replace(tmp, self.path)
        self.shape = (len(keep_set), *self.shape[1:])  # type: ignore[assignment]
        self.written = len(keep_set)


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(20)


class VideoFrames:
    """The frames of an all-intra MP4 as a read-only uint8 array (N, H, W, 3), decoded on demand."""

    def __init__(self, path: Path, expected: tuple[int, int, int, int] | None = None) -> None:
        self.path = path
        try:
            with av.open(str(path)) as container:
                if not container.streams.video:
                    raise InputError(path, "expected a video stream, found none")
                stream = container.streams.video[0]
                self._codec = stream.codec_context.name
                self._extradata = stream.codec_context.extradata
                height, width = stream.codec_context.height, stream.codec_context.width
                index = [(p.pos, p.size, p.is_keyframe) for p in container.demux(stream) if p.size]
        except av.FFmpegError as exc:
            raise InputError(path, f"could not open the frame video ({exc}; is it truncated?)") from None
        self.shape = (len(index), height, width, 3)
        stat = path.stat()  # the cache's name for this file as it is now: a file rewritten is another
        self._identity = f"{path.resolve()}:{stat.st_ino}:{stat.st_mtime_ns}:{stat.st_size}"
        if expected is not None and self.shape != expected:
            raise InputError(path, f"expected frames of shape {expected}, found a video of {self.shape}")
        if not all(key for _, _, key in index):
            raise InputError(path, "expected every frame to be a keyframe (timesteer's video store)")
        self._pos = np.array([p for p, _, _ in index], dtype=np.int64)
        self._size = np.array([s for _, s, _ in index], dtype=np.int64)
        self.dtype = np.dtype(np.uint8)
        self.ndim = 4
        self._local = threading.local()
        self._pool: ThreadPoolExecutor | None = None
        self._fd: int | None = None

    def __len__(self) -> int:
        return self.shape[0]

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        frames = self[:]
        return frames.astype(dtype) if dtype is not None else frames

    def __getitem__(self, index: Any) -> np.ndarray:
        if isinstance(index, slice):
            return self._gather(np.arange(*index.indices(len(self))))
        idx = np.asarray(index)
        if idx.dtype == bool or not np.issubdtype(idx.dtype, np.integer):
            raise IndexError(f"{self.path.name}: frames are indexed by integers or slices, got {idx.dtype}")
        if idx.ndim == 0:
            return self._gather(idx.reshape(1))[0]
        return self._gather(idx)

    def _gather(self, idx: np.ndarray) -> np.ndarray:
        n = len(self)
        flat = idx.reshape(-1).astype(np.int64)
        if len(flat) and (flat.min() < -n or flat.max() >= n):
            raise IndexError(f"{self.path.name}: frame index out of range for {n} frames")
        flat = np.where(flat < 0, flat + n, flat)
        if self._fd is None:  # opened here, on the caller's thread, before any decoding thread needs it
            self._fd = os.open(self.path, os.O_RDONLY)
        wanted, inverse = np.unique(flat, return_inverse=True)
        h, w = self.shape[1], self.shape[2]
        frames = np.empty((len(wanted), h, w, 3), dtype=np.uint8)
        name = self._identity
        missing = []
        for k, i in enumerate(wanted.tolist()):
            hit = CACHE.get((name, i))
            if hit is None:
                missing.append(k)
            else:
                frames[k] = hit
        if missing:
            todo = wanted[missing]
            decoded = np.empty((len(todo), h, w, 3), dtype=np.uint8)
            starts = range(0, len(todo), CONVERT_BLOCK)
            if len(todo) >= PARALLEL_FROM and DECODE_THREADS > 1:
                if self._pool is None:
                    self._pool = ThreadPoolExecutor(DECODE_THREADS, thread_name_prefix="timesteer-decode")
                list(self._pool.map(lambda k: self._decode_block(todo, k, decoded), starts))
            else:
                for k in starts:
                    self._decode_block(todo, k, decoded)
            frames[missing] = decoded
            for i, frame in zip(todo.tolist(), decoded, strict=True):
                CACHE.put((name, i), frame.copy())  # a copy: a row would keep its whole block alive
        return frames[inverse].reshape(*idx.shape, h, w, 3)

    def _decode_block(self, wanted: np.ndarray, start: int, out: np.ndarray) -> None:
        """Decode frames wanted[start:start + CONVERT_BLOCK] into the same rows of `out`, converting YUV
        to RGB for the block at once (a block at a time keeps the float intermediate small)."""
        block = wanted[start:start + CONVERT_BLOCK]
        yuv = np.stack([self._decode(int(i)) for i in block])
        out[start:start + len(block)] = yuv_to_rgb(yuv)

    def _decode(self, i: int) -> np.ndarray:
        """Frame i's Y, U and V planes (3, H, W), from its packet alone."""
        assert self._fd is not None
        ctx = getattr(self._local, "ctx", None)
        if ctx is None:  # a decoder per thread: a codec context is not thread-safe
            ctx = av.CodecContext.create(self._codec, "r")
            ctx.extradata = self._extradata
            self._local.ctx = ctx
        data = os.pread(self._fd, int(self._size[i]), int(self._pos[i]))
        try:
            pictures = ctx.decode(av.Packet(data))
        except av.FFmpegError as exc:
            raise InputError(self.path, f"frame does not decode ({exc})", frame=i) from None
        if len(pictures) != 1:
            raise InputError(self.path, "expected one picture per packet (timesteer's video store)", frame=i)
        return pictures[0].to_ndarray()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):  # interpreter shutdown may have torn down what close uses
            self.close()

    def __getstate__(self) -> dict[str, Any]:  # a copy in another process opens its own file and threads
        state = self.__dict__.copy()
        state.update(_local=None, _pool=None, _fd=None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._local = threading.local()


def yuv_to_rgb(yuv: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) uint8 Y, U, V planes (BT.601, limited range) -> (N, H, W, 3) uint8 RGB. Plane by plane
    in float32: 3-4x faster than one (pixels, 3) x (3, 3) product, which numpy does not vectorise well."""
    f = yuv.astype(np.float32)
    y = f[:, 0] * _YUV_TO_RGB[0, 0]
    y -= _OFFSET[0]
    rgb = np.empty((yuv.shape[0], yuv.shape[2], yuv.shape[3], 3), dtype=np.float32)
    np.multiply(f[:, 2], _YUV_TO_RGB[0, 2], out=rgb[..., 0])
    rgb[..., 0] += y
    green = f[:, 1] * _YUV_TO_RGB[1, 1]
    green += f[:, 2] * _YUV_TO_RGB[1, 2]
    green += y
    green -= _OFFSET[1] - _OFFSET[0]
    rgb[..., 1] = green
    np.multiply(f[:, 1], _YUV_TO_RGB[2, 1], out=rgb[..., 2])
    rgb[..., 2] += y
    rgb[..., 2] -= _OFFSET[2] - _OFFSET[0]
    np.clip(rgb, 0, 255, out=rgb)
    return rgb.astype(np.uint8)
