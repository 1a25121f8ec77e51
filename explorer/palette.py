"""Colour-blind-safe colours: Okabe-Ito for categories, viridis for confidence."""
import numpy as np

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermilion": "#D55E00", "purple": "#CC79A7",
}
LINEAGE = [OKABE_ITO[k] for k in ("blue", "orange", "green", "purple", "sky_blue", "vermilion", "yellow")]
MASK_GREY = "#D9D9D9"
EDGE_GREY = "#BBBBBB"
CURSOR = OKABE_ITO["black"]
RESAMPLE = OKABE_ITO["vermilion"]
REPEAT = OKABE_ITO["vermilion"]

# viridis at 0, 1/8, ..., 1 (perceptually uniform and colour-blind safe)
_VIRIDIS = ["#440154", "#472D7B", "#3B528B", "#2C728E", "#21918C", "#28AE80", "#5EC962", "#ADDC30", "#FDE725"]
_VIRIDIS_RGB = np.array([[int(h[i:i + 2], 16) for i in (1, 3, 5)] for h in _VIRIDIS], dtype=float)
CONFIDENCE_SCALE = [[i / (len(_VIRIDIS) - 1), h] for i, h in enumerate(_VIRIDIS)]  # Plotly colorscale


LINEAGE_SCALE = [[i / (len(LINEAGE) - 1), c] for i, c in enumerate(LINEAGE)]  # index i/(7-1) -> colour i


def lineage_colour(root: int) -> str:
    """Colour of the initial particle `root` descends from (cycles after 7)."""
    return LINEAGE[int(root) % len(LINEAGE)]


def lineage_index(roots: np.ndarray) -> np.ndarray:
    """Index `[...]` into `LINEAGE` / `LINEAGE_SCALE` (cmin 0, cmax 6) of initial particles `roots [...]`."""
    return np.asarray(roots) % len(LINEAGE)


def confidence_rgb(p: np.ndarray) -> np.ndarray:
    """Viridis RGB `[..., 3]` (0-255) of probabilities `p [...]` in [0, 1]."""
    x = np.clip(np.nan_to_num(np.asarray(p, dtype=float)), 0.0, 1.0) * (len(_VIRIDIS) - 1)
    lo = np.minimum(x.astype(int), len(_VIRIDIS) - 2)
    frac = (x - lo)[..., None]
    return _VIRIDIS_RGB[lo] * (1 - frac) + _VIRIDIS_RGB[lo + 1] * frac


def confidence_hex(p: np.ndarray) -> np.ndarray:
    """Viridis `#rrggbb` strings `[...]` of probabilities `p [...]`."""
    rgb = np.rint(confidence_rgb(p)).astype(int)
    flat = rgb.reshape(-1, 3)
    return np.array([f"#{r:02X}{g:02X}{b:02X}" for r, g, b in flat]).reshape(rgb.shape[:-1])


def text_on(p: np.ndarray) -> np.ndarray:
    """Black or white text `[...]` readable on the confidence colour of `p [...]`."""
    r, g, b = np.moveaxis(confidence_rgb(p), -1, 0)
    return np.where(0.299 * r + 0.587 * g + 0.114 * b > 140, "#000", "#fff")
