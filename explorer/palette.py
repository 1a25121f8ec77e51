"""Colour-blind-safe category colours (Okabe-Ito) for the Python plots; the player's colours are in
explorer/player/palette.js."""

OKABE_ITO = {
    "black": "#000000", "orange": "#E69F00", "sky_blue": "#56B4E9", "green": "#009E73",
    "yellow": "#F0E442", "blue": "#0072B2", "vermilion": "#D55E00", "purple": "#CC79A7",
}
