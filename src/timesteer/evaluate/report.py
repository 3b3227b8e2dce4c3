"""`timesteer report`: plots, the two-wheel video and one self-contained `index.html` that opens from disk.

The page embeds its plots (and the video, when it is small enough) as data URIs, so it needs no
server and no network; the same files also sit beside it for anyone who wants them.
"""

from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from timesteer.config import Seconds
from timesteer.evaluate.metrics import figure
from timesteer.evaluate.plots import plot_error_histogram, plot_scatter, plot_timeline
from timesteer.evaluate.runner import (
    SPEED_ASSUMED,
    EvalConfig,
    Evaluation,
    EvaluationSet,
    evaluate_set,
    open_recordings,
)
from timesteer.evaluate.video import write_two_wheel_video
from timesteer.files import fresh_directory, write_json, write_text
from timesteer.train.run import load_run

EMBED_VIDEO_MAX_BYTES = 40_000_000


REPORT_MARKER = ".timesteer-report"


@dataclass(kw_only=True)
class ReportConfig(EvalConfig):
    """What `timesteer eval` takes, plus where the report goes and how much video to render."""

    out: str
    video: bool = True
    video_seconds: Annotated[float | None, Seconds] = 120.0  # longest video per recording (None: all of it)
    explain: bool = True  # the section "How far back it looks, and where" (on the first recording)
    progress: bool = True


def report(cfg: ReportConfig) -> Path:
    run = load_run(cfg.run, cfg.checkpoint, cfg.device)
    evs = evaluate_set(run, open_recordings(cfg.data_list), cfg.split, cfg.min_speed, str(run.model.target_mean.device))
    return write_report(evs, Path(cfg.out), video=cfg.video, video_seconds=cfg.video_seconds, progress=cfg.progress,
                        explain=cfg.explain)


@dataclass
class PartSection:
    title: str
    evaluation: Evaluation
    plots: list[tuple[str, Path]]
    video: Path | None


def write_report(ev: Evaluation | EvaluationSet, out: Path, video: bool = True, video_seconds: float | None = 120.0,
                 progress: bool = True, extra_sections: list[tuple[str, str]] | None = None,
                 explain: bool = False) -> Path:
    """Write the report directory `out` (built aside and put in place whole; an existing directory is
    replaced only if it is a timesteer report). Returns the path of its index.html."""
    evs = ev if isinstance(ev, EvaluationSet) else EvaluationSet(ev.run, [ev], ev.metrics)
    inputs = (evs.run.path, evs.run.checkpoint, *(part.rec.path for part in evs.parts))
    with fresh_directory(out, REPORT_MARKER, "report", inputs=inputs) as tmp:
        sections = []
        for k, part in enumerate(evs.parts):
            prefix = "" if len(evs.parts) == 1 else f"{k + 1}-"
            plots = [
                ("Steering over time", plot_timeline(part, tmp / f"{prefix}steering_over_time.png")),
                ("Error histogram", plot_error_histogram(part, tmp / f"{prefix}error_histogram.png")),
                ("Predicted vs human", plot_scatter(part, tmp / f"{prefix}predicted_vs_human.png")),
            ]
            video_path = None
            if video:
                n = len(part.indexes)
                if video_seconds is not None:
                    n = min(n, max(1, int(video_seconds * part.rec.manifest.fps)))
                t = part.rec.timestamps_s[part.indexes]
                video_path = write_two_wheel_video(tmp / f"{prefix}drive.mp4", part.rec.camera_frames(None),
                                                   part.indexes[:n], t[:n], part.true[:n], part.pred[:n],
                                                   part.rec.manifest.fps, part.metrics["unit"],
                                                   part.metrics["to_rad"], progress=progress)
            sections.append(PartSection(str(part.rec.path), part, plots, video_path))
        extra = list(extra_sections or [])
        if explain:
            extra.insert(0, ("How far back it looks, and where", _through_time_section(evs.parts[0], tmp, progress)))
        write_json(tmp / "metrics.json", evs.summary())
        write_text(tmp / "index.html", render_page(evs, sections, extra))
    return out / "index.html"


