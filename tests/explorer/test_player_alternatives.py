"""The player's alternatives (explorer/player/alternatives.js) in real chromium, against the trace's own records.

Expected values come from the Trace in Python: the cell's commit step from `state_at`, the row it was committed in by
walking the recorded ancestors back, and that commit's `alt_tokens`, `alt_probs` and `ranks`.
"""
from pathlib import Path

import numpy as np
import pytest

from explorer.player import export_html
from sampler.trace import Trace
from tests.explorer.conftest import write_schema_1

OUT = Path(__file__).resolve().parents[2] / "test-output"
AXE = Path(__file__).resolve().parents[2] / ".ci" / "npm" / "node_modules" / "axe-core" / "axe.min.js"


def expected(trace: Trace, t: int, k: int, g: int) -> dict | None:
    """What cell (frame t, row k, generated position g) was chosen from, None while it is masked."""
    state, W = trace.state_at(t, before_resample=True), trace.prompt_width
    s = int(state.commit_step[k, W + g])
    if s < 0:
        return None
    row = k
    for u in range(t - 1, s - 1, -1):  # frame u + 1's row → frame u's: step u's resampling
        ancestors = trace.steps[u - 1].ancestors
        row = ancestors[0][row] if ancestors else row
    rec, K = trace.steps[s - 1], trace.alternatives_k
    i = next(i for i, (r, p) in enumerate(zip(rec.rows, rec.positions)) if (r, p) == (row, W + g))
    assert rec.tokens[i] == state.tokens[k, W + g]
    alts = slice(i * K, (i + 1) * K)
    return {"step": s, "row": row, "token": rec.tokens[i], "rank": rec.ranks[i] if K else None,
            "alts": rec.alt_tokens[alts] if K else [], "probs": rec.alt_probs[alts] if K else []}


def frame_rows(trace: Trace, k: int, t: int) -> list[int]:
    """Rows [t + 1] of row k of frame t's ancestors at frames 0..t."""
    path = [k]
    for u in range(t - 1, -1, -1):
        ancestors = trace.steps[u - 1].ancestors if u >= 1 else None
        path.append(ancestors[0][path[-1]] if ancestors else path[-1])
    return path[::-1]


def open_page(browser, tmp_path, traces, size=(1440, 900)):
    path = tmp_path / "run.html"
    path.write_text(export_html(traces))
    pg = browser.new_page(viewport={"width": size[0], "height": size[1]})
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    pg.wait_for_selector("#srp-player[data-state=ready]")
    pg.errors = errors
    return pg


def go(pg, t: int):
    pg.evaluate(f"document.getElementById('srp-player').srp.show({t})")
    pg.wait_for_function(f"document.getElementById('srp-player').dataset.step === '{t}'")


def point(pg, k: int, g: int, scroll: bool = True) -> tuple[float, float]:
    """Page coordinates of the centre of row k's cell g on the canvas (its row scrolled into view first)."""
    return tuple(pg.evaluate("""([k, g, scroll]) => { const c = document.getElementById('srp-player').srp.canvas;
      const cv = c.canvases[c.order_.indexOf(k)];
      if (scroll) cv.scrollIntoView({block: 'center'});
      const r = cv.getBoundingClientRect(); return [r.left + c.x[g] + c.col[g] / 2, r.top + c.y[g] + 9]; }""",
                             [k, g, scroll]))


def panel(pg) -> dict:
    return pg.evaluate("""() => { const p = document.getElementById('srp-alternatives');
      const h = p.querySelector('.srp-alts-head'), rows = [...p.querySelectorAll('tbody tr')];
      return {text: p.innerText, pinned: p.dataset.pinned === '1', step: h ? Number(h.dataset.step) : null,
        row: h ? Number(h.dataset.row) : null, tokens: rows.map(r => Number(r.dataset.token)),
        probs: rows.map(r => Number(r.dataset.p))}; }""")


def check(got: dict, want: dict):
    assert (got["step"], got["row"]) == (want["step"], want["row"])
    assert got["tokens"] == want["alts"] and np.allclose(got["probs"], want["probs"])
    assert f"rank {want['rank']} of the proposal" in got["text"]


