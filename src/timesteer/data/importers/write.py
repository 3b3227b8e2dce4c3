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
from timesteer.data.importers.screen import (
    Skips,
    keep_with_breaks,
    require_some,
    screen_files,
    screen_signals,
    short_name,
)
from timesteer.data.importers.source import (
    CameraSource,
    ImageFiles,
    ParsedSource,
    VideoFiles,
    VideoFrames,
    check_time_order,
)
from timesteer.data.manifest import Camera, DashcamView, FrameGeometry, Manifest, Source, TopDownView
from timesteer.data.resample import resample_indexes
from timesteer.data.segments import default_gap_threshold_s, frame_rate, segment_ids, split_segments
from timesteer.data.videostore import VideoFrameFile
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
    strict: bool = False  # refuse the first broken record instead of skipping it
    store: str = "npy"  # "npy": raw frames, memory-mapped; "video": an all-intra MP4 per camera (videostore.py)


def write_recording(parsed: ParsedSource, options: WriteOptions, skips: Skips | None = None) -> Path:
    """Check, decode and write `parsed` as a recording at `options.dest`. Broken records are skipped into
    `skips` (which may already hold what the parser skipped) unless `options.strict`."""
    skips = skips if skips is not None else Skips(strict=options.strict)
    total = len(parsed) + len(skips)
    if len(parsed) == 0 and not skips:
        raise InputError(parsed.log_path, "no frames to import")
    ok = screen_signals(parsed, skips)
    screen_files(parsed, ok, skips)
    require_some(parsed, np.flatnonzero(ok), skips, total)
    parsed = keep_with_breaks(parsed, np.flatnonzero(ok))
    n = len(parsed)
    check_time_order(parsed.timestamps_s, parsed.locate)
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
        shaper, reference = _shaper_for(parsed.cameras[0], parsed, options)
        bar = tqdm(total=n * len(parsed.cameras), desc="import", unit="frame", disable=not options.progress,
                   leave=False)
        cameras, outs = [], []
        broken: set[int] = set()
        for k, cam in enumerate(parsed.cameras):
            suffix = ".mp4" if options.store == "video" else ".npy"
            file = f"frames{suffix}" if k == 0 else f"frames_{cam.name}{suffix}"
            out = writer.frames(file, n, shaper.out_height, shaper.out_width, 3, fps=fps)
            if isinstance(cam.frames, VideoFiles):
                for start, stop in cam.frames.runs():
                    clip = VideoFrames(cam.frames.paths[int(cam.frames.file_of[start])],
                                       cam.frames.indexes[start:stop])
                    _decode_video(clip, parsed, shaper, out, bar, first_row=start)
            elif isinstance(cam.frames, ImageFiles):
                broken |= _decode_images(cam.frames, parsed, shaper, out, options.workers, bar, skips, broken,
                                         reference)
            else:
                _decode_video(cam.frames, parsed, shaper, out, bar)
            cameras.append(Camera(name=cam.name, file=file, side=cam.side))
            outs.append(out)
        bar.close()
        if broken:  # frames that did not decode leave holes, in every camera's file alike
            keep = np.setdiff1d(np.arange(n), np.fromiter(broken, dtype=np.int64))
            require_some(parsed, keep, skips, total)
            for out in outs:
                out.close()
                out.keep_only(keep)
            parsed = keep_with_breaks(parsed, keep)
            n = len(parsed)
        segments = split_segments(parsed.timestamps_s, gap, parsed.forced_breaks)
        if skips:
            parsed.details["skipped"] = skips.summary(total)

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
            view=parsed.view if isinstance(parsed.view, TopDownView) else None,
            dashcam=parsed.view if isinstance(parsed.view, DashcamView) else None,
        )
        return writer.commit(manifest, signals)


