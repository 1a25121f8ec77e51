// The token canvas: every particle of one run at the cursor step, as running text that wraps to the width it
// has. Cell background = confidence of the drawn token (viridis), text black or white by contrast; grey =
// still masked; outline = committed at this step; dashed = inherited through resampling (at this step, or
// ever: a toggle); vermilion underline = inside a repeated n-gram, ↺ = closes one. The row holding ★'s
// ancestor comes first. A step change touches only the cells whose state differs from the step shown.
import { MASK_GREY, inkOn, viridis } from "./palette.js";
import { ancestry } from "./data.js";
import { el, fmt } from "./dom.js";

const LEVELS = 256;
const FILL = Array.from({ length: LEVELS }, (_, i) => viridis(i / (LEVELS - 1)));
const INK = FILL.map(inkOn);

export function display(word) {
  return word.replace(/\n/g, "↵").replace(/\t/g, "⇥") || "␣";
}

export class Canvas {
  constructor(root, onPick) {
    this.root = root;
    this.onPick = onPick;
    this.inheritMode = "step";
    this.showRepeats = true;
  }

  /** Build the cells of `run` (all rows [N] × generated positions [G]); `reps` from repetition(). */
  load(run, reps, focus) {
    this.run = run; this.reps = reps; this.focus = focus;
    const { N, G } = run;
    this.rows = el("div", { class: "srp-rows" });
    this.labels = []; this.cells = [];
    this.shownTok = new Int32Array(N * G).fill(-2);
    this.shownKey = new Int32Array(N * G).fill(-2);
    this.shownP = new Float32Array(N * G).fill(NaN);
    for (let k = 0; k < N; k++) {
      const label = el("div", { class: "srp-rowlabel" });
      const cells = el("div", { class: "srp-cells" });
      const frag = document.createDocumentFragment();
      for (let g = 0; g < G; g++) {
        const c = document.createElement("span");
        c.className = "srp-cell srp-m";
        frag.appendChild(c);
        this.cells.push(c);
      }
      cells.appendChild(frag);
      const row = el("div", { class: "srp-row", "data-particle": k }, [label, cells]);
      row.addEventListener("click", () => this.onPick && this.onPick(k));
      this.labels.push(label);
      this.rows.appendChild(row);
    }
    const prompt = el("div", { class: "srp-prompt" }, [el("b", {}, "prompt "), display(run.prompt || "(empty)")]);
    this.root.replaceChildren(prompt, this.rows);
    this.t = -1;
  }

  /** Redraw for frame t: only cells whose token, confidence or marks changed. */
  show(t) {
    const run = this.run;
    if (!run) return;
    t = Math.min(t, run.T);
    const { N, G, tokens, logc, commit, inherited } = run;
    const rep = this.reps.rep, first = this.reps.first;
    const movedRow = t > 0 ? run.parents[t - 1].map((a, k) => a !== k) : new Array(N).fill(false);
    const o = t * N * G;
    for (let k = 0; k < N; k++) {
      for (let g = 0; g < G; g++) {
        const i = k * G + g, j = o + i, c = commit[j];
        let key = -1, tok = tokens[j];
        if (c >= 0) {
          const inh = inherited[j] && (this.inheritMode === "all" || (this.inheritMode === "step" && movedRow[k] && c < t));
          const rp = this.showRepeats ? rep[j] + (first[j] >= 0 ? 2 : 0) : 0;
          key = c * 16 + (c === t ? 8 : 0) + (inh ? 4 : 0) + rp;
        } else tok = -1;
        const p = c >= 0 ? Math.exp(logc[j]) : NaN;
        if (key === this.shownKey[i] && tok === this.shownTok[i] && (c < 0 || p === this.shownP[i])) continue;
        this.shownKey[i] = key; this.shownTok[i] = tok; this.shownP[i] = p;
        const cell = this.cells[i];
        if (c < 0) {
          cell.className = "srp-cell srp-m"; cell.textContent = ""; cell.style.backgroundColor = ""; cell.style.color = "";
          cell.removeAttribute("title");
          continue;
        }
        const level = Math.min(LEVELS - 1, Math.max(0, Math.round(p * (LEVELS - 1))));
        const word = run.word(tok);
        cell.textContent = display(word);
        cell.style.backgroundColor = FILL[level];
        cell.style.color = INK[level];
        cell.className = "srp-cell" + (key & 8 ? " srp-now" : "") + (key & 4 ? " srp-inh" : "") +
          (key & 1 ? " srp-rep" : "") + (key & 2 ? " srp-close" : "");
        let title = `${JSON.stringify(word)} · p = ${p.toFixed(2)} · committed at step ${c}` +
          (inherited[j] ? " · inherited through resampling" : "");
        if (first[j] >= 0) title += ` · closes a repeated ${this.reps.n}-gram first seen at position ${first[j]}`;
        cell.title = title;
      }
    }
    this.labelRows(t);
    this.t = t;
  }

  labelRows(t) {
    const run = this.run, w = run.weights[t], inc = run.increment[t];
    const star = run.final ? ancestry(run, run.chosen)[t] : -1;
    const focus = this.focus != null ? ancestry(run, this.focus)[t] : -1;
    for (let k = 0; k < run.N; k++) {
      const row = this.labels[k].parentNode;
      const tags = [];
      if (k === star) tags.push(t === run.T ? "★ chosen" : "★'s ancestor");
      if (run.N > 1) tags.push(`w̄ ${fmt(w[k], 3)}`, `Δ ${fmt(inc[k], 2)}`, `root ${run.roots[t][k]}`);
      if (t > 0 && run.parents[t - 1][k] !== k) tags.push(`copied from ${run.parents[t - 1][k]} at step ${t - 1}`);
      this.labels[k].textContent = `${run.label} particle ${k}` + (tags.length ? " · " + tags.join(" · ") : "");
      row.style.order = k === star ? -2 : k === focus ? -1 : k;
      row.classList.toggle("srp-star", k === star);
      row.classList.toggle("srp-focus", k === focus && k !== star);
    }
  }

  redraw() {
    this.shownKey.fill(-2);
    if (this.t >= 0) this.show(this.t);
  }
}
