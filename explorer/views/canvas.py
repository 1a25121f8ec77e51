"""The token canvas: every particle's generated positions at one step, as fixed-width HTML cells.

A cell is a grey block while masked; once committed it shows the token on its confidence
colour (viridis), outlined if committed at this very step, hatched with a dashed border if
it was inherited through resampling, and underlined in vermilion inside a repeated n-gram.
Cells have a fixed size, so the layout never reflows between steps.
"""
from html import escape

import numpy as np

from explorer import palette
from explorer.runs import REPEAT_N, Frame

CANVAS_CSS = f"""
.sx-canvas {{font-family: ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; font-size: 12px;
  max-height: 560px; overflow-y: auto; padding: 4px;}}
.sx-head {{font-weight: 600; margin-bottom: 4px;}}
.sx-prompt {{color: #555; margin-bottom: 6px; white-space: pre-wrap;}}
.sx-particle {{margin: 0 0 8px 0; padding-left: 6px; border-left: 3px solid transparent;}}
.sx-particle.sx-selected {{border-left-color: {palette.CURSOR};}}
.sx-plabel {{margin-bottom: 2px;}}
.sx-chip {{display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: middle;}}
.sx-cells {{display: grid; grid-template-columns: repeat(auto-fill, 5.6em); gap: 2px;}}
.sx-c {{position: relative; box-sizing: border-box; width: 5.6em; height: 1.7em; line-height: 1.5em;
  padding: 0 3px; overflow: hidden; white-space: nowrap; text-overflow: ellipsis;
  border: 1px solid transparent; border-radius: 2px;}}
.sx-m {{background: {palette.MASK_GREY};}}
.sx-now {{box-shadow: inset 0 0 0 2px #000, inset 0 0 0 3px #fff;}}
.sx-inh {{border: 1px dashed #000; background-image: repeating-linear-gradient(
  135deg, rgba(255,255,255,.3) 0 1.5px, transparent 1.5px 7px);}}
.sx-rep::after {{content: ""; position: absolute; left: 0; right: 0; bottom: 0; height: 3px;
  background: {palette.REPEAT};}}
.sx-legend {{display: flex; flex-wrap: wrap; gap: 14px; align-items: center; font-size: 12px;}}
.sx-legend .sx-c {{width: 3.2em; display: inline-block; vertical-align: middle; margin-right: 4px;}}
.sx-bar {{display: inline-block; width: 160px; height: 12px; vertical-align: middle; margin: 0 4px;
  background: linear-gradient(to right, {", ".join(f"{c} {100 * x:.0f}%" for x, c in palette.CONFIDENCE_SCALE)});}}
"""


def canvas_html(frame: Frame, selected: int | None = None) -> str:
    """HTML of all particles `[N]` of `frame`, generated positions `[G]` each; `selected` gets a bar."""
    run, state, t = frame.run, frame.state, frame.t
    gen = run.gen
    masked, commit, inherited = state.masked[:, gen], state.commit_step[:, gen], state.inherited[:, gen]
    prob = np.exp(state.log_conf[:, gen])  # NaN where masked
    fill, ink = palette.confidence_hex(prob), palette.text_on(prob)
    words = frame.token_text(frame.generated_tokens())
    weights, roots = frame.weights, state.roots
    resampled = " · resampled after this step" if run.resampled[t] else ""
    parts = [f'<div class="sx-canvas" data-run="{run.role}" data-step="{t}">',
             f'<div class="sx-head">{escape(run.label)} · step {t} / {run.n_steps}{resampled}</div>',
             f'<div class="sx-prompt">prompt: {escape(run.trace.prompts[0]) or "(empty)"}</div>']
    for i in range(run.n_particles):
        star = " ★ chosen" if i == run.chosen and t == run.n_steps else ""
        sel = " sx-selected" if i == selected else ""
        parts.append(f'<div class="sx-particle{sel}" data-particle="{i}"><div class="sx-plabel">'
                     f'<span class="sx-chip" style="background:{palette.lineage_colour(roots[i])}"></span>'
                     f'particle {i} · root {roots[i]} · w̄ {weights[i]:.3f}{star}</div><div class="sx-cells">')
        for j, word in enumerate(words[i]):
            if masked[i, j]:
                parts.append('<span class="sx-c sx-m"></span>')
                continue
            cls = "sx-c" + (" sx-now" if commit[i, j] == t else "") + (" sx-inh" if inherited[i, j] else "")
            cls += " sx-rep" if frame.repeated[i, j] else ""
            parts.append(f'<span class="{cls}" style="background-color:{fill[i, j]};color:{ink[i, j]}" '
                         f'title="{escape(word)} · p={prob[i, j]:.2f} · step {commit[i, j]}">{escape(word)}</span>')
        parts.append("</div></div>")
    parts.append("</div>")
    return "".join(parts)


def legend_html() -> str:
    """The key to the canvas's colours and marks."""
    sample = str(palette.confidence_hex(0.9))
    return ('<div class="sx-legend">'
            '<span>confidence p: 0<span class="sx-bar"></span>1</span>'
            '<span><span class="sx-c sx-m"></span>masked</span>'
            f'<span><span class="sx-c sx-now" style="background-color:{sample}"></span>'
            'committed at this step</span>'
            f'<span><span class="sx-c sx-inh" style="background-color:{sample}"></span>'
            'inherited through resampling</span>'
            f'<span><span class="sx-c sx-rep" style="background-color:{sample}"></span>'
            f'inside a repeated {REPEAT_N}-gram</span>'
            '<span>★ the sampler\'s chosen particle (final step)</span></div>')
