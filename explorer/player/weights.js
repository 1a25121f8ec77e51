// Weight bars: each particle's normalised weight w̄ at the cursor step, labelled with the step's log-weight
// increment Δ (always ≤ 0: a sum of log-confidences). Colour = family in the tree (grey: no descendant at
// the end); ★'s ancestor outlined. Plain HTML bars: a step change sets N heights, labels and colours.
import { ancestry } from "./data.js";
import { el, fmt } from "./dom.js";

export class Weights {
  constructor(div, caption) { this.div = div; this.caption = caption; }

  load(run, focus) {
    this.run = run; this.path = ancestry(run, focus);
    this.bars = []; this.deltas = []; this.cols = [];
    const cols = [...Array(run.N).keys()].map((k) => {
      const bar = el("div", { class: "srp-wbar" }), delta = el("div", { class: "srp-wdelta" });
      const col = el("div", { class: "srp-wcol", "data-particle": k }, [el("div", { class: "srp-wtrack" }, [delta, bar]),
        el("div", { class: "srp-wlabel" }, String(k))]);
      this.bars.push(bar); this.deltas.push(delta); this.cols.push(col);
      return col;
    });
    this.div.replaceChildren(el("div", { class: "srp-waxis" }, ["1", "0.5", "0"].map((v) => el("span", {}, v))),
      el("div", { class: "srp-wplot" }, cols));
  }

  show(t, colours) {
    const run = this.run;
    t = Math.min(t, run.T);
    const w = run.weights[t], inc = run.increment[t], lw = run.logw[t], star = this.path[t];
    const note = run.resampled[t] ? " → resampled after this step" : t === run.T ? " (last step: no resampling)" : "";
    this.caption.textContent = `Step ${t}: normalised weights w̄ (bars) and this step's Δ log w (labels; always ≤ 0)${note}`;
    for (let k = 0; k < run.N; k++) {
      const bar = this.bars[k];
      bar.style.height = `${(100 * w[k]).toFixed(2)}%`;
      bar.style.backgroundColor = colours[k];
      this.deltas[k].textContent = !t ? "" : run.N > 8 ? fmt(inc[k], 1) : `Δ ${fmt(inc[k], 2)}`;
      this.cols[k].classList.toggle("srp-star", k === star);
      this.cols[k].title = `particle ${k}: w̄ = ${fmt(w[k], 3)}, Δ log w = ${fmt(inc[k], 3)}, log w = ${fmt(lw[k], 3)}, ` +
        `root ${run.roots[t][k]}`;
    }
  }
}
