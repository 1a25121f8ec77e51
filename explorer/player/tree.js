// The genealogy tree on a 2-D canvas: one node per particle per step, an edge to the node each was drawn from.
//
// Rows are re-ordered once per load so lineages never cross (a planar tree): at every step the particles are
// sorted by their parent's row, so a parent's copies sit next to it. Lineages with no descendant at the last
// step are faded; the survivors' tree is drawn bold. Nodes are sized by normalised weight and coloured by
// family at the cursor step (which particle of that step they descend from; grey: no descendant at the end).
// The focus particle's lineage is drawn up to the cursor; at a resampling step each parent drawn more than once
// is marked ×c (its number of copies).
//
// Work per load: the layout and a static layer (axes, resampling marks, edges) drawn once into an offscreen
// canvas. Per step: that layer copied, nodes drawn in one path per colour, the lineage and marks on top — no
// DOM, so N = 64 × T = 64 costs a few ms. A focus change only redraws (the lineage), never rebuilds.
import { CURSOR, DEAD_GREY, RESAMPLE } from "./palette.js";
import { ancestry, descendants } from "./data.js";
import { el, fmt } from "./dom.js";
import { families } from "./charts.js";

const M = { l: 46, r: 34, t: 8, b: 34 };  // plot margins in CSS pixels
const FONT = "11px system-ui, sans-serif";

/** Planar row order: pos[s·N + k] = display row of particle k at frame s; parents' copies sit next to them. */
export function planarOrder(run) {
  const { N, T } = run, pos = new Int16Array((T + 1) * N), at = new Int16Array((T + 1) * N);
  for (let k = 0; k < N; k++) pos[k] = k, at[k] = k;
  const idx = new Array(N);
  for (let s = 1; s <= T; s++) {
    const a = run.parents[s - 1], o = (s - 1) * N;
    for (let k = 0; k < N; k++) idx[k] = k;
    idx.sort((i, j) => pos[o + a[i]] - pos[o + a[j]] || i - j);
    for (let r = 0; r < N; r++) pos[s * N + idx[r]] = r, at[s * N + r] = idx[r];
  }
  return { pos, at };
}

export class Tree {
  /** `onSeek(step)` is called when a node is clicked. */
  constructor(div, note, onSeek = () => {}) {
    this.div = div; this.note = note; this.onSeek = onSeek;
    this.title = el("div", { class: "srp-charttitle" });
    this.canvas = el("canvas", { class: "srp-treecanvas", role: "img" });
    this.div.replaceChildren(this.title, this.canvas);
    this.layer = document.createElement("canvas");
    this.canvas.addEventListener("mousemove", (e) => this.hover(e));
    this.canvas.addEventListener("click", (e) => { const n = this.nodeAt(e); if (n) this.onSeek(n.s); });
    this.resize = new ResizeObserver(() => { if (this.run && this.div.clientWidth !== this.w) this.layout(); });
    this.resize.observe(this.div);
  }

  /** Build the layout and the static layer for `run`; `focus`: the particle whose lineage is drawn. */
  load(run, focus) {
    this.run = run;
    const { N, T } = run;
    const { pos, at } = planarOrder(run);
    this.pos = pos; this.at = at;
    const alive = descendants(run, 0);  // [T+1][N]: has a descendant at the last step
    this.alive = alive;
    this.copies = run.parents.map((a, s) => {
      if (!run.resampled[s] || s >= T) return null;
      const c = new Int16Array(N);
      for (let k = 0; k < N; k++) c[a[k]]++;
      return c;
    });
    const survivors = new Set(run.roots[T]).size;
    this.title.textContent = `Genealogy (${run.label}, N = ${N})`;
    this.canvas.setAttribute("aria-label", `Genealogy of ${N} particles over ${T} steps: ` +
      `${run.resampled.filter(Boolean).length} resampling steps; ${survivors} of ${N} initial particles have ` +
      "descendants at the end.");
    this.note.textContent = "Genealogy: rows re-ordered at each resampling so a particle's copies sit next to it " +
      "(lines never cross). Bold: lineages with descendants at the end; faint: lineages that died out. Colour = " +
      "family at the cursor step (grey: no descendant at the end); dotted = resampling; ×c = copies a particle " +
      "got at the cursor step; thick black = the focus particle's lineage. Click a node to go to its step.";
    this.setFocus(focus, false);
    this.t = 0;
    this.w = -1;
    this.layout();
  }

