"""Plots for docs/benchmarks.md from the benchmark JSON files.

    BROWSER_PATH=/usr/bin/chromium python -m benchmarks.plots docs/quality.json docs/speed.json --out docs/img
    BROWSER_PATH=/usr/bin/chromium python -m benchmarks.plots --frontier docs/quality-frontier-tau*.json

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


FRONTIER_Y = [("repeated_4gram_rate", "repeated word 4-gram rate"), ("unigram_entropy", "unigram entropy (bits)")]


def frontier_figure(rows: list[dict]) -> go.Figure:
    """Gen PPL (x) against repetition and entropy (y), one column per τ: a line per penalty through
    α = 0 … 1, greedy as stars; 95 % bootstrap intervals on both axes."""
    taus = sorted({r["tau"] for r in rows})
    fig = make_subplots(rows=len(FRONTIER_Y), cols=len(taus), subplot_titles=[f"τ = {t}" for t in taus]
                        + [""] * (len(FRONTIER_Y) - 1) * len(taus), horizontal_spacing=0.08, vertical_spacing=0.1)
    penalties = list(dict.fromkeys(r["settings"].get("penalty", "off") for r in rows))
    colours = dict(zip(penalties, [OKABE_ITO[c] for c in ("blue", "vermilion", "green", "orange")]))
    for j, tau in enumerate(taus):
        for penalty, colour in colours.items():
            groups = (("SR-SMC N = 4, α = 0 → 1", [r for r in rows if r["tau"] == tau and r["N"] > 1],
                       "circle", "lines+markers+text"),
                      ("greedy", [r for r in rows if r["tau"] == tau and r["N"] == 1], "star", "markers"))
            for name, group, symbol, mode in groups:
                pts = sorted((r for r in group if r["settings"].get("penalty") == penalty),
                             key=lambda r: r["settings"].get("reward_weight", 0))
                for i, (key, label) in enumerate(FRONTIER_Y):
                    fig.add_trace(go.Scatter(
                        x=[r["gen_ppl"] for r in pts], y=[r[key] for r in pts], mode=mode,
                        name=f"{name}, repetition {penalty}", legendgroup=f"{name}{penalty}",
                        showlegend=i == 0 and j == 0, line={"color": colour},
                        marker={"color": colour, "symbol": symbol, "size": 14 if symbol == "star" else 8},
                        text=[f"α={r['settings']['reward_weight']:g}" if "reward_weight" in r["settings"] else ""
                              for r in pts], textposition="top right", textfont={"size": 10, "color": colour},
                        error_x={"type": "data", "symmetric": False, "thickness": 1,
                                 "array": [r["gen_ppl_ci"][1] - r["gen_ppl"] for r in pts],
                                 "arrayminus": [r["gen_ppl"] - r["gen_ppl_ci"][0] for r in pts]},
                        error_y={"type": "data", "symmetric": False, "thickness": 1,
                                 "array": [r[key + "_ci"][1] - r[key] for r in pts],
                                 "arrayminus": [r[key] - r[key + "_ci"][0] for r in pts]}), row=i + 1, col=j + 1)
                    fig.update_yaxes(title_text=label if j == 0 else None, row=i + 1, col=j + 1)
    fig.update_xaxes(title_text="Gen PPL conditioned on the prompt (lower: more fluent to the judge)",
                     row=len(FRONTIER_Y))
    fig.update_layout(width=1200, height=850, template="plotly_white",
                      title="The repetition frontier: what Gen PPL costs in repetition and entropy "
                            "(mean and 95 % bootstrap interval)")
    return fig


def throughput_figure(rows: list[dict]) -> go.Figure:
    fig = go.Figure(go.Scatter(x=[r["N"] for r in rows], y=[r["tokens_per_s"] for r in rows],
                               mode="lines+markers", line={"color": OKABE_ITO["green"]}))
    fig.update_layout(width=600, height=400, template="plotly_white", title="Tokens committed per second vs N",
                      xaxis={"type": "log", "title": "particles N"}, yaxis={"title": "tokens / s"})
    return fig


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("quality", type=Path, nargs="?")
    ap.add_argument("speed", type=Path, nargs="?")
    ap.add_argument("--frontier", type=Path, nargs="+", help="`benchmarks.quality --frontier` JSON files (rows joined)")
    ap.add_argument("--out", type=Path, default=Path("docs/img"))
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    figures = {"quality.png": ([args.quality], quality_figure, "rows"),
               "throughput.png": ([args.speed], throughput_figure, "throughput"),
               "frontier.png": (args.frontier or [None], frontier_figure, "rows")}
    for name, (sources, figure, key) in figures.items():
        if sources[0]:
            figure([r for source in sources for r in json.loads(source.read_text())[key]]).write_image(args.out / name)
            print(f"wrote {args.out / name}")


if __name__ == "__main__":
    main()
