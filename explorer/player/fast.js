// Per-step restyling of drawn Plotly figures without a Plotly redraw.
//
// Plotly.restyle / relayout recompute and redraw a whole figure (200+ ms for a 2,000-node tree). A step change
// only moves a cursor shape, recolours markers or re-cuts a line, so these helpers write the new values into
// the figure's data/layout (so any later Plotly redraw — zoom, resize — draws the same state) and patch the
// SVG elements Plotly drew, synchronously (they return null). If the elements are not there (figure not drawn
// yet), they fall back to Plotly and return its promise.
import { plotly } from "./charts.js";

function pixel(gd, ref, v, axisLetter) {
  const fl = gd._fullLayout, size = fl._size;
  if (ref === "paper") return axisLetter === "x" ? size.l + size.w * v : size.t + size.h * (1 - v);
  const ax = fl[ref.replace(/^([xy])(\d*)$/, (_, a, n) => (a === "x" ? "xaxis" : "yaxis") + n)];
  return ax._offset + ax.r2p(v);
}

/** SVG path of a line or rect shape in page pixels (as Plotly draws it). */
export function shapePath(gd, s) {
  const xr = s.xref || "x", yr = s.yref || "y";
  const x0 = pixel(gd, xr, s.x0, "x"), x1 = pixel(gd, xr, s.x1, "x");
  const y0 = pixel(gd, yr, s.y0, "y"), y1 = pixel(gd, yr, s.y1, "y");
  return s.type === "rect" ? `M${x0},${y0}H${x1}V${y1}H${x0}Z` : `M${x0},${y0}L${x1},${y1}`;
}

/** Set fields of layout shape i and move its drawn path. */
export function moveShape(gd, i, changes) {
  Object.assign(gd.layout.shapes[i], changes);
  const full = gd._fullLayout && gd._fullLayout.shapes && gd._fullLayout.shapes[i];
  const path = gd.querySelector(`.shapelayer path[data-index="${i}"]`);
  if (!full || !path) {
    return plotly().relayout(gd, Object.fromEntries(Object.entries(changes).map(([k, v]) => [`shapes[${i}].${k}`, v])));
  }
  Object.assign(full, changes);
  path.setAttribute("d", shapePath(gd, full));
  return null;
}

/** The drawn marker elements of trace `index`, by point index. */
export function markerElements(gd, index) {
  const layer = gd.querySelectorAll(".scatterlayer .trace")[index];
  const out = [];
  if (!layer) return out;
  for (const p of layer.querySelectorAll("path.point")) if (p.__data__) out[p.__data__.i] = p;
  return out;
}

/** Recolour the markers of trace `index` to `colours` [n], touching only those that change. */
export function recolour(gd, index, colours, elements) {
  const trace = gd.data[index], old = trace.marker.color;
  trace.marker.color = colours;
  const full = gd._fullData && gd._fullData[index];
  if (full) full.marker.color = colours;
  for (let i = 0; i < colours.length; i++) {
    if (Array.isArray(old) && old[i] === colours[i]) continue;
    const e = elements[i];
    if (e) e.style.fill = colours[i];
  }
}

/** Replace the points of a lines-only trace `index` and redraw its path. */
export function reline(gd, index, x, y) {
  gd.data[index].x = x; gd.data[index].y = y;
  const layer = gd.querySelectorAll(".scatterlayer .trace")[index];
  const path = layer && layer.querySelector("path.js-line");
  const fl = gd._fullLayout;
  if (!path) return plotly().restyle(gd, { x: [x], y: [y] }, [index]);
  path.setAttribute("d", x.length ? "M" + x.map((v, i) => `${fl.xaxis.r2p(v)},${fl.yaxis.r2p(y[i])}`).join("L") : "");
  return null;
}