def _through_time_section(part: Evaluation, out: Path, progress: bool) -> str:
    """The explain figures for one recording, each with a sentence on how to read it."""
    from timesteer.evaluate.explain import analyse
    from timesteer.evaluate.shortcut import format_shortcut

    folder = out / "through_time"
    folder.mkdir()
    s = analyse(part.run, part.rec, folder, part.metrics["split"], progress=progress)
    fig = s["figures"]

    def img(name: str, alt: str) -> str:
        return f'<figure><img alt="{html.escape(alt)}" src="{data_uri(folder / name, "image/png")}"></figure>'

    parts = [f"<p>Recorded on {html.escape(str(part.rec.path))} ({s['frames']} frames). <b>Memory horizon: "
             f"{s['memory_horizon_s']:.2f} s</b> ({s['memory_horizon_frames']} frames).</p>",
             img(fig["influence"], "how far back it looks"),
             "<p><b>How far back it looks.</b> Each point is how much the steering at a moment changes, on average "
             "over the drive, when the frame seen k seconds earlier is replaced: by the frame before it (which "
             "removes the motion it showed) or by the drive's average frame (which removes everything). A "
             "single-frame model moves only at k = 0; a model that uses time keeps moving for a few frames. The "
             "memory horizon is where the curve stays under 10% of its peak.</p>",
             f"<p><b>Road or own motion?</b> {html.escape(format_shortcut(s['shortcut']))}. Frozen: each frame held "
             "still, so there is no motion; 2x: every other frame, as if the car drove twice as fast; 0.5x: every "
             "frame twice. A model that steers by the road keeps its error and a gain near 1; one that reads its own "
             "motion (what the wheels just did) steers about twice as hard at 2x and loses its answer when frozen, "
             "and will break when the speed, frame rate or latency differ from training.</p>"]
    if "gates" in fig:
        parts += [img(fig["gates"], "gate activity"),
                  f"<p><b>What the gates do.</b> Under the steering, the mean {html.escape(s['gate']['kind'])} of the "
                  "recurrence along the drive: near 1 the memory is kept, near 0 it is rewritten by what the camera "
                  "sees now. Watch what it does when a bend starts or ends.</p>"]
    if "gradient_through_time" in fig:
        parts += [img(fig["gradient_through_time"], "gradient through time"),
                  "<p><b>How far the training gradient reaches back</b> (measured with --grad-through-time): the "
                  "size of dL<sub>t</sub>/dh<sub>t-k</sub> relative to k = 0, on a log scale. A plain RNN's falls "
                  "off fast (vanishing gradients: it cannot learn from what happened many frames ago); gated "
                  "recurrences (GRU, LSTM) keep it.</p>"]
    if "visualbackprop" not in fig:
        parts.append(f"<p><b>Where it looks.</b> Nowhere: {html.escape(s['visualbackprop'])}.</p>")
        return "\n".join(parts)
    src = folder / fig["visualbackprop"]
    parts += [f'<video class="vbp" controls muted loop playsinline width="600">'
              f'<source src="{data_uri(src, "video/mp4")}" type="video/mp4"></video>',
              "<p><b>Where it looks.</b> VisualBackProp (Bojarski et al., NVIDIA 2016): orange marks the pixels whose "
              "features survive through every convolution layer, the parts of the picture the steering is computed "
              "from. A good driver looks at the road's edges and lines, not at the sky.</p>"]
    return "\n".join(parts)


def data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"




