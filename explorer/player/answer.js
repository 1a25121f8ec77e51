// The answer first: the final texts of greedy, SR-SMC's ★ and best-of-N's ★ side by side, words that differ
// from the others marked; under them every final particle with its score, ★ first; then metrics that say
// what they measure (the chosen text alone, or pooled over the distinct final texts).
import { el, fmt } from "./dom.js";

const ORDER = ["greedy", "sr-smc", "best-of-n"];

/** Words of a text (whitespace-separated, line breaks kept as "↵"). */
export function splitWords(text) {
  return text.replace(/\n/g, " ↵ ").split(/\s+/).filter(Boolean);
}

/** For words `a` and `b`, whether each word of `a` lies in a longest common subsequence with `b` ([len a] bool). */
export function common(a, b) {
  const m = a.length, n = b.length, L = Array.from({ length: m + 1 }, () => new Uint16Array(n + 1));
  for (let i = m - 1; i >= 0; i--) for (let j = n - 1; j >= 0; j--)
    L[i][j] = a[i] === b[j] ? L[i + 1][j + 1] + 1 : Math.max(L[i + 1][j], L[i][j + 1]);
  const keep = new Array(m).fill(false);
  for (let i = 0, j = 0; i < m && j < n;) {
    if (a[i] === b[j]) { keep[i] = true; i++; j++; } else if (L[i + 1][j] >= L[i][j + 1]) i++; else j++;
  }
  return keep;
}

function marked(words, others) {
  const keeps = others.map((o) => common(words, o));
  return el("p", { class: "srp-text" }, words.flatMap((w, i) => {
    const same = keeps.every((k) => k[i]);
    return [same ? w : el("mark", { title: "differs from the other answer(s)" }, w), " "];
  }));
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
  const cols = present.map((r) => {
    const run = runs[r];
    const head = r === "greedy" ? "greedy (confidence order, one sample)" : `${run.label} ★ (particle ${run.chosen} of ${run.N})`;
    return el("div", { class: "srp-answer-col", "data-run": r }, [el("h4", {}, head),
      marked(words[r], present.filter((o) => o !== r).map((o) => words[o]))]);
  });
  const parts = [el("h3", {}, "The answer"), el("div", { class: "srp-answer-cols" }, cols),
    el("p", { class: "srp-hint" }, "Highlighted words differ from the other answer(s) (word-level alignment).")];
  for (const r of present.filter((r) => runs[r].N > 1)) parts.push(particleList(runs[r]));
  parts.push(metricsTable(present.map((r) => runs[r])));
  root.replaceChildren(...parts);
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
