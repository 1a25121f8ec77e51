// Compare runs of one kind side by side (the payload's "compare", see explorer/compare.py): each run's ★ line at
// the cursor with the tokens that differ from the other runs' marked, and the ESS and repetition curves overlaid.
// The player's one cursor drives it: step t of the first run is step t of every run ("by step", clamped to its
// length) or the same fraction of every run ("by fraction of the run"). The steps all runs share are shown once:
// one box of text and, on the chart, one curve up to the shared step.
import { ancestry, buildRun } from "./data.js";
import { repetition } from "./repeat.js";
import { display } from "./canvas.js";
import { CONFIG, cursorShape, layout, plotly } from "./charts.js";
import { OKABE_ITO } from "./palette.js";
import { el, setChildren } from "./dom.js";

export class Compare {
  constructor(root) {
    this.root = root;
    this.mode = el("select", { id: "srp-cmp-mode", "aria-label": "how the cursor maps onto runs of different length" },
      [el("option", { value: "step", selected: true }, "by step"),
        el("option", { value: "fraction" }, "by fraction of the run")]);
    this.mode.addEventListener("change", () => this.show(this.t, this.T0));
    this.runs = [];
    root.hidden = true;
  }

  /** Build the runs of `cmp` (or hide the view when null). */
  load(cmp) {
    this.cmp = cmp;
    this.runs = cmp ? cmp.runs.map(buildRun) : [];
    this.root.hidden = !cmp;
    if (!cmp) { this.root.replaceChildren(); return; }
    this.lines = this.runs.map((r) => ancestry(r, r.final ? r.chosen : 0));
    const reps = this.runs.map((r) => repetition(r));
    this.shared = el("p", { class: "srp-text srp-cmp-shared", id: "srp-cmp-shared" });
    this.cols = this.runs.map((r, i) => el("div", { class: "srp-answer-col srp-cmp-col", "data-run": i }, [
      el("h4", {}, `${i + 1}. ${cmp.names[i]}`), el("p", { class: "srp-text" })]));
    this.chart = el("div", { class: "srp-chart", id: "srp-cmp-chart" });
    const differ = cmp.differ.length ? cmp.differ.join(", ") : "no setting (same settings)";
    setChildren(this.root, [el("h3", {}, `Compare ${this.runs.length} runs: they differ in ${differ}`),
      el("div", { class: "srp-canvasbar" }, [el("label", {}, ["cursor ", this.mode])]),
      el("p", { class: "srp-hint" }, `Steps 0–${cmp.shared} are shared by all runs` +
        (cmp.branch ? ` (run ${cmp.branch.run + 1} branched from run ${cmp.branch.parent + 1} after step ` +
          `${cmp.branch.step})` : "") +
        ": run 1's ★ line at the cursor (or at the last shared step) is shown once here; below each run's ★ line " +
        "(the particles are the same up to the shared step, but each run's ★ may descend from another one) with " +
        "the tokens that differ from the other runs' at the same position marked (_ = still masked)."),
      this.shared, el("div", { class: "srp-answer-cols" }, this.cols), this.chart]);
    this.plot(reps);
  }

  /** ESS (left axis) and the ★ line's repeated n-gram share (right axis) of every run; the shared prefix once. */
  plot(reps) {
    const data = [], S = this.cmp.shared;
    this.runs.forEach((r, i) => {
      const from = i === 0 ? 1 : Math.max(S, 1), steps = [];
      for (let s = from; s <= r.T; s++) steps.push(s);
      const colour = OKABE_ITO[i % OKABE_ITO.length], name = this.cmp.names[i];
      data.push({ x: steps, y: steps.map((s) => r.ess[s]), mode: "lines", name: `ESS ${i + 1}`, line: { color: colour },
        hovertemplate: `${name}, step %{x}: ESS %{y:.2f}<extra></extra>` });
      data.push({ x: steps, y: steps.map((s) => reps[i].rate[s][this.lines[i][s]]), mode: "lines", yaxis: "y2",
        name: `★'s repeats ${i + 1}`, line: { color: colour, dash: "dash", width: 1.5 },
        hovertemplate: `${name}, step %{x}: %{y:.1%} of ★'s ${reps[i].n}-grams repeat<extra></extra>` });
    });
    const T = Math.max(...this.runs.map((r) => r.T));
    const lay = layout("ESS (solid), ★'s repeats (dashed)", 300, { title: { text: "step" }, range: [0, T] },
      { title: { text: "ESS" }, rangemode: "tozero" }, { showlegend: true, legend: { orientation: "h", y: -0.3 },
        yaxis2: { overlaying: "y", side: "right", range: [0, 1], tickformat: ".0%", showgrid: false },
        shapes: [cursorShape(0), { type: "rect", x0: 0, x1: S, y0: 0, y1: 1, yref: "paper", fillcolor: "#888",
          opacity: 0.1, line: { width: 0 }, name: "shared" }], margin: { l: 50, r: 50, t: 36, b: 90 } });
    plotly().react(this.chart, data, lay, CONFIG);
  }

  /** Run i's step for step t of the first run (T0 steps). */
  stepOf(i, t, T0) {
    const T = this.runs[i].T;
    return this.mode.value === "fraction" ? Math.round((t / Math.max(T0, 1)) * T) : Math.min(t, T);
  }

  /** Tokens [G] of run i's ★ line at frame s (masked: "_"). */
  words(i, s) {
    const r = this.runs[i], o = (s * r.N + this.lines[i][s]) * r.G, out = [];
    for (let g = 0; g < r.G; g++) out.push(r.commit[o + g] >= 0 ? display(r.word(r.tokens[o + g])) : "_");
    return out;
  }

  /** Draw every run at the cursor: step t of the first run, which has T0 steps. */
  show(t, T0) {
    if (!this.runs.length) return;
    this.t = t; this.T0 = T0;
    const steps = this.runs.map((_, i) => this.stepOf(i, t, T0));
    const texts = steps.map((s, i) => this.words(i, s));
    const S = this.cmp.shared;
    this.shared.textContent = `shared, step ${Math.min(t, S)}: ` + this.words(0, Math.min(t, S)).join(" ");
    this.cols.forEach((col, i) => {
      const parts = texts[i].map((w, g) => texts.some((o, j) => j !== i && o[g] !== w)
        ? el("mark", { title: "differs from another run here" }, w) : w + " ");
      col.dataset.step = steps[i];
      col.querySelector("h4").textContent = `${i + 1}. ${this.cmp.names[i]} · step ${steps[i]} / ${this.runs[i].T}`;
      setChildren(col.querySelector("p"), parts.flatMap((p) => (typeof p === "string" ? [p] : [p, " "])));
    });
    this.root.dataset.steps = steps.join(",");
    plotly().relayout(this.chart, { "shapes[0].x0": steps[0], "shapes[0].x1": steps[0] });
  }
}