def _shaper_for(camera: CameraSource, parsed: ParsedSource, options: WriteOptions) -> tuple[FrameShaper, Path]:
    """Read the first frame that decodes to learn the source size every other frame must match (and
    return its path, which errors about another size name). Frames before it that do not decode are
    skipped when the decoding pass meets them again; when strict, the first is the error."""
    if isinstance(camera.frames, ImageFiles):
        first_error = None
        for i, path in enumerate(camera.frames.paths):
            log, line = parsed.locate(i)
            try:
                first = open_image(path, named_by=f"line {line} of {log.name}")
            except InputError as exc:
                if options.strict:
                    raise
                first_error = first_error or exc
                continue
            h, w, reference = first.height, first.width, path
            break
        else:
            raise InputError(parsed.log_path, f"nothing to import: no image decodes (the first: {first_error})")
    else:
        reference = camera.frames.paths[int(camera.frames.file_of[0])] if isinstance(camera.frames, VideoFiles) \
            else camera.frames.path
        with _open_video(reference) as container:
            stream = container.streams.video[0]
            h, w = stream.codec_context.height, stream.codec_context.width
    height, width = options.size if options.size is not None else (None, None)
    try:
        return FrameShaper(h, w, options.crop[0], options.crop[1], height, width), reference
    except InputError as exc:
        raise InputError(parsed.log_path, f"{exc} (source frames are {w}x{h})") from None


def _decode_images(files: ImageFiles, parsed: ParsedSource, shaper: FrameShaper, out: FrameFile,
                   workers: int, bar: tqdm, skips: Skips, known: set[int], reference: Path) -> set[int]:
    """Decode every frame into `out`; a frame that does not decode, or differs in size from the first,
    is written as zeros and returned among the broken (or raised, when strict). `known` are frames
    already broken in another camera: not decoded again, not counted twice."""
    expected = (shaper.source_width, shaper.source_height)

    def decode_chunk(start: int) -> tuple[np.ndarray, list[tuple[int, InputError, str]]]:
        stop = min(start + CHUNK_FRAMES, len(files.paths))
        chunk = np.zeros((stop - start, shaper.out_height, shaper.out_width, 3), dtype=np.uint8)
        bad = []
        for i in range(start, stop):
            if i in known:
                continue
            log, line = parsed.locate(i)
            try:
                image = open_image(files.paths[i], named_by=f"line {line} of {log.name}")
            except InputError as exc:
                bad.append((i, exc, "image does not decode"))
                continue
            if image.size != expected:
                bad.append((i, InputError(files.paths[i], f"image is {image.width}x{image.height}, expected "
                                                          f"{expected[0]}x{expected[1]} like the first frame "
                                                          f"({reference.name}; named on line {line} of "
                                                          f"{log.name})"), "image of another size"))
                continue
            chunk[i - start] = shaper.shape_image(image)
        return chunk, bad

    broken: set[int] = set()

    workers = workers or min(8, os.cpu_count() or 1)
    starts = iter(range(0, len(files.paths), CHUNK_FRAMES))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        # A bounded window of chunks in flight keeps memory flat; taking results in order writes frames
        # sequentially and makes the first error raised the earliest bad frame's.
        window = deque(pool.submit(decode_chunk, s) for s in islice(starts, 2 * workers))
        try:
            while window:
                chunk, bad = window.popleft().result()
                window.extend(pool.submit(decode_chunk, s) for s in islice(starts, 1))
                for i, error, reason in bad:
                    skips.add(error, reason, at=parsed.locate(i),
                              detail=f"{short_name(files.paths[i])}: {error.message}")
                    broken.add(i)
                out.write(chunk)
                bar.update(len(chunk))
        except BaseException:
            for future in window:
                future.cancel()
            raise
    return broken


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


def _decode_video(video: VideoFrames, parsed: ParsedSource, shaper: FrameShaper, out: FrameFile | VideoFrameFile,
                  bar: tqdm, first_row: int = 0) -> None:
    """Decode the frames `video.indexes` (ascending) into `out`; `first_row` is the recording frame the
    first of them becomes (for naming the log line when the video is short)."""
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
        log, line = parsed.locate(first_row + k)
        raise InputError(video.path, f"video shorter than its CSV: it has {last + 1} frames but line "
                                     f"{line} of {log.name} expects frame "
                                     f"{int(wanted[k])}", frame=int(wanted[k]))