  setFocus(focus, redraw = true) {
    this.focus = focus;
    this.path = ancestry(this.run, focus);
    if (redraw && this.fam) this.draw();
  }

  /** Size the canvas to its box and draw the static layer. */
  layout() {
    const run = this.run, { N, T } = run, dpr = window.devicePixelRatio || 1;
    const w = Math.max(this.div.clientWidth, 200), h = Math.round(Math.min(Math.max(260, N * 7), 520)) + M.t + M.b;
    this.w = this.div.clientWidth; this.h = h; this.cw = w;
    for (const c of [this.canvas, this.layer]) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    this.canvas.style.width = `${w}px`; this.canvas.style.height = `${h}px`;
    this.pw = w - M.l - M.r; this.ph = h - M.t - M.b;
    this.dx = this.pw / Math.max(T, 1); this.dy = N > 1 ? this.ph / (N - 1) : 0;
    const ctx = this.layer.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    ctx.font = FONT; ctx.fillStyle = "#333"; ctx.strokeStyle = "#888"; ctx.lineWidth = 1;
    // axes and step ticks
    ctx.beginPath(); ctx.moveTo(M.l - 6, M.t - 4); ctx.lineTo(M.l - 6, h - M.b + 4); ctx.lineTo(w - M.r + 6, h - M.b + 4); ctx.stroke();
    const every = niceStep(T, this.pw / 40);
    ctx.textAlign = "center"; ctx.textBaseline = "top";
    for (let s = 0; s <= T; s += every) ctx.fillText(String(s), this.x(s), h - M.b + 8);
    ctx.fillText("step (click a node to go there)", M.l + this.pw / 2, h - 14);
    ctx.save(); ctx.translate(12, M.t + this.ph / 2); ctx.rotate(-Math.PI / 2); ctx.textBaseline = "middle";
    ctx.fillText("particles (re-ordered)", 0, 0); ctx.restore();
    // resampling steps: dotted lines between step s and s + 1
    ctx.strokeStyle = RESAMPLE; ctx.globalAlpha = 0.45; ctx.setLineDash([2, 3]);
    ctx.beginPath();
    run.resampled.forEach((r, s) => { if (r && s < T) { const x = this.x(s + 0.5); ctx.moveTo(x, M.t - 4); ctx.lineTo(x, h - M.b + 4); } });
    ctx.stroke(); ctx.setLineDash([]); ctx.globalAlpha = 1;
    // edges: faint for lineages that die out, bold for the survivors' tree
    for (const live of [0, 1]) {
      ctx.beginPath();
      for (let s = 1; s <= T; s++) for (let k = 0; k < N; k++) {
        if (this.alive[s][k] !== live) continue;
        const p = run.parents[s - 1][k];
        ctx.moveTo(this.x(s - 1), this.y(s - 1, p)); ctx.lineTo(this.x(s), this.y(s, k));
      }
      ctx.strokeStyle = live ? "#555" : "#D6D6D6"; ctx.lineWidth = live ? 1.8 : 0.8;
      ctx.stroke();
    }
    if (this.fam) this.draw();
  }

  x(s) { return M.l + s * this.dx; }
  y(s, k) { return M.t + this.pos[s * this.run.N + k] * this.dy; }

  /** Restyle for step t; `fam` = `families(run, t)` when the caller has it already. Synchronous: returns []. */
  show(t, fam = null) {
    const run = this.run;
    t = Math.min(t, run.T);
    this.fam = fam || families(run, t);
    this.t = t;
    this.draw();
    return [];
  }

  /** The colour of every node (s, k) [(T+1)·N] at the cursor step (for tests and tools). */
  get colours() { return this.fam ? this.fam.nodes : null; }

