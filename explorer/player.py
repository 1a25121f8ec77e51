"""The browser player, Python side: the Gradio component, how its code reaches the page, the HTML export.

The player is plain ES modules and CSS in `explorer/player/` (no build step). Gradio runs
a component's `js_on_load` as one function body and a `file://` page cannot import
modules, so both the app and the export get the same script: `bundle()` wraps each
module in a function scope in dependency order (imports become reads of the exporting
module's object). plotly.js is the copy the `plotly` Python package ships: served by
Gradio as a static file in the app, inlined in the export.
"""
import html
import json
import re
from functools import cache
from pathlib import Path

import gradio as gr
import plotly

from explorer.payload import payload
from sampler.trace import Trace

PLAYER_DIR = Path(__file__).resolve().parent / "player"
PLOTLY_JS = Path(plotly.__file__).resolve().parent / "package_data" / "plotly.min.js"
ENTRY = "player"
MOUNT = '<div class="srp-mount"></div>'

_IMPORT = re.compile(r'^import\s*\{([^}]*)\}\s*from\s*"\./([\w-]+)\.js";\s*$', re.M)
_EXPORT = re.compile(r"^export\s+(?:async\s+)?(function|class|const|let)\s+(\w+)", re.M)


def _module_name(stem: str) -> str:
    return "__srp_" + stem.replace("-", "_")


@cache
def bundle() -> str:
    """All player modules as one classic script defining the global `SRPlayer` (the entry module's exports)."""
    sources = {p.stem: p.read_text() for p in sorted(PLAYER_DIR.glob("*.js"))}
    order: list[str] = []

    def visit(stem: str, stack: tuple[str, ...] = ()) -> None:
        if stem in order:
            return
        if stem in stack:
            raise ValueError(f"player modules import each other in a cycle: {' → '.join((*stack, stem))}")
        if stem not in sources:
            raise ValueError(f"player module {stem}.js is imported but missing")
        for _, dep in _IMPORT.findall(sources[stem]):
            visit(dep, (*stack, stem))
        order.append(stem)

    visit(ENTRY)
    parts = ["const SRPlayer = (() => {"]
    for stem in order:
        src = sources[stem]
        imports = [f"const {{{names.strip()}}} = {_module_name(dep)};" for names, dep in _IMPORT.findall(src)]
        exported = [name for _, name in _EXPORT.findall(src)]
        body = _EXPORT.sub(lambda m: m.group(0).replace("export ", "", 1), _IMPORT.sub("", src))
        parts.append(f"const {_module_name(stem)} = (() => {{ // {stem}.js\n" + "\n".join(imports) + "\n" + body
                     + f"\nreturn {{{', '.join(exported)}}};\n}})();")
    parts.append(f"return {_module_name(ENTRY)};\n}})();")
    return "\n".join(parts)


@cache
def css() -> str:
    """The player's stylesheet."""
    return (PLAYER_DIR / "player.css").read_text()


def plotly_url() -> str:
    """Where the app serves plotly.js (registered as a static file by `player()`)."""
    return f"/gradio_api/file={PLOTLY_JS}"


def player(value: dict | None = None, **kwargs) -> gr.HTML:
    """The player as a `gr.HTML` whose value is a `payload(...)` dict (or None: nothing loaded).

    The template is static, so a new value never rebuilds the DOM: the script watches
    `value` and replays the new runs. kwargs go to `gr.HTML` (elem_id defaults to "sx-player").
    """
    gr.set_static_paths([PLOTLY_JS])
    kwargs.setdefault("elem_id", "sx-player")
    return gr.HTML(value, html_template=MOUNT, css_template=css(), head=f'<script src="{plotly_url()}"></script>',
                   js_on_load=bundle() + "\nSRPlayer.mountGradio(element, props, watch);", **kwargs)


# What JSON text may not hold raw inside a <script> element: `<` and `>` (`</script>`, `<!--`, `-->` change how
# the HTML parser reads the element), `&`, and U+2028/U+2029 (line terminators to older JavaScript parsers).
_SCRIPT_ESCAPES = {ord("<"): "\\u003c", ord(">"): "\\u003e", ord("&"): "\\u0026", 0x2028: "\\u2028", 0x2029: "\\u2029"}


def script_json(data) -> str:
    """`data` as JSON text that is safe anywhere inside a <script> element and still parses to `data`: the
    characters above only occur inside JSON strings, where their \\uXXXX escapes mean the same. Raises
    ValueError on NaN or infinity (JSON.parse would reject them)."""
    return json.dumps(data, separators=(",", ":"), allow_nan=False).translate(_SCRIPT_ESCAPES)


def export_html(traces: dict[str, Trace], title: str | None = None, subtitle: str = "",
                source: str | None = None, compare: list[Trace] = ()) -> str:
    """One self-contained HTML page (player, plotly.js, the runs) that plays from file:// with no network;
    `title` heads it (and names the tab), `subtitle` (the runs' settings) is a line under it, `source` the
    bundled example's name when the runs are one, `compare` runs shown side by side (see `payload`)."""
    title = title or "SR-SMC run"
    esc = html.escape(title)
    plotly_js = PLOTLY_JS.read_text().replace("</script", "<\\/script")
    return (f'<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1"><title>{esc}</title>'
            f"<style>body {{margin: 8px;}}\n{css()}</style>\n<script>{plotly_js}</script>\n</head><body>"
            f'<h1 style="font: 600 18px system-ui, sans-serif">{esc}</h1>'
            + (f'<p style="font: 13px system-ui, sans-serif; margin: 0 0 8px">{html.escape(subtitle)}</p>'
               if subtitle else "")
            + f'{MOUNT}'
            '<script type="application/json" id="srp-data">'
            f'{script_json(payload(traces, source=source, compare=compare))}</script>\n'
            f"<script>{bundle()}\nSRPlayer.mountStatic(document.querySelector('.srp-mount'), "
            "JSON.parse(document.getElementById('srp-data').textContent));</script></body></html>")
