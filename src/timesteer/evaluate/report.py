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

from timesteer.evaluate.plots import plot_error_histogram, plot_scatter, plot_timeline
from timesteer.evaluate.runner import EvalConfig, Evaluation, evaluate_loaded
from timesteer.evaluate.video import write_two_wheel_video
from timesteer.train.run import load_run

EMBED_VIDEO_MAX_BYTES = 40_000_000


@dataclass(kw_only=True)
class ReportConfig(EvalConfig):
    """What `timesteer eval` takes, plus where the report goes and how much video to render."""

    out: str
    video: bool = True
    video_seconds: float | None = 120.0  # longest video to render (None: the whole split)
    progress: bool = True


def report(cfg: ReportConfig) -> Path:
    from timesteer.data import Recording

    run = load_run(cfg.run, cfg.checkpoint, cfg.device)
    ev = evaluate_loaded(run, Recording.open(cfg.data), cfg.split, cfg.min_speed, str(run.model.target_mean.device))
    return write_report(ev, Path(cfg.out), video=cfg.video, video_seconds=cfg.video_seconds, progress=cfg.progress)


def write_report(ev: Evaluation, out: Path, video: bool = True, video_seconds: float | None = 120.0,
                 progress: bool = True, extra_sections: list[tuple[str, str]] | None = None) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    plots = [
        ("Steering over time", plot_timeline(ev, out / "steering_over_time.png")),
        ("Error histogram", plot_error_histogram(ev, out / "error_histogram.png")),
        ("Predicted vs human", plot_scatter(ev, out / "predicted_vs_human.png")),
    ]
    video_path = None
    if video:
        n = len(ev.indexes)
        if video_seconds is not None:
            n = min(n, max(1, int(video_seconds * ev.rec.manifest.fps)))
        t = ev.rec.timestamps_s[ev.indexes]
        video_path = write_two_wheel_video(out / "drive.mp4", ev.rec.camera_frames(None), ev.indexes[:n], t[:n],
                                           ev.true[:n], ev.pred[:n], ev.rec.manifest.fps, ev.metrics["unit"],
                                           ev.metrics["to_rad"], progress=progress)
    (out / "metrics.json").write_text(json.dumps(ev.summary(), indent=2) + "\n")
    page = render_page(ev, plots, video_path, extra_sections or [])
    (out / "index.html").write_text(page, encoding="utf-8")
    return out / "index.html"


def data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def metrics_rows(ev: Evaluation) -> list[tuple[str, str]]:
    m = ev.metrics
    unit = m["unit"]
    rows = [
        ("Model", f"{ev.run.model.name} ({ev.run.checkpoint.name}, epoch {ev.run.epoch + 1})"),
        ("Recording", f"{ev.rec.path} — {m['split']} split, {m['frames']} frames"),
        ("How the model ran", m["mode"]),
        ("RMSE", f"{m['rmse']:.4f} {unit}" + (f" ({m['rmse_rad']:.4f} rad)" if m.get("rmse_rad") is not None else "")),
        ("MAE", f"{m['mae']:.4f} {unit}"),
        ("95th percentile |error|", f"{m['p95_abs_error']:.4f} {unit}"),
        ("Smoothness (RMS change per frame)", f"model {m['smoothness_pred']:.4f}, human {m['smoothness_true']:.4f}"),
        ("Bias (mean model - human)", f"{m['bias']:+.4f} {unit}"),
    ]
    for name, b in m["rmse_by_magnitude"].items():
        rows.append((f"RMSE on {name} steering", f"{b['rmse']:.4f} ({b['frames']} frames)" if b["rmse"] is not None
                     else f"no frames ({b['frames']})"))
    if m["min_speed"] is not None:
        rows.append(("Frames below min speed (dropped)", str(m["frames_dropped_by_speed"])))
    return rows


def render_page(ev: Evaluation, plots: list[tuple[str, Path]], video: Path | None,
                extra_sections: list[tuple[str, str]]) -> str:
    esc = html.escape
    table = "\n".join(f"<tr><th>{esc(k)}</th><td>{esc(v)}</td></tr>" for k, v in metrics_rows(ev))
    figures = "\n".join(
        f'<figure><img alt="{esc(title)}" src="{data_uri(p, "image/png")}"><figcaption>{esc(title)}</figcaption>'
        f"</figure>" for title, p in plots)
    video_html = ""
    if video is not None:
        src = data_uri(video, "video/mp4") if video.stat().st_size <= EMBED_VIDEO_MAX_BYTES else video.name
        video_html = (f'<h2>The drive, two steering wheels</h2><p>Green: the human. Orange: the model, running '
                      f'frame by frame with its state carried. The strip chart shows the last seconds.</p>'
                      f'<video id="drive" controls muted loop playsinline preload="auto" width="640">'
                      f'<source src="{src}" type="video/mp4">Your browser cannot play H.264 video; open '
                      f'{esc(video.name)} beside this page.</video>')
    extra = "\n".join(f"<h2>{esc(title)}</h2>\n{body}" for title, body in extra_sections)
    segments = ""
    if len(ev.metrics["per_segment"]) > 1:
        seg_rows = "\n".join(f"<tr><td>{s['segment']}</td><td>{s['frames']}</td><td>{s['rmse']:.4f}</td>"
                             f"<td>{s['smoothness_pred']:.4f}</td><td>{s['smoothness_true']:.4f}</td></tr>"
                             for s in ev.metrics["per_segment"])
        segments = ("<h2>Per segment</h2><table><tr><th>segment</th><th>frames</th><th>RMSE</th>"
                    f"<th>smoothness model</th><th>smoothness human</th></tr>{seg_rows}</table>")
    return PAGE.format(title=esc(f"timesteer report: {ev.run.model.name}"), table=table, figures=figures,
                       video=video_html, segments=segments, extra=extra, json=esc(json.dumps(ev.summary())))


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
<li><b>By magnitude</b>: errors on straight road, gentle and sharp bends separately; sharp bends are rare and
usually the hardest.</li>
<li>Open-loop figures are not driving: a small error here does not prove the model can keep a car on the road.
Closed-loop tests (<code>timesteer drive</code>) do.</li></ul></details>
{segments}
<h2>Plots</h2>
<div id="plots">
{figures}
</div>
{video}
{extra}
<details><summary>All figures as JSON</summary><pre>{json}</pre></details>
<script>
// Marks for a quick check that everything rendered: images decoded, video metadata read.
window.addEventListener("load", () => {{
  const imgs = [...document.images];
  document.body.dataset.imagesLoaded = imgs.filter(i => i.complete && i.naturalWidth > 0).length + "/" + imgs.length;
}});
const v = document.getElementById("drive");
if (v) {{
  v.addEventListener("loadedmetadata", () => {{ document.body.dataset.videoDuration = v.duration.toFixed(2); }});
  v.addEventListener("error", () => {{ document.body.dataset.videoError = "1"; }}, true);
}}
</script>
</body>
</html>
"""