  draw() {
    const run = this.run, { N, T } = run, t = this.t, dpr = window.devicePixelRatio || 1;
    const ctx = this.canvas.getContext("2d");
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, this.canvas.width, this.canvas.height);
    ctx.drawImage(this.layer, 0, 0);
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    // nodes: one path per colour; radius by normalised weight, bounded by the row spacing
    const rmax = Math.max(1.5, Math.min(6, this.dy * 0.9, this.dx * 0.45)), byColour = new Map();
    for (let s = 0; s <= T; s++) for (let k = 0; k < N; k++) {
      const c = this.fam.nodes[s * N + k];
      let list = byColour.get(c);
      if (!list) byColour.set(c, (list = []));
      list.push(s, k);
    }
    for (const [colour, list] of byColour) {
      ctx.beginPath();
      for (let i = 0; i < list.length; i += 2) {
        const s = list[i], k = list[i + 1], r = Math.max(1.2, rmax * Math.sqrt(run.weights[s][k]) * (N > 16 ? 1.6 : 1.1));
        const x = this.x(s), y = this.y(s, k);
        ctx.moveTo(x + Math.min(r, rmax), y); ctx.arc(x, y, Math.min(r, rmax), 0, 2 * Math.PI);
      }
      ctx.fillStyle = colour; ctx.fill();
      if (colour === DEAD_GREY) { ctx.strokeStyle = "#BDBDBD"; ctx.lineWidth = 0.5; ctx.stroke(); }
    }
    // the focus particle's lineage up to the cursor
    ctx.beginPath();
    for (let s = 0; s <= t; s++) (s ? ctx.lineTo : ctx.moveTo).call(ctx, this.x(s), this.y(s, this.path[s]));
    ctx.strokeStyle = CURSOR; ctx.lineWidth = 3; ctx.stroke();
    // the cursor
    ctx.beginPath(); ctx.setLineDash([5, 4]); ctx.moveTo(this.x(t), M.t - 6); ctx.lineTo(this.x(t), M.t + this.ph + 6);
    ctx.strokeStyle = CURSOR; ctx.lineWidth = 1.5; ctx.stroke(); ctx.setLineDash([]);
    // copies per parent at the cursor step (only parents drawn more than once)
    const copies = this.copies[t];
    if (copies) {
      ctx.font = "bold " + FONT; ctx.textAlign = "left"; ctx.textBaseline = "middle";
      let lastY = -Infinity;
      for (let r = 0; r < N; r++) {
        const k = this.at[t * N + r];
        if (copies[k] < 2) continue;
        const y = this.y(t, k);
        if (y - lastY < 10) continue;  // labels thin out instead of overlapping
        lastY = y;
        const text = `×${copies[k]}`, x = this.x(t) + rmax + 3, w = ctx.measureText(text).width;
        ctx.fillStyle = "rgba(255,255,255,0.85)"; ctx.fillRect(x - 1, y - 6, w + 2, 12);
        ctx.fillStyle = "#000"; ctx.fillText(text, x, y);
      }
    }
  }

  /** The node under a mouse event: {s, k} or null. */
  nodeAt(e) {
    const r = this.canvas.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top, run = this.run;
    const s = Math.round((px - M.l) / this.dx), row = this.dy ? Math.round((py - M.t) / this.dy) : 0;
    if (s < 0 || s > run.T || row < 0 || row >= run.N) return null;
    if (Math.abs(px - this.x(s)) > Math.max(6, this.dx / 2) || Math.abs(py - (M.t + row * this.dy)) > Math.max(6, this.dy / 2)) return null;
    return { s, k: this.at[s * run.N + row] };
  }

  /** Page coordinates of node (s, k)'s centre (for tests and tools). */
  nodePoint(s, k) {
    const r = this.canvas.getBoundingClientRect();
    return { x: r.left + this.x(s), y: r.top + this.y(s, k) };
  }

  hover(e) {
    const n = this.nodeAt(e), run = this.run;
    if (!n) { this.canvas.title = ""; return; }
    const { s, k } = n, c = this.copies[s];
    this.canvas.title = `step ${s}, particle ${k}: w̄ = ${fmt(run.weights[s][k], 3)}, root ${run.roots[s][k]}` +
      (s > 0 && run.parents[s - 1][k] !== k ? `, copied from ${run.parents[s - 1][k]} after step ${s - 1}` : "") +
      (c ? `, drawn ${c[k]}× at this resampling` : "") + (this.alive[s][k] ? "" : " (no descendant at the end)");
  }
}

/** A tick spacing from {1, 2, 5}·10^k leaving at least `room` ticks' space. */
function niceStep(T, room) {
  const raw = T / Math.max(room, 1);
  for (const base of [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000]) if (base >= raw) return base;
  return Math.ceil(raw);
}
