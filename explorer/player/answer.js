// The answer first: the final texts of greedy, SR-SMC's ★ and best-of-N's ★ side by side, words that differ
// from the others marked; under them every final particle with its score, ★ first; then metrics that say
// what they measure (the chosen text alone, or pooled over the distinct final texts).
import { el, fmt, setChildren } from "./dom.js";
import { otherSamplerNote } from "./alternatives.js";

const ORDER = ["greedy", "sr-smc", "best-of-n"];

/** Words of a text (whitespace-separated, line breaks kept as "↵"). */
export function splitWords(text) {
  return text.replace(/\n/g, " ↵ ").split(/\s+/).filter(Boolean);
}

// The word diff is Myers' O((N+M)·D) algorithm, bounded: at most MAX_EDITS edits (its trace holds ~D² numbers)
// and MAX_WORK steps; past either the texts are shown plainly, marked "too long to compare".
export const MAX_EDITS = 1000;
export const MAX_WORK = 4_000_000;

/** For words `a` and `b`, whether each word of `a` lies in a longest common subsequence with `b` ([len a] bool),
 *  or null when they differ by more than `maxEdits` words or the search passes `maxWork` steps. */
export function common(a, b, maxEdits = MAX_EDITS, maxWork = MAX_WORK) {
  const keep = new Array(a.length).fill(false);
  let lo = 0, hiA = a.length, hiB = b.length;
  while (lo < hiA && lo < hiB && a[lo] === b[lo]) keep[lo++] = true;  // common prefix and suffix: no search
  while (hiA > lo && hiB > lo && a[hiA - 1] === b[hiB - 1]) { keep[--hiA] = true; hiB--; }
  const N = hiA - lo, M = hiB - lo, max = Math.min(N + M, maxEdits), off = max + 1;
  const v = new Int32Array(2 * max + 3), trace = [];  // v[off + k]: furthest x on diagonal k = x - y
  let work = 0;
  for (let d = 0; d <= max; d++) {
    trace.push(v.slice(off - d - 1, off + d + 2));  // v before round d, diagonals -d-1..d+1
    for (let k = -d; k <= d; k += 2) {
      let x = k === -d || (k !== d && v[off + k - 1] < v[off + k + 1]) ? v[off + k + 1] : v[off + k - 1] + 1, y = x - k;
      const x0 = x;
      while (x < N && y < M && a[lo + x] === b[lo + y]) { x++; y++; }
      work += 1 + x - x0;
      v[off + k] = x;
      if (x >= N && y >= M) { backtrack(trace, d, N, M, lo, keep); return keep; }
    }
    if (work > maxWork) return null;
  }
  return null;
}

/** Mark the diagonal moves (kept words) of the path that reached (N, M) in `d` edits. */
function backtrack(trace, d, x, y, lo, keep) {
  for (; d > 0; d--) {
    const at = trace[d], k = x - y, w = (i) => at[i + d + 1];
    const down = k === -d || (k !== d && w(k - 1) < w(k + 1));  // came from diagonal k+1 (a word of b inserted)
    const px = down ? w(k + 1) : w(k - 1), mid = down ? px : px + 1;
    for (let i = mid; i < x; i++) keep[lo + i] = true;
    x = px; y = px - (down ? k + 1 : k - 1);
  }
  for (let i = 0; i < x; i++) keep[lo + i] = true;
}

/** Words of `words` not in a common subsequence with every one of `others` marked (their title adds `note(i)`, if
 *  given: what the other sampler had there); null if a diff is too long. */
function marked(words, others, note) {
  const keeps = [];
  for (const o of others) {
    const k = common(words, o);
    if (!k) return null;
    keeps.push(k);
  }
  const parts = [];
  let plain = "";
  words.forEach((w, i) => {
    if (keeps.every((k) => k[i])) { plain += w + " "; return; }
    if (plain) parts.push(plain);
    const other = note ? note(i) : "";
    parts.push(el("mark", { title: "differs from the other answer(s)" + (other ? `\n${other}` : "") }, w));
    plain = " ";
  });
  if (plain) parts.push(plain);
  return el("p", { class: "srp-text" }, parts);
}

/** Total log-confidence of each final particle's generated tokens [N] (own and inherited). */
export function totalLogc(run) {
  const out = new Array(run.N).fill(0), o = run.T * run.N * run.G;
  for (let k = 0; k < run.N; k++) for (let g = 0; g < run.G; g++) {
    const v = run.logc[o + k * run.G + g];
    if (Number.isFinite(v)) out[k] += v;
  }
  return out;
}

