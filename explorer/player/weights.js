// Weight bars: each particle's normalised weight w̄ at the cursor step (before its resampling), labelled with the
// step's log-weight increment Δ (always ≤ 0: a sum of log-confidences). Colour = family in the tree (grey: no
// descendant at the end); the focus particle's line outlined. At a resampling step a strip under the bars shows
// the population after it: every row restarts at w̄ = 1/N as a copy of the particle named (and coloured) there,
// and each bar says how many copies its particle got (×c). Labels thin out when columns get narrow.
// Plain HTML bars: a step change sets N heights, labels and colours.
import { ancestry } from "./data.js";
import { el, fmt } from "./dom.js";
import { inkOn } from "./palette.js";

const LABEL_PX = 18, DELTA_PX = 26;
const INK = new Map();
const ink = (c) => { let v = INK.get(c); if (v === undefined) INK.set(c, (v = inkOn(c))); return v; };  // the narrowest column that shows every index label / the Δ labels

export class Weights {
  constructor(div, caption) {
    this.div = div; this.caption = caption;
    this.resize = new ResizeObserver(() => this.thin());
    this.resize.observe(div);
  }

  load(run, focus) {
    this.run = run; this.setFocus(focus);
    this.bars = []; this.deltas = []; this.cols = []; this.copies = []; this.after = [];
    const cols = [...Array(run.N).keys()].map((k) => {
      const bar = el("div", { class: "srp-wbar" }), delta = el("div", { class: "srp-wdelta" });
      const copies = el("div", { class: "srp-wcopies" }), after = el("div", { class: "srp-wafter" });
      const col = el("div", { class: "srp-wcol", "data-particle": k }, [copies,
        el("div", { class: "srp-wtrack" }, [delta, bar]), el("div", { class: "srp-wlabel" }, String(k)), after]);
      this.bars.push(bar); this.deltas.push(delta); this.cols.push(col); this.copies.push(copies); this.after.push(after);
      return col;
    });
    this.plot = el("div", { class: "srp-wplot" }, cols);
    this.ticks = ["1", "0.5", "0"].map((v) => el("span", {}, v));
    this.div.replaceChildren(el("div", { class: "srp-waxis" }, this.ticks), this.plot);
    this.thinned = new Uint8Array(run.N);
    this.width = -1; this.t = undefined;  // the next show() draws: nothing of the previous run is redrawn
    this.thin();
  }

  setFocus(focus) { this.path = ancestry(this.run, focus); }

  /** Show every m-th index label (m from the column width), and Δ labels only where they fit. */
  thin() {
    if (!this.plot || this.plot.clientWidth === this.width) return;
    this.width = this.plot.clientWidth;
    const col = this.width / Math.max(this.run.N, 1), every = [1, 2, 4, 5, 8, 10, 16, 20, 32].find((m) => m * col >= LABEL_PX) || 64;
    this.plot.classList.toggle("srp-nodelta", col < DELTA_PX);
    this.cols.forEach((c, k) => { this.thinned[k] = k % every !== 0; c.classList.toggle("srp-thin", Boolean(this.thinned[k])); });
    if (this.t !== undefined) this.show(this.t, this.colours);
  }

  show(t, colours) {
    const run = this.run, N = run.N;
    t = Math.min(t, run.T);
    this.t = t; this.colours = colours;
    const w = run.weights[t], inc = run.increment[t], lw = run.logw[t], star = this.path[t];
    const resampled = run.resampled[t] && t < run.T, a = resampled ? run.parents[t] : null;
    const count = new Int16Array(N);
    if (a) for (let k = 0; k < N; k++) count[a[k]]++;
    this.caption.textContent = `Step ${t}: normalised weights w̄ (bars; the axis runs to a round value above the largest) and this step's Δ log w (labels; always ≤ 0)` +
      (resampled ? ". Resampled after this step: ×c = copies each particle got; the strip below = after resampling, " +
        "each row a copy of the particle named, all at w̄ = 1/N (×1 not marked)" : t === run.T ? " (last step: no resampling)" : "");
    this.div.classList.toggle("srp-resampling", Boolean(a));
    // the axis runs to a round value above the largest weight, so 64 weights near 1/64 are still visible
    let top = 0;
    for (let k = 0; k < N; k++) top = Math.max(top, w[k]);
    top = [0.02, 0.05, 0.1, 0.2, 0.25, 0.5, 1].find((v) => v >= top - 1e-9) || 1;
    this.ticks[0].textContent = String(top); this.ticks[1].textContent = String(top / 2);
    for (let k = 0; k < N; k++) {
      const bar = this.bars[k], thin = this.thinned[k];
      bar.style.height = `${Math.min(100, (100 * w[k]) / top).toFixed(2)}%`;
      bar.style.backgroundColor = colours[k];
      this.deltas[k].textContent = !t ? "" : N > 8 ? fmt(inc[k], 1) : `Δ ${fmt(inc[k], 2)}`;
      this.copies[k].textContent = a && !thin && count[k] !== 1 ? `×${count[k]}` : "";
      this.copies[k].classList.toggle("srp-zero", Boolean(a) && count[k] === 0);
      this.after[k].textContent = a && !thin ? String(a[k]) : "";
      this.after[k].style.backgroundColor = a ? colours[a[k]] : "";
      this.after[k].style.color = a ? ink(colours[a[k]]) : "";
      this.cols[k].classList.toggle("srp-star", k === star);
      this.cols[k].title = `particle ${k}: w̄ = ${fmt(w[k], 3)}, Δ log w = ${fmt(inc[k], 3)}, log w = ${fmt(lw[k], 3)}, ` +
        `root ${run.roots[t][k]}` + (a ? `; resampling: drawn ${count[k]}×, row ${k} becomes a copy of ${a[k]}` : "");
    }
  }
}
