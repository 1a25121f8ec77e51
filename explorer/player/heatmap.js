// Position × step heatmap of one final particle: the step each generated position of its answer was committed
// at (by it or an ancestor), coloured by confidence. Rows above the cursor are shaded: at step t the particle's
// ancestor holds exactly the cells at or below the cursor line.
import { CONFIG, clickToSeek, cursorShape, layout, plotly } from "./charts.js";
import { moveShape } from "./fast.js";
import { VIRIDIS_SCALE } from "./palette.js";

export class Heatmap {
  constructor(div, onSeek = () => {}) { this.div = div; this.onSeek = onSeek; }

  load(run, particle) {
    this.run = run;
    const { T, G } = run, o = (T * run.N + particle) * G;
    const z = Array.from({ length: T }, () => new Array(G).fill(null));
    for (let g = 0; g < G; g++) {
      const s = run.commit[o + g];
      if (s > 0) z[s - 1][g] = Math.exp(run.logc[o + g]);
    }
    const who = run.final && particle === run.chosen ? "★" : `particle ${particle}`;
    const shade = { type: "rect", xref: "paper", x0: 0, x1: 1, y0: 0.5, y1: T + 0.5, fillcolor: "rgba(255,255,255,0.75)",
      line: { width: 0 }, name: "future" };
    plotly().react(this.div, [{ type: "heatmap", z, x: [...Array(G).keys()], y: Array.from({ length: T }, (_, i) => i + 1),
      zmin: 0, zmax: 1, colorscale: VIRIDIS_SCALE, colorbar: { title: { text: "p" }, thickness: 10 }, name: "commits",
      hovertemplate: "position %{x}, step %{y}<br>p = %{z:.2f}<extra></extra>" }],
    layout(`When ${who}'s tokens were committed (colour: p)`, 300,
      { title: { text: "generated position" } }, { title: { text: "step" }, range: [0.5, Math.max(T, 1) + 0.5] },
      { shapes: [cursorShape(0, "y"), shade] }), CONFIG);
    clickToSeek(this.div, this.onSeek, "y");
  }

  show(t) {
    const T = this.run.T;
    t = Math.min(t, T);
    return [moveShape(this.div, 0, { y0: t, y1: t }), moveShape(this.div, 1, { y0: t + 0.5, y1: T + 0.5 })];
  }
}
