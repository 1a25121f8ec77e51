// The token canvas: every particle of one run at the cursor step, as running text that wraps to the width it
// has. Cell background = confidence of the drawn token (viridis), text black or white by contrast (≥ 4.5:1);
// grey = still masked; black outline = committed at this step; dashed = inherited through resampling (at this
// step, or ever: a toggle); vermilion bar = inside a repeated n-gram, vermilion corner = closes one.
//
// Rows are display slots: slot 0 always shows ★'s line (the row holding ★'s ancestor), then the focus
// particle's, then the rest. Each slot is a 2-D <canvas>; a position is as wide as the widest token it ever
// holds (any row, any step), so the text never reflows and positions line up across rows. A step change
// repaints only the cells whose shown state differs — no DOM layout, which at 4,096 cells cost 100+ ms a frame.
import { MASK_GREY, REPEAT, inkOn, viridis } from "./palette.js";
import { ancestry } from "./data.js";
import { el, fmt } from "./dom.js";

const LEVELS = 256;
const FILL = Array.from({ length: LEVELS }, (_, i) => viridis(i / (LEVELS - 1)));
const INK = FILL.map(inkOn);
const FONT_PX = 12, CELL_H = 19, GAP = 2, PAD = 8;
const FONT = `${FONT_PX}px ui-monospace, SFMono-Regular, Menlo, Consolas, "DejaVu Sans Mono", monospace`;

export function display(word) {
  return word.replace(/\n/g, "↵").replace(/\t/g, "⇥") || "␣";
}

