// Plotly helpers shared by the chart views: compact layout, config, the step cursor, family colours.
import { CURSOR, DEAD_GREY, LIVE_GREY, OKABE_ITO, distinctColours } from "./palette.js";
import { ancestorsAt, descendants } from "./data.js";

// No modebar: it offered "share to Plotly Cloud" (the network, from an offline tool), put its buttons in the tab
// order and covered chart titles on phones. Drag still zooms, double-click resets.
export const CONFIG = { displaylogo: false, displayModeBar: false, responsive: true, showLink: false,
  showSendToCloud: false, showEditInChartStudio: false };

/** Call `onSeek(step)` when a point of chart `gd` is clicked; `axis` holds the step ("x" or "y"). */
export function clickToSeek(gd, onSeek, axis = "x") {
  if (gd.removeAllListeners) gd.removeAllListeners("plotly_click");
  gd.on("plotly_click", (ev) => {
    const p = ev && ev.points && ev.points[0];
    if (p && Number.isFinite(Number(p[axis]))) onSeek(Math.round(Number(p[axis])));
  });
}

export function plotly() {
  const P = globalThis.Plotly;
  if (!P) throw new Error("plotly.js is not loaded");
  return P;
}

export function layout(title, height, xaxis, yaxis, extra = {}) {
  const axis = { gridcolor: "#EBEBEB", zeroline: false, linecolor: "#888", ticks: "outside", tickcolor: "#888" };
  return {
    title: { text: title, x: 0.01, font: { size: 13 } }, height, paper_bgcolor: "white", plot_bgcolor: "white",
    font: { size: 11 }, margin: { l: 50, r: 20, t: 36, b: 40 }, showlegend: false,
    xaxis: { ...axis, ...xaxis }, yaxis: { ...axis, ...yaxis }, hoverlabel: { font: { size: 11 } }, ...extra,
  };
}

/** A dashed line at step t: vertical on an x step axis, horizontal on a y one. Shape 0 of every chart. */
export function cursorShape(t, axis = "x") {
  const line = { color: CURSOR, width: 1.5, dash: "dash" };
  return axis === "x" ? { type: "line", x0: t, x1: t, y0: 0, y1: 1, yref: "paper", line, name: "cursor" }
    : { type: "line", y0: t, y1: t, x0: 0, x1: 1, xref: "paper", line, name: "cursor" };
}

/** Families at cursor step t: each particle of frame t with descendants at the last step gets its own colour
 *  (Okabe-Ito without black, or evenly spaced viridis past 7); the rest are grey. Returns the colour of every
 *  node (s, k) [(T+1)·N] — s ≥ t: its ancestor's family; s < t: dark grey if it has descendants at t — and the
 *  colour of each particle at t [N]. */
export function families(run, t) {
  const alive = descendants(run, t)[t], N = run.N;
  const ids = [];
  for (let k = 0; k < N; k++) if (alive[k]) ids.push(k);
  const palette = ids.length <= 7 ? OKABE_ITO.slice(0, 7) : distinctColours(ids.length);
  const colourOf = new Array(N).fill(DEAD_GREY);
  ids.forEach((k, i) => { colourOf[k] = palette[i]; });
  const anc = ancestorsAt(run, t), nodes = new Array((run.T + 1) * N);
  const back = t > 0 ? descendants(run, 0, t) : null;
  for (let s = 0; s <= run.T; s++) for (let k = 0; k < N; k++) {
    const i = s * N + k;
    nodes[i] = s >= t ? colourOf[anc[i]] : back[s][k] ? LIVE_GREY : DEAD_GREY;
  }
  return { nodes, particles: colourOf, count: ids.length };
}
