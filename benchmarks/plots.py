"""Plots for docs/benchmarks.md from the benchmark JSON files.

    BROWSER_PATH=/usr/bin/chromium python -m benchmarks.plots docs/quality.json docs/speed.json --out docs/img

PNG export goes through kaleido, which drives a Chromium (BROWSER_PATH names it).
"""
import argparse
import json
from pathlib import Path

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from explorer.palette import OKABE_ITO

METRICS = [("gen_ppl", "Gen PPL (lower: more fluent to the judge)"),
           ("repeated_3gram_rate", "repeated 3-gram rate"),
           ("unigram_entropy", "unigram entropy (bits)")]


def quality_figure(rows: list[dict]) -> go.Figure:
    """Metric vs N, one panel per metric and τ; best-of-N and SR-SMC share greedy's N = 1 point."""
    taus = sorted({r["tau"] for r in rows if not r["cell"].startswith("reference")})
    fig = make_subplots(rows=len(METRICS), cols=len(taus), shared_xaxes=True,
                        subplot_titles=[f"τ = {t}" for t in taus] + [""] * (len(METRICS) - 1) * len(taus))
    for j, tau in enumerate(taus):
        cell = [r for r in rows if r["tau"] == tau and not r["cell"].startswith("reference")]
        greedy = next(r for r in cell if r["cell"] == "greedy")
        for method, colour in (("best-of", OKABE_ITO["blue"]), ("sr-smc", OKABE_ITO["vermilion"])):
            pts = [greedy] + sorted((r for r in cell if r["cell"].startswith(method)), key=lambda r: r["N"])
            for i, (key, label) in enumerate(METRICS):
                fig.add_trace(go.Scatter(
                    x=[r["N"] for r in pts], y=[r[key] for r in pts], name=method, legendgroup=method,
                    showlegend=i == 0 and j == 0, line={"color": colour}, mode="lines+markers",
                    error_y={"type": "data", "symmetric": False,
                             "array": [r[key + "_ci"][1] - r[key] for r in pts],
                             "arrayminus": [r[key] - r[key + "_ci"][0] for r in pts]}), row=i + 1, col=j + 1)
                fig.update_yaxes(title_text=label if j == 0 else None, row=i + 1, col=j + 1)
    fig.update_xaxes(type="log", tickvals=[1, 2, 4, 8], title_text="particles N", row=len(METRICS))
    fig.update_layout(width=1100, height=800, template="plotly_white",
                      title="Greedy (N = 1) vs best-of-N vs SR-SMC: mean and 95 % bootstrap interval")
    return fig


def throughput_figure(rows: list[dict]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=[r["N"] for r in rows], y=[r["tokens_per_s"] for r in rows],
                               mode="lines+markers", line={"color": OKABE_ITO["green"]}))
    fig.update_layout(width=600, height=400, template="plotly_white", title="Tokens committed per second vs N",
                      xaxis={"type": "log", "title": "particles N"}, yaxis={"title": "tokens / s"})
    return fig


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("quality", type=Path)
    ap.add_argument("speed", type=Path)
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    quality_figure(json.loads(args.quality.read_text())["rows"]).write_image(args.out / "quality.png")
    throughput_figure(json.loads(args.speed.read_text())["throughput"]).write_image(args.out / "throughput.png")
    print(f"wrote {args.out}/quality.png, {args.out}/throughput.png")


if __name__ == "__main__":
    main()
