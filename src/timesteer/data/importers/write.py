"""Turn a `ParsedSource` into a recording: check, decode in parallel, crop and resize, segment, commit.

Images decode on a thread pool (Pillow releases the GIL while decoding and resizing); videos decode
with FFmpeg's own threads through PyAV. Frames go straight into a memory-mapped array, so memory use
does not grow with the number of frames.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from pathlib import Path

import av
import numpy as np
from tqdm import tqdm

from timesteer.data.imaging import FrameShaper, open_image
from timesteer.data.importers.source import (
    CameraSource,
    ImageFiles,
    ParsedSource,
    VideoFrames,
    check_finite,
    check_time_order,
)
from timesteer.data.manifest import Camera, FrameGeometry, Manifest, Source
from timesteer.data.resample import resample_indexes
from timesteer.data.segments import default_gap_threshold_s, frame_rate, segment_ids, split_segments
from timesteer.data.writer import FrameFile, RecordingWriter
from timesteer.errors import InputError
from timesteer.files import writing

CHUNK_FRAMES = 32


@dataclass
class WriteOptions:
    dest: Path
    size: tuple[int, int] | None = None
    crop: tuple[int, int] = (0, 0)
    overwrite: bool = False
    gap_threshold_s: float | None = None
    workers: int = 0
    progress: bool = True
    fps: float | None = None  # resample to this rate (frames are dropped, never invented)
    sources: tuple[Path, ...] = ()  # paths being read, which DEST must never be or hold


def write_recording(parsed: ParsedSource, options: WriteOptions) -> Path:
    n = len(parsed)
    if n == 0:
        raise InputError(parsed.log_path, "no frames to import")
    check_finite("timestamp", parsed.timestamps_s, parsed.locate)
    check_time_order(parsed.timestamps_s, parsed.locate)
    for name, values in parsed.signals.items():
        check_finite(name, values, parsed.locate)
    gap = options.gap_threshold_s if options.gap_threshold_s is not None else default_gap_threshold_s(
        parsed.timestamps_s)
    segments = split_segments(parsed.timestamps_s, gap, parsed.forced_breaks)
    starts = np.array([s.start for s in segments])
    fps = parsed.fps or frame_rate(parsed.timestamps_s, starts)
    if not fps > 0:
        raise InputError(parsed.log_path, f"cannot tell the frame rate: {n} frame(s) "
                                          f"{'with no time between them' if n > 1 else 'only'}; a recording needs "
                                          f"at least two frames at different times")
    if options.fps is not None and not parsed.fps:
        if options.fps > fps * 1.02:
            raise InputError(parsed.log_path, f"--fps {options.fps:g} is faster than the source's {fps:.3g} frames "
                                              f"per second; resampling only drops frames, it never invents them")
        keep = resample_indexes(parsed.timestamps_s, segments, options.fps)
        parsed = parsed.subset(keep, np.searchsorted(keep, starts))
        n = len(parsed)
        segments = split_segments(parsed.timestamps_s, gap, parsed.forced_breaks)
        fps = options.fps
        parsed.details["resampled_to_fps"] = options.fps

    with writing(options.dest, "recording"), \
            RecordingWriter(options.dest, overwrite=options.overwrite, sources=options.sources) as writer:
        shaper = _shaper_for(parsed.cameras[0], parsed, options)
        bar = tqdm(total=n * len(parsed.cameras), desc="import", unit="frame", disable=not options.progress,
                   leave=False)
        cameras = []
        for k, cam in enumerate(parsed.cameras):
            file = "frames.npy" if k == 0 else f"frames_{cam.name}.npy"
            out = writer.frames(file, n, shaper.out_height, shaper.out_width, 3)
            if isinstance(cam.frames, ImageFiles):
                _decode_images(cam.frames, parsed, shaper, out, options.workers, bar)
            else:
                _decode_video(cam.frames, parsed, shaper, out, bar)
            cameras.append(Camera(name=cam.name, file=file, side=cam.side))
        bar.close()

        signals = {"timestamp_s": parsed.timestamps_s, "steering": parsed.signals["steering"],
                   "segment": segment_ids(segments, n)}
        signals.update({k: v for k, v in parsed.signals.items() if k != "steering"})
        manifest = Manifest(
            source=Source(format=parsed.format, path=str(parsed.path.absolute()), details=parsed.details),
            frame=FrameGeometry(height=shaper.out_height, width=shaper.out_width, channels=3,
                                source_height=shaper.source_height, source_width=shaper.source_width,
                                crop_top=shaper.crop_top, crop_bottom=shaper.crop_bottom),
            fps=fps,
            steering=parsed.steering,
            cameras=cameras,
            segments=segments,
            frames=n,
            signals=[],
            gap_threshold_s=gap,
        )
        return writer.commit(manifest, signals)


def _shaper_for(camera: CameraSource, parsed: ParsedSource, options: WriteOptions) -> FrameShaper:
    """Read the first frame to learn the source size every other frame must match."""
    if isinstance(camera.frames, ImageFiles):
        log, line = parsed.locate(0)
        first = open_image(camera.frames.paths[0], named_by=f"line {line} of {log.name}")
        h, w = first.height, first.width
    else:
        with _open_video(camera.frames.path) as container:
            stream = container.streams.video[0]
            h, w = stream.codec_context.height, stream.codec_context.width
    height, width = options.size if options.size is not None else (None, None)
    try:
        return FrameShaper(h, w, options.crop[0], options.crop[1], height, width)
    except InputError as exc:
        raise InputError(parsed.log_path, f"{exc} (source frames are {w}x{h})") from None


def _decode_images(files: ImageFiles, parsed: ParsedSource, shaper: FrameShaper, out: FrameFile,
                   workers: int, bar: tqdm) -> None:
    expected = (shaper.source_width, shaper.source_height)
    first_path = files.paths[0]

    def decode_chunk(start: int) -> np.ndarray:
        stop = min(start + CHUNK_FRAMES, len(files.paths))
        chunk = np.empty((stop - start, shaper.out_height, shaper.out_width, 3), dtype=np.uint8)
        for i in range(start, stop):
            log, line = parsed.locate(i)
            image = open_image(files.paths[i], named_by=f"line {line} of {log.name}")
            if image.size != expected:
                raise InputError(files.paths[i], f"image is {image.width}x{image.height}, expected "
                                                 f"{expected[0]}x{expected[1]} like the first frame "
                                                 f"({first_path.name}; named on line {line} of {log.name})")
            chunk[i - start] = shaper.shape_image(image)
        return chunk

    workers = workers or min(8, os.cpu_count() or 1)
    starts = iter(range(0, len(files.paths), CHUNK_FRAMES))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # A bounded window of chunks in flight keeps memory flat; taking results in order writes frames
        # sequentially and makes the first error raised the earliest bad frame's.
        window = deque(pool.submit(decode_chunk, s) for s in islice(starts, 2 * workers))
        try:
            while window:
                chunk = window.popleft().result()
                window.extend(pool.submit(decode_chunk, s) for s in islice(starts, 1))
                out.write(chunk)
                bar.update(len(chunk))
        except BaseException:
            for future in window:
                future.cancel()
            raise


def _open_video(path: Path) -> av.container.InputContainer:
    if not path.is_file():
        raise InputError(path, "video file not found")
    try:
        container = av.open(str(path))
    except av.FFmpegError as exc:
        raise InputError(path, f"could not open the video ({exc})") from exc
    if not container.streams.video:
        container.close()
        raise InputError(path, "expected a video stream, found none")
    return container


def video_frame_times(path: Path) -> np.ndarray:
    """Display times (s) of every frame, from packet timestamps, without decoding any picture."""
    with _open_video(path) as container:
        stream = container.streams.video[0]
        base = stream.time_base
        pts = [p.pts for p in container.demux(stream) if p.pts is not None and p.size > 0]
    if not pts:
        raise InputError(path, "the video has no frames")
    pts_arr = np.sort(np.asarray(pts, dtype=np.int64))
    start = stream.start_time if stream.start_time is not None else pts_arr[0]
    return (pts_arr - start).astype(np.float64) * float(base)


def iter_video(path: Path) -> Iterator[tuple[int, np.ndarray]]:
    """(display index, RGB uint8 frame) for every frame, decoded with FFmpeg's threads."""
    with _open_video(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                yield index, frame.to_ndarray(format="rgb24")
        except av.FFmpegError as exc:
            raise InputError(path, f"video does not decode after frame {index} ({exc})", frame=index + 1) from exc


def _decode_video(video: VideoFrames, parsed: ParsedSource, shaper: FrameShaper, out: FrameFile,
                  bar: tqdm) -> None:
    wanted = video.indexes
    k = 0
    last = -1
    for i, rgb in iter_video(video.path):
        last = i
        if k >= len(wanted):
            break
        if i < wanted[k]:
            continue
        out.write(shaper.shape_array(rgb)[None])
        k += 1
        bar.update(1)
    if k < len(wanted):
        log, line = parsed.locate(k)
        raise InputError(video.path, f"video shorter than its CSV: it has {last + 1} frames but line "
                                     f"{line} of {log.name} expects frame "
                                     f"{int(wanted[k])}", frame=int(wanted[k]))
