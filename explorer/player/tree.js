// The genealogy tree: one node per particle per step, edges to the node each was drawn from. Resampling steps
// are marked; nodes are sized by normalised weight and coloured by family at the cursor step (which particle
// of that step they descend from; grey: no descendant at the end), so colour keeps meaning after the
// population collapses to one root. The focus particle's lineage (★ by default) is drawn up to the cursor.
import { CONFIG, cursorShape, families, layout, plotly } from "./charts.js";
import { CURSOR, EDGE_GREY, RESAMPLE } from "./palette.js";
import { ancestry } from "./data.js";
import { markerElements, moveShape, recolour, reline } from "./fast.js";

export class Tree {
  constructor(div, note) { this.div = div; this.note = note; }

  load(run, focus) {
    this.run = run; this.focus = focus;
    const { N, T } = run;
    const ex = [], ey = [];
    for (let s = 1; s <= T; s++) for (let k = 0; k < N; k++) ex.push(s - 1, s, null), ey.push(run.parents[s - 1][k], k, null);
    const nx = [], ny = [], size = [], custom = [];
    for (let s = 0; s <= T; s++) for (let k = 0; k < N; k++) {
      const w = run.weights[s][k];
      nx.push(s); ny.push(k); size.push(3 + 11 * Math.sqrt(w)); custom.push([w, run.roots[s][k]]);
    }
    const shapes = [cursorShape(0)];
    run.resampled.forEach((r, s) => {
      if (r) shapes.push({ type: "line", x0: s + 0.5, x1: s + 0.5, y0: 0, y1: 1, yref: "paper",
        line: { color: RESAMPLE, width: 1, dash: "dot" }, opacity: 0.45, layer: "below" });
    });
    this.path = ancestry(run, focus);
    const data = [
      { x: ex, y: ey, mode: "lines", name: "edges", hoverinfo: "skip", line: { color: EDGE_GREY, width: 1 } },
      { x: this.path.map((_, s) => s), y: this.path, mode: "lines", name: "lineage", hoverinfo: "skip", line: { color: CURSOR, width: 3 } },
      { x: nx, y: ny, mode: "markers", name: "nodes", customdata: custom,
        marker: { size, color: families(run, 0).nodes, line: { width: 0 } },
        hovertemplate: "step %{x}, particle %{y}<br>w̄ = %{customdata[0]:.3f}<br>root %{customdata[1]}<extra></extra>" },
    ];
    plotly().newPlot(this.div, data, layout(`Genealogy (${run.label}, N = ${N})`, 320,
      { title: { text: "step" }, range: [-0.5, T + 0.5] },
      { title: { text: "particle" }, range: [-0.7, N - 0.3], dtick: N <= 16 ? 1 : undefined }, { shapes }), CONFIG);
    this.note.textContent = "Genealogy: dotted lines = resampling; colour = family at the cursor step (the particle of " +
      "that step a node descends from; grey: no descendant at the end); thick black line = the focus particle's " +
      "lineage up to the cursor.";
    this.t = 0;
    this.points = null;
  }

  /** Restyle for step t; `fam` = `families(run, t)` when the caller has it already. */
  show(t, fam = null) {
    const run = this.run;
    if (t > run.T || !fam) fam = families(run, Math.min(t, run.T));
    t = Math.min(t, run.T);
    this.family = fam;
    if (!this.points || !this.points.length || !this.points[0].isConnected) this.points = markerElements(this.div, 2);
    recolour(this.div, 2, fam.nodes, this.points);
    const xs = this.path.slice(0, t + 1).map((_, s) => s);
    this.t = t;
    return [reline(this.div, 1, xs, this.path.slice(0, t + 1)), moveShape(this.div, 0, { x0: t, x1: t })];
  }
}