def test_hover_shows_the_alternatives_the_trace_recorded(browser, tmp_path, smc_trace):
    pg = open_page(browser, tmp_path, {"sr-smc": smc_trace})
    T, N, G = smc_trace.n_steps, smc_trace.n_particles, smc_trace.config["gen_length"]
    moved = [(k, g) for k in range(N) for g in range(G) if expected(smc_trace, T, k, g)["row"] != k]
    assert moved, "the fixture should hold cells copied through resampling"
    mid = smc_trace.resample_steps()[0] + 1
    committed = [(k, g) for k in range(N) for g in range(G) if expected(smc_trace, mid, k, g)]
    cells = [(T, k, g) for k, g in moved[:3] + [(0, 0), (N - 1, G - 1)]] + [(mid, *committed[0]), (mid, *committed[-1])]
    for t, k, g in cells:
        go(pg, t)
        pg.mouse.move(*point(pg, k, g))
        check(panel(pg), expected(smc_trace, t, k, g))
    assert not pg.errors, pg.errors
    pg.close()


def test_a_pinned_cell_is_followed_through_resampling_and_esc_unpins(browser, tmp_path, smc_trace):
    pg = open_page(browser, tmp_path, {"sr-smc": smc_trace})
    T, N, G = smc_trace.n_steps, smc_trace.n_particles, smc_trace.config["gen_length"]
    # a cell of the last frame whose row, between its commit and the end, sat in another row
    k, g = next((k, g) for k in range(N) for g in range(G) if expected(smc_trace, T, k, g)["row"] != k)
    want, rows = expected(smc_trace, T, k, g), frame_rows(smc_trace, k, T)
    pg.mouse.click(*point(pg, k, g))
    assert panel(pg)["pinned"]
    for t in range(T, want["step"] - 1, -1):
        if t < T:
            pg.keyboard.press("ArrowLeft")
        pg.wait_for_function(f"document.getElementById('srp-player').dataset.step === '{t}'")
        got = panel(pg)
        check(got, want)
        assert f"particle {rows[t]} · position {g}" in got["text"]
        marked_row = pg.evaluate("document.querySelector('.srp-pinmark').closest('.srp-row').dataset.particle")
        assert marked_row == str(rows[t])
    pg.keyboard.press("ArrowLeft")  # the step before its commit: still masked there
    assert f"particle {rows[want['step'] - 1]} · position {g}: masked at step {want['step'] - 1}" in panel(pg)["text"]
    # forward from a masked cell on ★'s line: the pin follows the row that ends as ★
    chosen, t0 = smc_trace.final["chosen"][0], want["step"] - 1
    star = frame_rows(smc_trace, chosen, T)
    g0 = next(g for g in range(G) if expected(smc_trace, t0, star[t0], g) is None)
    pg.keyboard.press("Escape")
    assert not panel(pg)["pinned"] and pg.locator(".srp-pinmark").count() == 0
    go(pg, t0)
    pg.mouse.click(*point(pg, star[t0], g0))
    go(pg, T)
    got = panel(pg)
    assert got["pinned"] and f"particle {chosen} · position {g0}" in got["text"]
    check(got, expected(smc_trace, T, chosen, g0))
    pg.mouse.click(*point(pg, chosen, g0))  # clicking the pinned cell again unpins
    assert not panel(pg)["pinned"]
    assert not pg.errors, pg.errors
    pg.close()


def test_a_schema_1_trace_says_alternatives_not_recorded(browser, tmp_path, smc_trace):
    write_schema_1(smc_trace, tmp_path / "v1.json")
    pg = open_page(browser, tmp_path, {"sr-smc": Trace.load(tmp_path / "v1.json")})
    pg.mouse.move(*point(pg, 0, 0))
    got = panel(pg)
    assert "alternatives not recorded" in got["text"] and got["tokens"] == [] and got["step"] == smc_trace.state_at(
        smc_trace.n_steps).commit_step[0, smc_trace.prompt_width]
    pg.close()