def metrics_rows(run_name: str, m: dict[str, Any], data: str, epoch: str) -> list[tuple[str, str]]:
    unit = m["unit"]
    rows = [
        ("Model", f"{run_name} ({epoch})"),
        ("Recording", f"{data} — {m['split']} split, {m['frames']} frames"),
        ("How the model ran", m["mode"]),
        *([("Speed", SPEED_ASSUMED)] if m.get("speed_assumed") else []),
        ("RMSE", f"{m['rmse']:.4f} {unit}" + (f" ({m['rmse_rad']:.4f} rad)" if m.get("rmse_rad") is not None else "")),
        ("MAE", f"{m['mae']:.4f} {unit}"),
        ("95th percentile |error|", f"{m['p95_abs_error']:.4f} {unit}"),
        ("Smoothness (RMS change per frame)",
         f"model {figure(m['smoothness_pred'])}, human {figure(m['smoothness_true'])}"),
        ("Bias (mean model - human)", f"{m['bias']:+.4f} {unit}"),
    ]
    f = m["floors"]
    rows += [("Floors (RMSE of answers that need no model)",
              f"zero {figure(f['zero_rmse'])}, training mean {figure(f['mean_rmse'])}, copycat (the human's previous "
              f"label) {figure(f['copycat_rmse'])}"),
             ("RMSE on keyframes", f"model {figure(f['keyframes']['rmse'])}, "
                                   f"zero {figure(f['keyframes']['zero_rmse'])}, "
                                   f"copycat {figure(f['keyframes']['copycat_rmse'])} ({f['keyframes']['frames']} "
                                   f"frames: {f['keyframes']['how']})")]
    for name, b in m["rmse_by_magnitude"].items():
        rows.append((f"RMSE on {name} steering", f"{b['rmse']:.4f} ({b['frames']} frames)" if b["rmse"] is not None
                     else f"no frames ({b['frames']})"))
    if m["min_speed"] is not None:
        rows.append(("Frames below min speed (dropped)", str(m["frames_dropped_by_speed"])))
    return rows


def _part_html(section: PartSection, heading: bool) -> str:
    esc = html.escape
    ev = section.evaluation
    figures = "\n".join(
        f'<figure><img alt="{esc(title)}" src="{data_uri(p, "image/png")}"><figcaption>{esc(title)}</figcaption>'
        f"</figure>" for title, p in section.plots)
    video_html = ""
    if section.video is not None:
        video = section.video
        src = data_uri(video, "video/mp4") if video.stat().st_size <= EMBED_VIDEO_MAX_BYTES else video.name
        video_html = (f'<h3>The drive, two steering wheels</h3><p>Green: the human. Orange: the model, running '
                      f'frame by frame with its state carried. The strip chart shows the last seconds.</p>'
                      f'<video class="drive" controls muted loop playsinline preload="auto" width="640">'
                      f'<source src="{src}" type="video/mp4">Your browser cannot play H.264 video; open '
                      f'{esc(video.name)} beside this page.</video>')
    segments = ""
    if len(ev.metrics["per_segment"]) > 1:
        seg_rows = "\n".join(f"<tr><td>{s['segment']}</td><td>{s['frames']}</td><td>{s['rmse']:.4f}</td>"
                             f"<td>{figure(s['smoothness_pred'])}</td><td>{figure(s['smoothness_true'])}</td></tr>"
                             for s in ev.metrics["per_segment"])
        segments = ("<h3>Per segment</h3><table><tr><th>segment</th><th>frames</th><th>RMSE</th>"
                    f"<th>smoothness model</th><th>smoothness human</th></tr>{seg_rows}</table>")
    title = f"<h2>{esc(section.title)}</h2>" if heading else ""
    return f'{title}{segments}<h3>Plots</h3><div class="plots">{figures}</div>{video_html}'


