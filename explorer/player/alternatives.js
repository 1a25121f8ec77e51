// What else the model could have written: at every commit a schema 2 trace records the proposal's top-k tokens
// (`alt_tokens`, `alt_probs`: k per commit, most likely first, in the order of the step's `tokens`) and the committed
// token's rank (`ranks`, 1 = most likely). The panel above the token canvas shows them for the cell under the
// pointer, or for a pinned cell (click; click again or Esc unpins), which it follows while the cursor moves:
// through resampling to the row the cell was copied into, back in time to the row it was committed in.
import { ancestorsAt, ancestry } from "./data.js";
import { display } from "./canvas.js";
import { el } from "./dom.js";

/** Field `name` of step s's record (s = 1..T), null where the step does not carry it. The one place this panel
 *  reads the steps' per-commit lists: whatever packs them, a list indexes like an array. */
export function stepField(run, s, name) {
  const v = run.d.steps[s - 1][name];
  return v === undefined ? null : v;
}

/** Alternatives recorded per commit: 0 for none (top-k = 0) or not recorded (a schema 1 trace). */
export function altK(run) {
  const w = run.d.what_if;
  return w && w.alternatives_recorded ? w.alternatives : 0;
}

/** The commit that wrote cell (frame t, row k, generated position g): `{ step, row, index }`, `row` the row of frame
 *  `step` it was written in (resampling moves rows: the cell's ancestor then), `index` into the step's commit lists;
 *  null while the cell is masked. */
export function commitOf(run, t, k, g) {
  const s = run.commit[run.at(t, k, g)];
  if (s < 0) return null;
  const row = ancestry(run, k, t)[s], rows = stepField(run, s, "rows"), positions = stepField(run, s, "positions");
  for (let i = 0; i < rows.length; i++) {
    if (rows[i] === row && positions[i] === run.W + g) return { step: s, row, index: i };
  }
  throw new Error(`step ${s} has no commit at row ${row}, position ${run.W + g}`);
}

/** What cell (t, k, g) was chosen from: `{ step, row, index, token, p, rank, alts: [{ token, p }] }` (`p` the
 *  committed token's confidence; `rank` null and `alts` empty where not recorded), or null while masked. */
export function alternativesOf(run, t, k, g) {
  const c = commitOf(run, t, k, g);
  if (!c) return null;
  const K = altK(run), i = c.index, out = { ...c, token: stepField(run, c.step, "tokens")[i],
    p: Math.exp(stepField(run, c.step, "log_conf")[i]), rank: null, alts: [] };
  const tokens = stepField(run, c.step, "alt_tokens"), probs = stepField(run, c.step, "alt_probs");
  if (K > 0 && tokens && probs) {
    out.rank = stepField(run, c.step, "ranks")[i];
    for (let j = i * K; j < (i + 1) * K; j++) out.alts.push({ token: tokens[j], p: probs[j] });
  }
  return out;
}

function pText(p) {
  return p >= 0.01 ? p.toFixed(3) : p.toPrecision(2);
}

/** One line: the top-k of cell (t, k, g) as "a 0.412 · b 0.201 …", or why there is none. */
export function altLine(run, t, k, g) {
  const a = alternativesOf(run, t, k, g);
  if (!a) return "masked";
  const chosen = `“${display(run.word(a.token))}”`;
  if (!a.alts.length) return `${chosen} (alternatives not recorded)`;
  return `${chosen} (rank ${a.rank}); its top ${a.alts.length}: ` +
    a.alts.map((x) => `${display(run.word(x.token))} ${pText(x.p)}`).join(" · ");
}

/** The generated position of each word of `words` (run's final ★ text split by splitWords) that is exactly one
 *  token of ★'s final row ([len words], -1 for words of several tokens). Tokens are matched in order, spaces
 *  dropped, "¶" or a line break read as "↵"; where the text stops following the tokens, the rest stays -1. */
export function wordPositions(run, words) {
  const out = new Array(words.length).fill(-1), o = run.at(run.T, run.chosen, 0);
  let g = 0;
  for (let i = 0; i < words.length; i++) {
    let rest = words[i], n = 0, first = -1;
    while (rest && g < run.G) {
      const piece = run.word(run.tokens[o + g]).replace(/[¶\n]/g, "↵").replace(/\s+/g, "");
      g++;
      if (!piece) continue;
      if (!rest.startsWith(piece)) return out;
      if (!n++) first = g - 1;
      rest = rest.slice(piece.length);
    }
    if (rest) return out;
    if (n === 1) out[i] = first;
  }
  return out;
}

/** For the answer of `run`: a function of a word index that says what `other` (the other sampler) had at that
 *  word's position: its token, rank and top-k there ("" for words not a single token; null when the runs'
 *  generated lengths differ). */
export function otherSamplerNote(run, words, other) {
  if (!other || !other.final || other.G !== run.G) return null;
  const at = wordPositions(run, words);
  return (i) => (at[i] < 0 ? "" : `${other.label} at this position: ${altLine(other, other.T, other.chosen, at[i])}`);
}