export function renderAnswer(root, runs) {
  const present = ORDER.filter((r) => runs[r] && runs[r].final);
  if (!present.length) { root.replaceChildren(); return; }
  const words = Object.fromEntries(present.map((r) => [r, splitWords(runs[r].final.texts[runs[r].chosen])]));
  let compared = true;
  const cols = present.map((r) => {
    const run = runs[r];
    const head = r === "greedy" ? "greedy (confidence order, one sample)" : `${run.label} ★ (particle ${run.chosen} of ${run.N})`;
    const other = runs[r === "greedy" ? present.find((o) => o !== "greedy") : "greedy"];
    let text = compared && marked(words[r], present.filter((o) => o !== r).map((o) => words[o]),
      otherSamplerNote(run, words[r], other));
    if (!text) { compared = false; text = el("p", { class: "srp-text" }, runs[r].final.texts[runs[r].chosen]); }
    return el("div", { class: "srp-answer-col", "data-run": r }, [el("h4", {}, head), text]);
  });
  if (!compared) {  // one pair was too long to compare: show every text plainly, none half-marked
    cols.forEach((c, i) => c.lastChild.replaceWith(el("p", { class: "srp-text" }, runs[present[i]].final.texts[runs[present[i]].chosen])));
  }
  const hint = present.length < 2 ? "" : compared ? "Highlighted words differ from the other answer(s) (word-level alignment)."
    : `Too long to compare word by word (more than ${MAX_EDITS.toLocaleString("en")} differing words, or texts too long): ` +
      "the answers are shown plainly.";
  const parts = [el("h3", {}, "The answer"), el("div", { class: "srp-answer-cols" }, cols),
    el("p", { class: "srp-hint", id: "srp-answer-hint" }, hint)];
  for (const r of present.filter((r) => runs[r].N > 1)) parts.push(particleList(runs[r]));
  parts.push(metricsTable(present.map((r) => runs[r])));
  setChildren(root, parts);
}

function particleList(run) {
  const f = run.final, order = [...Array(run.N).keys()].sort((a, b) => (a === run.chosen ? -1 : b === run.chosen ? 1 : f.scores[b] - f.scores[a]));
  const seen = new Map();
  const rows = order.map((k) => {
    const text = f.texts[k], dup = seen.get(text);
    if (dup === undefined) seen.set(text, k);
    return el("tr", { class: k === run.chosen ? "srp-star" : "", "data-particle": k }, [
      el("td", {}, (k === run.chosen ? "★ " : "") + k), el("td", {}, fmt(f.scores[k], 2)),
      el("td", {}, dup === undefined ? text : `(same text as particle ${dup})`)]);
  });
  return el("details", { class: "srp-particles", open: run.N <= 8 }, [
    el("summary", {}, `Every ${run.label} particle's final text and score (${run.config.final_pick}), ★ first — ` +
      `${seen.size} distinct of ${run.N}`),
    el("div", { class: "srp-scroll", tabindex: 0, role: "region", "aria-label": "final texts" }, el("table", {}, [el("thead", {}, el("tr", {}, [el("th", {}, "particle"),
      el("th", {}, "score"), el("th", {}, "text")])), el("tbody", {}, rows)]))]);
}

function metricsTable(runs) {
  const rows = [
    ["particles N", (r) => r.N],
    ["total log-confidence of the chosen text", (r) => fmt(totalLogc(r)[r.chosen], 2)],
    ["repeated 3-gram rate of the chosen text", (r) => fmt(r.metrics?.chosen.repeated_3gram_rate, 3)],
    ["distinct-2 of the chosen text", (r) => fmt(r.metrics?.chosen.distinct_2, 3)],
    ["distinct final texts (of N)", (r) => r.metrics ? `${r.metrics.distinct_texts} of ${r.metrics.n_texts}` : "–"],
    ["distinct-2 pooled over the distinct final texts", (r) => fmt(r.metrics?.pooled_distinct.distinct_2, 3)],
    ["unigram entropy (bits), pooled over the distinct final texts", (r) => fmt(r.metrics?.pooled_distinct.unigram_entropy, 2)],
    ["initial particles with descendants at the end", (r) => new Set(r.roots[r.T]).size],
    ["resampling steps", (r) => r.resampled.filter(Boolean).length],
    ["model forwards (rows × steps)", (r) => r.d.stats?.forwards ?? "–"],
    ["wall time (s)", (r) => fmt(r.d.stats?.wall_time_s, 2)],
  ];
  return el("div", { class: "srp-scroll", tabindex: 0, role: "region", "aria-label": "metrics" }, el("table", { class: "srp-metrics" }, [
    el("thead", {}, el("tr", {}, [el("th", {}, "measure"), ...runs.map((r) => el("th", {}, r.label))])),
    el("tbody", {}, rows.map(([name, f]) => el("tr", {}, [el("td", {}, name), ...runs.map((r) => el("td", {}, String(f(r))))])))]));
}