def render_page(evs: EvaluationSet, sections: list[PartSection], extra_sections: list[tuple[str, str]]) -> str:
    esc = html.escape
    run = evs.run
    several = len(sections) > 1
    data = str(sections[0].evaluation.rec.path) if not several else f"{len(sections)} recordings (total)"
    rows = metrics_rows(run.model.name, evs.metrics, data, f"{run.checkpoint.name}, epoch {run.epoch + 1}")
    table = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in rows)
    per_recording = ""
    if several:
        body = "\n".join(f"<tr><td>{esc(str(s.evaluation.rec.path))}</td><td>{s.evaluation.metrics['frames']}</td>"
                         f"<td>{s.evaluation.metrics['rmse']:.4f}</td><td>{s.evaluation.metrics['mae']:.4f}</td></tr>"
                         for s in sections)
        per_recording = (f'<h2>Per recording</h2><table id="recordings"><tr><th>recording</th><th>frames</th>'
                         f'<th>RMSE</th><th>MAE</th></tr>{body}<tr><th>total (frame-weighted)</th>'
                         f'<th>{evs.metrics["frames"]}</th><th>{evs.metrics["rmse"]:.4f}</th>'
                         f'<th>{evs.metrics["mae"]:.4f}</th></tr></table>')
    parts = "\n".join(_part_html(s, several) for s in sections)
    extra = "\n".join(f"<h2>{esc(title)}</h2>\n{body}" for title, body in extra_sections)
    return PAGE.format(title=esc(f"timesteer report: {run.model.name}"), table=table, per_recording=per_recording,
                       parts=parts, extra=extra, json=esc(json.dumps(evs.summary())))


PAGE = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }}
table {{ border-collapse: collapse; margin: 1em 0; }}
th, td {{ text-align: left; padding: 4px 12px; border-bottom: 1px solid #ddd; vertical-align: top; }}
figure {{ display: inline-block; margin: 0.5em; }}
img {{ max-width: 100%; border: 1px solid #eee; }}
figcaption {{ color: #555; font-size: 0.9em; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>How the model steered on recorded driving it was not trained on, compared with the human (or expert)
who drove. The model saw the frames one after another, in time order, with its memory carried from frame to
frame, exactly as it would while driving; only what the car's camera saw is used, never the human's steering.</p>
<h2>Metrics</h2>
<table id="metrics">
{table}
</table>
<details><summary>What these figures mean</summary><ul>
<li><b>RMSE</b> (root mean squared error) and <b>MAE</b> (mean absolute error): how far the model's steering is
from the human's, on average; lower is better. Big misses weigh more in RMSE. The unit is the recording's
(radians of road-wheel angle when it says rad).</li>
<li><b>95th percentile |error|</b>: 95% of frames are closer than this.</li>
<li><b>Smoothness</b>: the typical change of steering from one frame to the next. A model much jerkier than the
human would make an uncomfortable ride; one much smoother may be lagging behind.</li>
<li><b>Bias</b>: a model that always steers a little to one side shows it here.</li>
<li><b>Floors</b>: what answers that need no model score on the same frames. The copycat repeats the human's
previous label: a model that uses time can get close to it by reading its own recent motion from the pictures
(what the wheels just did) instead of the road ahead, and such a model breaks when speed, frame rate or
disturbances change. <b>Keyframes</b>, the frames where the human's steering changed most, tell the two apart:
there the copycat is late, and a model that reads the road is not.</li>
<li><b>By magnitude</b>: errors on straight road, gentle and sharp bends separately; sharp bends are rare and
usually the hardest.</li>
<li>Open-loop figures are not driving: a small error here does not prove the model can keep a car on the road.
Closed-loop tests (<code>timesteer drive</code>) do.</li></ul></details>
{per_recording}
{parts}
{extra}
<details><summary>All figures as JSON</summary><pre>{json}</pre></details>
<script>
// Marks for a quick check that everything rendered: images decoded, video metadata read.
window.addEventListener("load", () => {{
  const imgs = [...document.images];
  document.body.dataset.imagesLoaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length + "/" + imgs.length;
}});
const v = document.querySelector("video.drive");
if (v) {{
  v.addEventListener("loadedmetadata", () => {{ document.body.dataset.videoDuration = v.duration.toFixed(2); }});
  v.addEventListener("error", () => {{ document.body.dataset.videoError = "1"; }}, true);
}}
</script>
</body>
</html>
"""