export class Canvas {
  constructor(root) {
    this.root = root;
    this.inheritMode = "step";
    this.showRepeats = true;
    this.resize = new ResizeObserver(() => { if (this.run && this.rows.clientWidth !== this.width) this.layout(); });
    // slots scrolled out of view are repainted when they come back, not on every step
    this.seen = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const slot = Number(e.target.dataset.slot);
        this.visible[slot] = e.isIntersecting;
        this.backing(slot);
        if (e.isIntersecting && this.t >= 0) { this.paintSlot(slot, this.t); this.labelSlot(slot); }
      }
    }, { root: root, rootMargin: "200px 0px" });
  }

  /** Build one canvas per display slot for `run` (rows [N] × generated positions [G]); `reps` from repetition(). */
  load(run, reps, focus) {
    this.run = run; this.reps = reps; this.focus = focus;
    const { N, G } = run;
    this.rows = el("div", { class: "srp-rows" });
    this.labels = []; this.rowEls = []; this.canvases = [];
    for (let slot = 0; slot < N; slot++) {
      const label = el("div", { class: "srp-rowlabel" }), canvas = el("canvas", { class: "srp-cellcanvas", role: "img",
        "aria-label": `row ${slot + 1} of ${N}: scroll it into view to read its tokens` });  // labelled in full in view
      canvas.addEventListener("mousemove", (e) => this.hover(slot, e));
      canvas.addEventListener("mouseleave", () => this.onHover && this.onHover(null));
      canvas.addEventListener("click", (e) => {
        const g = this.gUnder(e);
        if (g >= 0 && this.onPick) this.onPick(this.cell(slot, g));
      });
      const row = el("div", { class: "srp-row", "data-slot": slot }, [label, canvas]);
      this.labels.push(label); this.rowEls.push(row); this.canvases.push(canvas);
      this.rows.appendChild(row);
    }
    const prompt = el("div", { class: "srp-prompt" }, [el("b", {}, "prompt "), display(run.prompt || "(empty)")]);
    this.root.replaceChildren(prompt, this.rows);
    const ctx = this.canvases[0].getContext("2d");
    ctx.font = FONT;
    const widths = new Map(), widthOf = (id) => {
      let w = widths.get(id);
      if (w === undefined) { w = Math.ceil(ctx.measureText(display(run.word(id))).width) + PAD; widths.set(id, w); }
      return w;
    };
    this.col = new Float32Array(G).fill(2.2 * FONT_PX);
    for (let j = 0; j < (run.T + 1) * N * G; j++) if (run.commit[j] >= 0) this.col[j % G] = Math.max(this.col[j % G], widthOf(run.tokens[j]));
    this.shown = Array.from({ length: N }, () => new Float64Array(G).fill(-2));
    this.visible = new Array(N).fill(true);
    this.fresh = true;  // layout() guesses which slots are in view before the observer first reports
    this.seen.disconnect();
    this.rowEls.forEach((r) => this.seen.observe(r));
    this.order_ = null; this.t = -1;
    this.resize.disconnect();
    this.resize.observe(this.rows);
    this.layout();
  }

  /** Wrap the positions to the rows' width: x [G], y [G] in CSS pixels; size every slot's canvas. */
  layout() {
    const { G } = this.run, width = Math.max(this.rows.clientWidth - 12, 120);
    this.width = this.rows.clientWidth;
    this.x = new Float32Array(G); this.y = new Float32Array(G);
    let x = 0, y = 0;
    for (let g = 0; g < G; g++) {
      if (x > 0 && x + this.col[g] > width) { x = 0; y += CELL_H + GAP; }
      this.x[g] = x; this.y[g] = y; x += this.col[g] + GAP;
    }
    this.height = y + CELL_H + 2; this.drawWidth = width;
    for (const c of this.canvases) { c.style.width = `${width}px`; c.style.height = `${this.height}px`; }
    if (this.fresh) {
      // slots below the box's visible part (plus the observer's margin) get no buffer and no paint until they
      // scroll in: at N = 64 painting every slot on load cost more than the rest of the load together
      this.fresh = false;
      const box = this.root.getBoundingClientRect(), bottom = box.top + Math.max(this.root.clientHeight, 1) + 200;
      this.rowEls.forEach((r, slot) => { this.visible[slot] = r.getBoundingClientRect().top < bottom; });
    }
    this.canvases.forEach((_, slot) => this.backing(slot, true));
    if (this.t >= 0) this.show(this.t);
  }

  /** Give slot `slot` a pixel buffer while it is in view and take it back when it leaves: 64 particles × 8,000
   *  positions would otherwise hold gigabytes of canvas. A new buffer is blank, so the slot repaints in full. */
  backing(slot, resized = false) {
    const c = this.canvases[slot], dpr = window.devicePixelRatio || 1;
    const w = this.visible[slot] ? Math.round(this.drawWidth * dpr) : 0, h = this.visible[slot] ? Math.round(this.height * dpr) : 0;
    if (!resized && c.width === w && c.height === h) return;
    c.width = w; c.height = h;
    this.shown[slot].fill(-2);
    if (!w) return;
    const ctx = c.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = FONT; ctx.textAlign = "center"; ctx.textBaseline = "middle";
  }

  /** Display order at frame t: ★'s ancestor, then the focus particle's, then the rest by index ([N] rows). */
  order(t) {
    const run = this.run, lead = [];
    if (run.final) lead.push(ancestry(run, run.chosen)[t]);
    if (this.focus != null) lead.push(ancestry(run, this.focus)[t]);
    const first = [...new Set(lead)];
    return first.concat([...Array(run.N).keys()].filter((k) => !first.includes(k)));
  }

  /** What cell (row k, position g) shows at frame t: a numeric key of its look (token, confidence level, marks;
   *  -1 masked), computed without allocating, and `cellAt` for its parts. */
  keyAt(t, k, g, movedRow) {
    const run = this.run, j = (t * run.N + k) * run.G + g, c = run.commit[j];
    if (c < 0) return -1;
    const level = Math.min(LEVELS - 1, Math.max(0, Math.round(Math.exp(run.logc[j]) * (LEVELS - 1))));
    const inh = run.inherited[j] && (this.inheritMode === "all" || (this.inheritMode === "step" && movedRow && c < t));
    const marks = (c === t ? 8 : 0) | (inh ? 4 : 0) | (this.showRepeats ? (this.reps.rep[j] ? 2 : 0) | (this.reps.first[j] >= 0 ? 1 : 0) : 0);
    return (run.tokens[j] * LEVELS + level) * 16 + marks;
  }

  cellAt(t, k, g, movedRow) {
    const run = this.run, j = (t * run.N + k) * run.G + g, key = this.keyAt(t, k, g, movedRow);
    if (key < 0) return { key, masked: true };
    const level = Math.floor(key / 16) % LEVELS;
    return { key, masked: false, text: display(run.word(run.tokens[j])), p: Math.exp(run.logc[j]), step: run.commit[j],
      now: Boolean(key & 8), inh: Boolean(key & 4), rep: Boolean(key & 2), close: Boolean(key & 1),
      bg: FILL[level], ink: INK[level], first: this.reps.first[j] };
  }

  /** Redraw for frame t: repaint only the cells whose look differs from what their slot shows (visible slots). */
  show(t) {
    const run = this.run;
    if (!run) return;
    t = Math.min(t, run.T);
    this.t = t;
    this.order_ = this.order(t);
    for (let slot = 0; slot < run.N; slot++) if (this.visible[slot]) this.paintSlot(slot, t);
    this.labelRows(t, this.order_);
    if (this.onShow) this.onShow(t);
  }

  paintSlot(slot, t) {
    const run = this.run, k = this.order_[slot], shown = this.shown[slot];
    const moved = t > 0 && run.parents[t - 1][k] !== k;
    let ctx = null;
    for (let g = 0; g < run.G; g++) {
      const key = this.keyAt(t, k, g, moved);
      if (shown[g] === key) continue;
      shown[g] = key;
      ctx = ctx || this.canvases[slot].getContext("2d");
      this.paint(ctx, g, this.cellAt(t, k, g, moved));
    }
  }

  paint(ctx, g, cell) {
    const x = this.x[g], y = this.y[g], w = this.col[g], h = CELL_H;
    ctx.clearRect(x - 1, y, w + 2, h + 2);
    ctx.setLineDash([]);
    if (cell.masked) { ctx.fillStyle = MASK_GREY; ctx.fillRect(x, y, w, h); return; }
    ctx.fillStyle = cell.bg; ctx.fillRect(x, y, w, h);
    ctx.fillStyle = cell.ink; ctx.fillText(cell.text, x + w / 2, y + h / 2 + 1);
    if (cell.rep) { ctx.fillStyle = REPEAT; ctx.fillRect(x, y + h - 3, w, 3); }
    if (cell.close) { ctx.fillStyle = REPEAT; ctx.beginPath(); ctx.moveTo(x + w - 8, y); ctx.lineTo(x + w, y); ctx.lineTo(x + w, y + 8); ctx.fill(); }
    if (cell.inh) { ctx.strokeStyle = "#000"; ctx.lineWidth = 1; ctx.setLineDash([3, 2]); ctx.strokeRect(x + 0.5, y + 0.5, w - 1, h - 1); }
    if (cell.now) {
      ctx.setLineDash([]); ctx.strokeStyle = "#000"; ctx.lineWidth = 2; ctx.strokeRect(x + 1, y + 1, w - 2, h - 2);
      ctx.strokeStyle = "#fff"; ctx.lineWidth = 1; ctx.strokeRect(x + 2.5, y + 2.5, w - 5, h - 5);
    }
  }

  /** Generated position of the cell under the pointer event `e` on a slot's canvas, -1 between cells. */
  gUnder(e) {
    const r = e.target.getBoundingClientRect(), px = e.clientX - r.left, py = e.clientY - r.top;
    for (let g = 0; g < this.run.G; g++) {
      if (px >= this.x[g] && px < this.x[g] + this.col[g] && py >= this.y[g] && py < this.y[g] + CELL_H) return g;
    }
    return -1;
  }

  /** Cell g of slot `slot` at the frame shown: `{ t, k, g }`, k its particle row. */
  cell(slot, g) {
    return { t: this.t, k: this.order_[slot], g };
  }

  /** Tooltip of the cell under the pointer; `onHover` (if set) gets it as `cell()` gives it, or null. */
  hover(slot, e) {
    const hit = this.gUnder(e), t = this.t, k = this.order_[slot];
    if (this.onHover) this.onHover(hit < 0 ? null : this.cell(slot, hit));
    if (hit < 0) { e.target.title = ""; return; }
    const cell = this.cellAt(t, k, hit, t > 0 && this.run.parents[t - 1][k] !== k);
    e.target.title = cell.masked ? `position ${hit}: masked` : `position ${hit}: ${cell.text} · p = ${cell.p.toFixed(2)} · ` +
      `committed at step ${cell.step}` + (cell.inh ? " · inherited through resampling" : "") +
      (cell.first >= 0 ? ` · closes a repeated ${this.reps.n}-gram first seen at position ${cell.first}` : "");
  }

  /** Outline cell `{ k, g }` (row k, wherever its slot is now) with the pin mark; null removes it. */
  mark(cell) {
    if (!this.pinMark) this.pinMark = el("div", { class: "srp-pinmark", "aria-hidden": "true" });
    const slot = cell ? this.order_.indexOf(cell.k) : -1;
    if (slot < 0) { this.pinMark.remove(); return; }
    const c = this.canvases[slot], pad = 3;
    Object.assign(this.pinMark.style, { left: `${c.offsetLeft + this.x[cell.g] - pad}px`,
      top: `${c.offsetTop + this.y[cell.g] - pad}px`, width: `${this.col[cell.g] + 2 * pad}px`,
      height: `${CELL_H + 2 * pad}px` });
    if (this.pinMark.parentNode !== this.rowEls[slot]) this.rowEls[slot].appendChild(this.pinMark);
  }

  /** The cells slot `slot` shows now (for tests and tools): [G] objects as `cellAt` gives them, plus x, width. */
  cellsOf(slot) {
    const k = this.order_[slot], t = this.t, moved = t > 0 && this.run.parents[t - 1][k] !== k;
    return Array.from({ length: this.run.G }, (_, g) => ({ ...this.cellAt(t, k, g, moved), x: this.x[g], width: this.col[g],
      canvasWidth: parseFloat(this.canvases[slot].style.width) }));
  }

  /** Label every slot (particle, weight, marks); the screen-reader text of the row's tokens only for slots in
   *  view (64 rows × hundreds of words per step would cost more than the drawing), the rest when they scroll in. */
  labelRows(t, order) {
    const run = this.run, w = run.weights[t], inc = run.increment[t];
    const star = run.final ? ancestry(run, run.chosen)[t] : -1;
    const focus = this.focus != null ? ancestry(run, this.focus)[t] : -1;
    this.labelText = [];
    order.forEach((k, slot) => {
      const row = this.rowEls[slot], tags = [];
      if (k === star) tags.push(t === run.T ? "★ chosen" : "★'s ancestor");
      if (run.N > 1) tags.push(`w̄ ${fmt(w[k], 3)}`, `Δ ${fmt(inc[k], 2)}`, `root ${run.roots[t][k]}`);
      if (t > 0 && run.parents[t - 1][k] !== k) tags.push(`copied from ${run.parents[t - 1][k]} at step ${t - 1}`);
      const text = `${run.label} particle ${k}` + (tags.length ? " · " + tags.join(" · ") : "");
      this.labelText[slot] = text;
      if (this.labels[slot].textContent !== text) this.labels[slot].textContent = text;
      if (this.visible[slot]) this.labelSlot(slot);
      else this.canvases[slot].dataset.stale = "1";
      if (row.dataset.particle !== String(k)) row.dataset.particle = k;
      row.classList.toggle("srp-star", k === star);
      row.classList.toggle("srp-focus", k === focus && k !== star);
    });
  }

  labelSlot(slot) {
    if (!this.labelText || this.labelText[slot] === undefined) return;
    const c = this.canvases[slot];
    c.setAttribute("aria-label", `${this.labelText[slot]}: ${this.rowText(this.t, this.order_[slot])}`);
    delete c.dataset.stale;
  }

  /** Row k's generated text at frame t, masks as "_" (the canvas's text for screen readers). */
  rowText(t, k) {
    const run = this.run, o = (t * run.N + k) * run.G, words = new Array(run.G);
    for (let g = 0; g < run.G; g++) words[g] = run.commit[o + g] >= 0 ? display(run.word(run.tokens[o + g])) : "_";
    return words.join(" ");
  }

  redraw() {
    this.shown.forEach((s) => s.fill(-2));
    if (this.t >= 0) this.show(this.t);
  }
}
