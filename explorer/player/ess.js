// The effective sample size per step with the κ·N line and resampling markers; beside it (right axis) the
// population's repetition: the mean share of each particle's n-grams that already occurred in it.
import { CONFIG, clickToSeek, cursorShape, layout, plotly } from "./charts.js";
import { moveShape } from "./fast.js";
import { ESS_BLUE, REPEAT, RESAMPLE, THRESHOLD } from "./palette.js";

export class Ess {
  constructor(div, note, onSeek = () => {}) { this.div = div; this.note = note; this.onSeek = onSeek; }

  load(run, reps) {
    const { N, T } = run, cut = run.kappa * N;
    const steps = Array.from({ length: T }, (_, i) => i + 1);
    const events = steps.filter((s) => run.resampled[s]);
    const data = [
      { x: steps, y: run.ess.slice(1), mode: "lines", name: "ESS", line: { color: ESS_BLUE },
        hovertemplate: "step %{x}: ESS %{y:.2f}<extra></extra>" },
      { x: [0, T + 0.5], y: [cut, cut], mode: "lines", name: `κ·N = ${cut}`,
        line: { color: THRESHOLD, dash: "dot" }, hoverinfo: "skip" },
      { x: events, y: events.map((s) => run.ess[s]), mode: "markers", name: "resampled",
        marker: { symbol: "x", size: 9, color: RESAMPLE },
        hovertemplate: `step %{x}: ESS %{y:.2f} < κ·N = ${cut} → resampled<extra></extra>` },
    ];
    if (reps) {
      const mean = reps.rate.map((r) => r.reduce((a, b) => a + b, 0) / r.length);
      data.push({ x: steps, y: mean.slice(1), mode: "lines", name: `repeated ${reps.n}-grams`,
        yaxis: "y2", line: { color: REPEAT, width: 1.5, dash: "dash" },
        hovertemplate: `step %{x}: %{y:.1%} of ${reps.n}-grams repeat earlier ones (particle mean)<extra></extra>` });
    }
    const extra = { shapes: [cursorShape(0)], showlegend: true,
      // two columns at any width: two rows that stay clear of the x axis title
      legend: { orientation: "h", y: -0.28, x: 0, entrywidth: 0.5, entrywidthmode: "fraction", font: { size: 10 } },
      margin: { l: 50, r: 50, t: 36, b: 70 } };
    if (reps) extra.yaxis2 = { overlaying: "y", side: "right", range: [0, 1], tickformat: ".0%", showgrid: false,
      title: { text: "repeats", font: { color: REPEAT } }, tickfont: { color: REPEAT } };
    plotly().newPlot(this.div, data, layout(`ESS (${run.label}): resample below κ·N`, 300,
      { title: { text: "step" }, range: [0, Math.max(T, 1) + 0.5] }, { title: { text: "ESS" }, range: [0, N * 1.08] }, extra),
    CONFIG);
    clickToSeek(this.div, this.onSeek);
    this.note.textContent = `ESS of each step before its resampling. The last step (${T}) never resamples: the ` +
      "answer is picked from the population as it stands, so resampling there could only drop particles. " +
      (events.length ? `Resampled after ${events.length} of ${T} steps.` : "No step fell below κ·N.") +
      (reps ? ` Right axis: the particles' mean share of ${reps.n}-grams that repeat an earlier one.` : "") +
      " Click a point to go to its step.";
    this.run = run;
  }

  show(t) {
    t = Math.min(t, this.run.T);
    return moveShape(this.div, 0, { x0: t, x1: t });
  }
}
