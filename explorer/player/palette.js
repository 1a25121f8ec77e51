// Colour-blind-safe colours: Okabe-Ito for categories, viridis for confidence; text colour by WCAG contrast.

export const OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"];
export const MASK_GREY = "#D9D9D9";
export const EDGE_GREY = "#C8C8C8";
export const DEAD_GREY = "#E3E3E3";
export const LIVE_GREY = "#8C8C8C";
export const CURSOR = "#000000";
export const RESAMPLE = "#D55E00";
export const THRESHOLD = "#E69F00";
export const ESS_BLUE = "#0072B2";
export const REPEAT = "#D55E00";

// viridis at 0, 1/8, ..., 1 (perceptually uniform and colour-blind safe)
const VIRIDIS = ["#440154", "#472D7B", "#3B528B", "#2C728E", "#21918C", "#28AE80", "#5EC962", "#ADDC30", "#FDE725"];
const VIRIDIS_RGB = VIRIDIS.map(hexRgb);
export const VIRIDIS_SCALE = VIRIDIS.map((c, i) => [i / (VIRIDIS.length - 1), c]);

export function hexRgb(h) {
  return [1, 3, 5].map((i) => parseInt(h.slice(i, i + 2), 16));
}

function rgbHex(rgb) {
  return "#" + rgb.map((v) => Math.round(v).toString(16).padStart(2, "0")).join("").toUpperCase();
}

/** Viridis colour "#RRGGBB" of a probability p in [0, 1]. */
export function viridis(p) {
  const x = Math.min(Math.max(Number.isFinite(p) ? p : 0, 0), 1) * (VIRIDIS.length - 1);
  const lo = Math.min(Math.floor(x), VIRIDIS.length - 2), f = x - lo;
  return rgbHex(VIRIDIS_RGB[lo].map((v, i) => v * (1 - f) + VIRIDIS_RGB[lo + 1][i] * f));
}

/** WCAG relative luminance of "#RRGGBB". */
export function luminance(hex) {
  const [r, g, b] = hexRgb(hex).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

export function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

/** Black or white, whichever contrasts more with background `hex` (always ≥ 4.58:1). */
export function inkOn(hex) {
  return contrast(hex, "#000000") >= contrast(hex, "#FFFFFF") ? "#000000" : "#FFFFFF";
}

/** `k` distinct colour-blind-safe colours: Okabe-Ito while it lasts, else evenly spaced viridis. */
export function distinctColours(k) {
  if (k <= OKABE_ITO.length) return OKABE_ITO.slice(0, k);
  return Array.from({ length: k }, (_, i) => viridis(i / (k - 1)));
}
