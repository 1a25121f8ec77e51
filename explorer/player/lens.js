// The repetition lens: where loops start and who spread them, and what the self-reward paid for.
//
// - at the cursor step: the tokens just committed that close a repeated n-gram, and where the n-gram first
//   appeared (its curve over the population sits on the ESS chart);
// - every loop in ★'s final text: the step it closed, the particle that closed it, and whether it reached ★'s
//   row by a copy at a resampling step (from whom) or ★'s own row made it;
// - per particle at the cursor step: the share of its tokens, and of its Σ log c (the self-reward summed over the
//   text: the sum_logp score), that are punctuation / inside repeats / other words.
import { ancestry } from "./data.js";
import { logcShares } from "./repeat.js";
import { display } from "./canvas.js";
import { el, fmt, seek, setChildren } from "./dom.js";

const pct = (x) => (Number.isFinite(x) ? `${Math.round(100 * x)}%` : "–");

/** Loops in row k's text at frame t: runs of consecutive positions that close an earlier n-gram. */
export function loops(run, reps, t, k) {
  const { G, N } = run, o = (t * N + k) * G, n = reps.n, out = [];
  let cur = null;
  for (let g = 0; g < G; g++) {
    const f = reps.first[o + g];
    if (f < 0) continue;
    if (cur && cur.end === g - 1 && g - n + 1 - f === cur.start - cur.first) { cur.end = g; continue; }
    cur = { start: g - n + 1, end: g, first: f };
    out.push(cur);
  }
  for (const l of out) {
    let step = 0;
    for (let g = l.start; g <= l.end; g++) step = Math.max(step, run.commit[o + g]);
    l.step = step;
    l.words = [];
    for (let g = l.start; g <= l.end; g++) l.words.push(display(run.word(run.tokens[o + g])));
  }
  return out;
}

function classify(share) {
  const total = share.punct.count + share.repeat.count + share.other.count;
  const cost = share.punct.logc + share.repeat.logc + share.other.logc;
  return { total, cost, tokens: ["punct", "repeat", "other"].map((c) => share[c].count / total),
    costs: ["punct", "repeat", "other"].map((c) => share[c].logc / cost),
    mean: ["punct", "repeat", "other"].map((c) => share[c].logc / share[c].count) };
}

function shareRow() {
  const stack = () => el("div", { class: "srp-stack" }, [0, 1, 2].map((i) => el("span", { class: `srp-seg srp-seg${i}` })));
  return el("tr", {}, [el("td"), el("td", {}, stack()), el("td", {}, stack()), el("td")]);
}

/** Set a three-segment bar's widths to `parts` (shares summing to 1) and its tooltip. */
function setStack(bar, parts) {
  parts.forEach((p, i) => { bar.children[i].style.width = `${(100 * (Number.isFinite(p) ? p : 0)).toFixed(1)}%`; });
  bar.title = parts.map(pct).join(" · ");
}

export class Lens {
  constructor(root) { this.root = root; }

  /** `repsOf(run)` gives any run's repetition data (the greedy comparison needs its own). */
  load(run, reps, runs, repsOf) {
    this.run = run; this.reps = reps; this.repsOf = repsOf;
    if (!run || !reps) { this.root.replaceChildren(); return; }
    const n = reps.n;
    this.stepBox = el("div", { class: "srp-lens-step" });
    this.shareRows = null; this.star = undefined;
    this.shareBody = el("tbody");
    const parts = [el("h3", {}, `Repetition lens (repeated ${n}-grams of tokens)`), this.summary(runs)];
    if (run.final) parts.push(this.starLoops());
    parts.push(el("h4", {}, "At the cursor step"), this.stepBox,
      el("h4", {}, "What each particle's self-reward is made of, at the cursor step"),
      el("p", { class: "srp-hint" }, "Left bar: share of the particle's committed tokens that are punctuation or line " +
        `breaks (vermilion), other tokens inside a repeated ${n}-gram (orange), other words (blue). Right bar: the same ` +
        "classes' share of its Σ log c — the sum of every increment Δ along its line, which is the sum_logp score. " +
        "A class with a larger share of tokens than of Σ log c is cheap: writing it costs the particle little weight."),
      el("div", { class: "srp-scroll", tabindex: 0, role: "region", "aria-label": "self-reward shares per particle" },
        el("table", { class: "srp-shares" }, [el("thead", {}, el("tr", {},
        ["particle", "tokens: punct · repeat · other", "Σ log c: punct · repeat · other", "mean log c punct / repeat / other"]
          .map((h) => el("th", {}, h)))), this.shareBody])));
    this.root.replaceChildren(...parts);
  }

  /** One sentence comparing ★'s text with greedy's: what share is punctuation, and what it cost. */
  summary(runs) {
    const run = this.run;
    if (!run.final) return el("p", { class: "srp-hint" }, "The summary appears when the run has finished.");
    const star = classify(logcShares(run, this.reps, run.T)[run.chosen]);
    let text = `★'s text is ${pct(star.tokens[0])} punctuation and line breaks, and ${pct(star.tokens[1])} other tokens ` +
      `inside repeats. Together they cost ★ ${pct(star.costs[0] + star.costs[1])} of its Σ log c: mean log c ` +
      `${fmt(star.mean[0], 2)} per punctuation token, against ${fmt(star.mean[2], 2)} per other word.`;
    const greedy = runs.greedy;
    if (greedy && greedy !== run && greedy.final) {
      const g = classify(logcShares(greedy, this.repsOf(greedy), greedy.T)[0]);
      text += ` Greedy's text: ${pct(g.tokens[0])} punctuation, ${pct(g.tokens[1])} repeats (mean log c ` +
        `${fmt(g.mean[0], 2)} per punctuation token, ${fmt(g.mean[2], 2)} per other word).`;
    }
    if (star.mean[0] > star.mean[2])
      text += " Every step adds Σ log c of what it committed to a particle's log-weight, so particles writing these cheap " +
        "tokens lose less weight and are the ones resampling copies: the self-reward rewards them.";
    return el("p", { class: "srp-callout", id: "srp-lens-summary" }, text);
  }

