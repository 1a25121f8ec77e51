// "Why this particle": the final-pick rule in use, the scores it compared, ★'s lineage (the resampling steps
// where its line was copied, and from whom) and its weight history; when the heaviest particle is not ★, why.
import { CONFIG, layout, plotly } from "./charts.js";
import { CURSOR, RESAMPLE } from "./palette.js";
import { ancestry, argmax } from "./data.js";
import { el, fmt, seek } from "./dom.js";

const RULES = {
  sum_logp: "★ is the particle with the highest total log-confidence Σ log c over all its generated tokens — its own " +
    "and those it inherited through resampling (the reference code's rule). Not the weight: weights restart at 0 " +
    "after every resampling, so they only count the steps since the last one.",
  mean_logp: "★ is the particle with the highest mean log-confidence per generated token (own and inherited).",
  max_weight: "★ is the particle with the highest final weight (the paper's rule): the log-confidence it " +
    "committed since the last resampling.",
};

export function renderWhy(root, chartDiv, run) {
  if (!run || !run.final || run.N < 2) { root.replaceChildren(); chartDiv.replaceChildren(); chartDiv.hidden = true; return; }
  chartDiv.hidden = false;
  const { N, T, final } = run, star = run.chosen, rule = run.config.final_pick || "sum_logp";
  const w = run.weights[T], heavy = argmax(w);
  const ranked = [...Array(N).keys()].sort((a, b) => final.scores[b] - final.scores[a]);
  const scores = el("table", { class: "srp-scores" }, [
    el("thead", {}, el("tr", {}, ["rank", "particle", `score (${rule})`, "final w̄", "log w"].map((h) => el("th", {}, h)))),
    el("tbody", {}, ranked.map((k, i) => el("tr", { class: k === star ? "srp-star" : "" }, [
      el("td", {}, i + 1), el("td", {}, (k === star ? "★ " : "") + k + (k === heavy ? " (heaviest)" : "")),
      el("td", {}, fmt(final.scores[k], 2)), el("td", {}, fmt(w[k], 3)), el("td", {}, fmt(run.logw[T][k], 2))])))]);
  const path = ancestry(run, star), events = [];
  for (let s = 1; s < T; s++) {
    if (!run.resampled[s]) continue;
    const from = path[s], to = path[s + 1], copies = run.parents[s].filter((a) => a === from).length;
    events.push(el("li", {}, ["after step ", seek(s), ` (ESS ${fmt(run.ess[s], 2)} < ${fmt(run.kappa * N, 2)}): ★'s line ` +
      (from === to ? `stayed in row ${to}` : `was copied from particle ${from} into row ${to}`) +
      ` — particle ${from} had w̄ ${fmt(run.weights[s][from], 3)} and was drawn ${copies}×`]));
  }
  const lastReset = [...Array(T).keys()].filter((s) => run.resampled[s]).pop();
  const parts = [el("h3", {}, `Why ★ = particle ${star}`), el("p", {}, RULES[rule] || `Final pick rule: ${rule}.`)];
  if (heavy !== star) {
    parts.push(el("p", { class: "srp-callout" }, `The heaviest particle at the end is ${heavy} (w̄ ${fmt(w[heavy], 3)}), ` +
      `not ★ (w̄ ${fmt(w[star], 3)}). ` + (rule === "max_weight" ? "" :
      `Its weight only counts the log-confidence committed since the last resampling` +
      (lastReset ? ` (after step ${lastReset})` : "") + `, while the score counts the whole text: ` +
      `${fmt(final.scores[heavy], 2)} for ${heavy} against ${fmt(final.scores[star], 2)} for ★.`)));
  } else parts.push(el("p", {}, `★ is also the heaviest particle at the end (w̄ ${fmt(w[star], 3)}).`));
  parts.push(el("div", { class: "srp-whygrid" }, [el("div", { class: "srp-scroll srp-tall", tabindex: 0, role: "region", "aria-label": "final scores" }, scores), el("div", {}, [
    el("h4", {}, `★'s lineage: ${events.length ? `copied or kept at ${events.length} resampling step(s)` : "never resampled"}`),
    events.length ? el("ul", { class: "srp-lineage" }, events) : ""])]));
  parts.push(el("p", { class: "srp-hint" }, "Δ log w = Σ log c of the tokens a step committed, so it is always ≤ 0: every " +
    "particle loses weight, confident ones lose less and so gain relative weight. The last step never resamples."));
  root.replaceChildren(...parts);
  const steps = [...Array(T + 1).keys()];
  const events_ = steps.filter((s) => run.resampled[s] && s < T);
  plotly().newPlot(chartDiv, [
    { x: steps, y: steps.map((s) => run.weights[s][path[s]]), mode: "lines", name: "★'s line w̄",
      line: { color: CURSOR }, hovertemplate: "step %{x}: w̄ %{y:.3f}<extra></extra>" },
    { x: events_, y: events_.map((s) => run.weights[s][path[s]]), mode: "markers", name: "resampled after",
      marker: { symbol: "x", color: RESAMPLE, size: 8 }, hovertemplate: "step %{x}: resampled after this step<extra></extra>" },
  ], layout("w̄ of the row holding ★'s line, per step", 220, { title: { text: "step" } },
    { title: { text: "w̄" }, range: [0, 1.05] }), CONFIG);
}