/** The panel: the alternatives of the hovered or pinned cell of `canvas` (a Canvas), kept in step by its onShow. */
export class Alternatives {
  constructor(root, canvas) {
    this.root = root; this.canvas = canvas; this.run = null; this.pin = null; this.hovered = null;
    this.unpinBtn = el("button", { type: "button", class: "srp-alts-unpin", hidden: true }, "unpin (Esc)");
    this.body = el("div", { class: "srp-alts-body", "aria-live": "polite" });
    root.replaceChildren(this.unpinBtn, this.body);
    this.unpinBtn.addEventListener("click", () => this.unpin());
    canvas.onShow = () => this.render();
    canvas.onHover = (cell) => {
      const same = cell && this.hovered && cell.k === this.hovered.k && cell.g === this.hovered.g;
      if (same || (!cell && !this.hovered)) return;
      this.hovered = cell;
      if (!this.pin) this.render();
    };
    canvas.onPick = (cell) => this.toggle(cell);
  }

  /** Pin cell `{ t, k, g }`, or unpin when it is the cell pinned now. */
  toggle(cell) {
    const now = this.pinned();
    if (now && now.k === cell.k && now.g === cell.g) { this.unpin(); return; }
    this.pin = { ...cell, from: ancestorsAt(this.run, cell.t) };
    this.render();
    this.root.scrollIntoView({ block: "nearest" });
  }

  unpin() {
    if (!this.pin) return false;
    this.pin = null;
    this.render();
    return true;
  }

  /** The pinned cell at the canvas's frame t: `{ t, k, g }`; k = -1 when no row of frame t descends from it.
   *  Before the pin's frame: its ancestor's row; after: the descendant on ★'s line, else the lowest row. */
  pinned() {
    const p = this.pin, run = this.run, t = this.canvas.t;
    if (!p) return null;
    if (t <= p.t) return { t, k: ancestry(run, p.k, p.t)[t], g: p.g };
    const star = run.final ? ancestry(run, run.chosen)[t] : -1;
    let k = -1;
    for (let r = run.N - 1; r >= 0; r--) if (p.from[t * run.N + r] === p.k) k = r;
    if (star >= 0 && p.from[t * run.N + star] === p.k) k = star;
    return { t, k, g: p.g };
  }

  render() {
    if (this.canvas.run !== this.run) { this.run = this.canvas.run; this.pin = null; this.hovered = null; }
    const cell = this.pin ? this.pinned() : this.hovered && { ...this.hovered, t: this.canvas.t };
    this.unpinBtn.hidden = !this.pin;
    this.root.dataset.pinned = this.pin ? "1" : "";
    this.canvas.mark(this.pin && cell.k >= 0 ? cell : null);
    this.body.replaceChildren(...this.describe(cell));
  }

  describe(cell) {
    const run = this.run;
    if (!cell) return [el("p", { class: "srp-hint" }, "Hover a cell to see the tokens the model weighed there; click " +
      "it to pin it (the panel then follows it while you step; click again or Esc unpins).")];
    const pin = this.pin ? "pinned · " : "";
    if (cell.k < 0) {
      return [el("p", {}, `${pin}position ${cell.g}: no particle at step ${cell.t} descends from the pinned row ` +
        "(resampling dropped its line).")];
    }
    const where = `${pin}${run.label} particle ${cell.k} · position ${cell.g}`;
    const a = alternativesOf(run, cell.t, cell.k, cell.g);
    if (!a) return [el("p", {}, `${where}: masked at step ${cell.t}.`)];
    const moved = a.row !== cell.k ? ` in row ${a.row}` : "";
    const word = display(run.word(a.token));
    const head = el("p", { class: "srp-alts-head" }, `${where}: “${word}” committed at step ${a.step}${moved}, ` +
      `p = ${pText(a.p)}` + (a.rank ? `, rank ${a.rank} of the proposal` : ""));
    Object.assign(head.dataset, { step: a.step, row: a.row, index: a.index });
    if (!a.alts.length) {
      return [head, el("p", { class: "srp-alts-none" }, "alternatives not recorded (a schema 1 trace, or one " +
        "recorded with top-k = 0)")];
    }
    const rows = a.alts.map((x, j) => {
      const chosen = x.token === a.token, width = `width:${Math.round(60 * x.p)}px`;
      const p = [el("span", { class: "srp-alts-bar", style: width }), ` ${pText(x.p)}`];
      return el("tr", { class: chosen ? "srp-chosen" : "", "data-token": x.token, "data-p": x.p }, [el("td", {}, j + 1),
        el("td", {}, display(run.word(x.token)) + (chosen ? " ◀ chosen" : "")), el("td", {}, p)]);
    });
    const heads = ["rank", "token", "p (proposal)"].map((h) => el("th", { scope: "col" }, h));
    return [head, el("table", { class: "srp-alts-table" }, [el("thead", {}, el("tr", {}, heads)),
      el("tbody", {}, rows)])];
  }
}