  starLoops() {
    const run = this.run, star = run.chosen, path = ancestry(run, star);
    const found = loops(run, this.reps, run.T, star);
    if (!found.length) return el("p", {}, `★'s final text repeats no ${this.reps.n}-gram.`);
    const rows = found.slice(0, 20).map((l) => {
      const s = l.step, maker = path[s], copies = [];
      // resampling steps after the loop closed where ★'s line moved rows: the copy from path[r] spread it
      for (let r = s; r < run.T; r++) if (run.resampled[r] && path[r] !== path[r + 1]) copies.push(r);
      let how = "made in ★'s own row, never copied";
      if (copies.length) {
        const r = copies[0], from = path[r], drawn = run.parents[r].filter((a) => a === from).length;
        how = ["first copied after step ", seek(r), ` from particle ${from} (drawn ${drawn}×)`];
        if (copies.length > 1) {
          const last = copies[copies.length - 1];
          how.push(`; ${copies.length} copies in all, the last after step `, seek(last), ` from particle ${path[last]}`);
        }
      }
      return el("tr", {}, [el("td", { class: "srp-span" }, l.words.join(" ")), el("td", {}, `${l.start}–${l.end}`),
        el("td", {}, String(l.first)), el("td", {}, ["step ", seek(s), `, particle ${maker}`]), el("td", {}, how),
        el("td", {}, `${holders(run, l)} of ${run.N}`)]);
    });
    return el("details", { open: true }, [el("summary", {}, `${found.length} loop(s) in ★'s final text`),
      el("div", { class: "srp-scroll srp-loopbox", tabindex: 0, role: "region", "aria-label": "loops in ★'s final text" },
        el("table", { class: "srp-loops" }, [el("thead", {}, el("tr", {},
          ["repeated span", "positions", "first seen at", "closed at (by ★'s ancestor)", "how it reached ★ (who spread it)",
            "final particles with it"].map((h) => el("th", {}, h)))),
        el("tbody", {}, rows)])), found.length > 20 ? el("p", { class: "srp-hint" }, `… and ${found.length - 20} more`) : ""]);
  }

  show(t) {
    const run = this.run;
    if (!run || !this.reps) return;
    t = Math.min(t, run.T);
    const { N, G } = run, reps = this.reps, o = t * N * G, items = [];
    let total = 0;
    for (let k = 0; k < N; k++) for (let g = 0; g < G; g++) {
      const j = o + k * G + g;
      if (reps.first[j] < 0) continue;
      total++;
      if (run.commit[j] === t && items.length < 12) {
        const f = reps.first[j], fo = o + k * G;
        let fs = 0;
        for (let i = f; i < f + reps.n; i++) fs = Math.max(fs, run.commit[fo + i]);
        const words = [];
        for (let i = g - reps.n + 1; i <= g; i++) words.push(display(run.word(run.tokens[fo + i])));
        items.push(el("li", {}, `particle ${k}: “${words.join(" ")}” closed at position ${g}; first at position ${f} ` +
          `(complete since step ${fs})`));
      }
    }
    this.stepBox.replaceChildren(el("p", {}, `Step ${t}: ${total} position(s) in the population close a repeated ` +
      `${reps.n}-gram; ${items.length ? "committed at this step:" : "none was committed at this step."}`),
    items.length ? el("ul", { class: "srp-lineage" }, items) : "");
    const shares = logcShares(run, reps, t), star = run.final ? ancestry(run, run.chosen)[t] : -1;
    // one row per particle, built once per load and updated in place; ★'s row first
    if (!this.shareRows || this.shareRows.length !== N) this.shareRows = [...Array(N).keys()].map(() => shareRow());
    if (this.star !== star) {
      this.star = star;
      setChildren(this.shareBody, [this.shareRows[star >= 0 ? star : 0], ...this.shareRows.filter((_, k) => k !== star && (star >= 0 || k))]);
    }
    this.shareRows.forEach((row, k) => {
      const c = classify(shares[k]);
      row.className = k === star ? "srp-star" : "";
      row.cells[0].textContent = (k === star ? "★ " : "") + k;
      setStack(row.cells[1].firstChild, c.tokens);
      setStack(row.cells[2].firstChild, c.costs);
      row.cells[3].textContent = c.mean.map((m) => fmt(m, 2)).join(" / ");
    });
  }
}

/** How many final particles hold loop `l` (same tokens at its span and at its first occurrence). */
function holders(run, l) {
  const { N, G, T } = run, o = T * N * G, star = o + run.chosen * G;
  let count = 0;
  for (let k = 0; k < N; k++) {
    let same = true;
    for (let g = l.start; g <= l.end && same; g++) same = run.tokens[o + k * G + g] === run.tokens[star + g];
    for (let g = l.first; g <= l.first + l.end - l.start && same; g++) same = run.tokens[o + k * G + g] === run.tokens[star + g];
    count += same;
  }
  return count;
}