def test_differing_answer_words_say_what_the_other_sampler_had(browser, tmp_path, smc_trace, greedy_trace):
    """The toy's words are single tokens: word i of an answer is generated position i."""
    pg = open_page(browser, tmp_path, {"sr-smc": smc_trace, "greedy": greedy_trace})
    chosen = smc_trace.final["chosen"][0]
    for role, trace, other, other_row in [("sr-smc", smc_trace, greedy_trace, 0),
                                          ("greedy", greedy_trace, smc_trace, chosen)]:
        marks = pg.evaluate(f"""() => {{ const col = document.querySelector('.srp-answer-col[data-run="{role}"] p');
          let i = 0; const out = [];
          for (const n of col.childNodes) {{
            if (n.nodeName === 'MARK') {{ out.push([i, n.title]); i++; }}
            else i += n.textContent.split(/\\s+/).filter(Boolean).length;
          }}
          return out; }}""")
        assert marks, f"the {role} answer should differ from the other"
        vocab = other.vocab
        for i, title in marks:
            want = expected(other, other.n_steps, other_row, i)
            label = "greedy" if other is greedy_trace else "SR-SMC"
            head, alts = title.split("\n")[1].split("; its top 5: ")
            assert head == f"{label} at this position: “{vocab[want['token']]}” (rank {want['rank']})"
            words, probs = zip(*(a.rsplit(" ", 1) for a in alts.split(" · ")))
            assert list(words) == [vocab[a] for a in want["alts"]]
            assert np.allclose([float(p) for p in probs], want["probs"], rtol=0.01, atol=5e-4)
    pg.close()


@pytest.mark.skipif(not AXE.exists(), reason="axe-core is not installed (npm install axe-core)")
def test_axe_finds_no_serious_violation_with_the_panel_pinned(browser, tmp_path, smc_trace, greedy_trace):
    pg = open_page(browser, tmp_path, {"sr-smc": smc_trace, "greedy": greedy_trace})
    pg.mouse.click(*point(pg, 0, 3))
    assert panel(pg)["pinned"]
    pg.add_script_tag(content=AXE.read_text())
    result = pg.evaluate("""async () => (await axe.run(document.getElementById('srp-player'),
      {resultTypes: ['violations']})).violations.map(v => ({id: v.id, impact: v.impact, n: v.nodes.length,
      where: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))""")
    assert not [v for v in result if v["impact"] in ("serious", "critical")], result
    pg.close()


@pytest.mark.parametrize("size", [(1440, 900), (390, 844)])
def test_the_panel_is_in_view_and_never_over_the_canvas(browser, tmp_path, smc_trace, greedy_trace, size):
    """A user scrolls to the canvas and clicks a cell: the pinned panel is in the viewport, below the sticky transport,
    and shares no pixel with the canvas; the canvas keeps its place while the pointer moves over it."""
    pg = open_page(browser, tmp_path, {"sr-smc": smc_trace, "greedy": greedy_trace}, size)
    N = smc_trace.n_particles
    go(pg, smc_trace.resample_steps()[0] + 1)
    pg.evaluate("document.getElementById('srp-canvas').scrollIntoView({block: 'center'})")
    before = pg.locator("#srp-canvas").bounding_box()
    pg.mouse.move(*point(pg, N - 1, 2, scroll=False))
    assert pg.locator("#srp-canvas").bounding_box() == before  # the panel's height does not change on hover
    pg.mouse.click(*point(pg, N - 1, 2, scroll=False))
    pg.wait_for_timeout(300)
    box, canvas = pg.locator("#srp-alternatives").bounding_box(), pg.locator("#srp-canvas").bounding_box()
    bar = pg.locator(".srp-transport").bounding_box()
    assert panel(pg)["pinned"] and "particle" in panel(pg)["text"]
    assert box["x"] >= 0 and box["x"] + box["width"] <= size[0] and box["y"] + box["height"] <= size[1]
    assert box["y"] >= bar["y"] + bar["height"] - 0.5, (box, bar)  # not under the sticky transport
    assert box["y"] + box["height"] <= canvas["y"] or box["y"] >= canvas["y"] + canvas["height"], (box, canvas)
    assert pg.evaluate("document.documentElement.scrollWidth") <= size[0]
    OUT.mkdir(exist_ok=True)
    pg.screenshot(path=str(OUT / f"alternatives-{size[0]}.png"))
    pg.close()
