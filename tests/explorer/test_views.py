"""View builders on recorded traces: the figures and the canvas show exactly the trace's data."""
import re
from html.parser import HTMLParser

import numpy as np
import pytest

from explorer import palette
from explorer.runs import Run, normalise
from explorer.views.canvas import canvas_html, legend_html
from explorer.views.ess import ess_figure
from explorer.views.heatmap import commit_grid, heatmap_figure
from explorer.views.summary import particle_table, run_table, runs_markdown
from explorer.views.tree import node_sizes, tree_figure
from explorer.views.weights import weights_figure
from sampler.metrics import repeated_positions
from tests.explorer.conftest import record


class Cells(HTMLParser):
    """Collects the canvas's cells as {particle: [(classes, style, text)]}."""

    def __init__(self, html):
        super().__init__()
        self.particles, self.current, self.cell = {}, None, None
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if "data-particle" in attrs:
            self.current = int(attrs["data-particle"])
            self.particles[self.current] = []
        elif tag == "span" and "sx-c" in attrs.get("class", "").split():
            self.cell = [set(attrs["class"].split()), attrs.get("style", ""), ""]
            self.particles[self.current].append(self.cell)

    def handle_data(self, data):
        if self.cell is not None:
            self.cell[2] += data

    def handle_endtag(self, tag):
        if tag == "span":
            self.cell = None


def shape_names(fig):
    return [s.name for s in fig.layout.shapes]


@pytest.mark.parametrize("t", [0, 1, 5, 16])
def test_canvas_cells_follow_the_state(smc_run, t):
    frame = smc_run.frame(t)
    state, gen = frame.state, smc_run.gen
    cells = Cells(canvas_html(frame, selected=1)).particles
    assert sorted(cells) == list(range(smc_run.n_particles))
    for i, row in cells.items():
        assert len(row) == state.tokens.shape[1] - gen.start  # one fixed cell per generated position
        for j, (classes, style, text) in enumerate(row):
            pos = gen.start + j
            assert ("sx-m" in classes) == bool(state.masked[i, pos])
            if state.masked[i, pos]:
                assert text == "" and not classes & {"sx-now", "sx-inh", "sx-rep"}
                continue
            assert text == smc_run.trace.text([state.tokens[i, pos]])[0]
            colour = re.search(r"background-color:(#[0-9A-F]{6})", style).group(1)
            assert colour == palette.confidence_hex(np.exp(state.log_conf[i, pos]))
            assert ("sx-now" in classes) == (state.commit_step[i, pos] == t)
            assert ("sx-inh" in classes) == bool(state.inherited[i, pos])


def test_canvas_marks_inherited_tokens_after_a_resample(smc_run):
    t = int(np.flatnonzero(smc_run.resampled)[0]) + 1  # the population right after the first resampling
    html = canvas_html(smc_run.frame(t))
    assert smc_run.frame(t).state.inherited.any()
    assert html.count("sx-inh") == int(smc_run.frame(t).state.inherited.sum())


def test_canvas_highlights_repeated_ngrams():
    run = Run.from_trace(record(temperature=0.0, n_particles=2, gen_length=32, steps=32))  # argmax loops
    frame = run.frame(run.n_steps)
    cells = Cells(canvas_html(frame)).particles
    for i, row in cells.items():
        words = run.trace.text(frame.state.tokens[i, run.gen])
        expected = repeated_positions(words, 3)
        assert any(expected), "argmax decoding of the toy should repeat itself"
        assert [("sx-rep" in c) for c, _, _ in row] == expected


def test_canvas_layout_is_fixed_between_steps(smc_run):
    """Same number of cells at every step: masks are blocks of the same size as tokens."""
    counts = {len(re.findall(r'class="sx-c[ "]', canvas_html(smc_run.frame(t)))) for t in range(smc_run.n_steps + 1)}
    assert counts == {smc_run.n_particles * (smc_run.trace.length - smc_run.gen.start)}


def test_canvas_selected_and_chosen(smc_run):
    html = canvas_html(smc_run.frame(smc_run.n_steps), selected=2)
    assert re.search(r'sx-particle sx-selected" data-particle="2"', html)
    assert html.count("★ chosen") == 1 and f'data-particle="{smc_run.chosen}"' in html
    assert "★ chosen" not in canvas_html(smc_run.frame(3))
    assert "masked" in legend_html() and "inherited" in legend_html()


def test_tree_nodes_edges_lineage_and_cursor(smc_run):
    T, N = smc_run.n_steps, smc_run.n_particles
    t = 7
    fig = tree_figure(smc_run, t, selected=1)
    edges, lineage, nodes = fig.data
    assert (edges.name, lineage.name, nodes.name) == ("edges", "lineage", "nodes")
    assert len(nodes.x) == (T + 1) * N
    np.testing.assert_allclose(nodes.marker.size, node_sizes(normalise(smc_run.log_w)).ravel(), rtol=1e-5)
    np.testing.assert_array_equal(nodes.marker.color, smc_run.roots.ravel() % len(palette.LINEAGE))
    assert list(nodes.marker.opacity) == [1.0 if x <= t else 0.25 for x in nodes.x]
    # one segment (3 points with a gap) per node after step 0, from its ancestor
    ex, ey = np.asarray(edges.x).reshape(-1, 3), np.asarray(edges.y).reshape(-1, 3)
    assert len(ex) == T * N
    for (x0, x1, _), (y0, y1, _) in zip(ex, ey):
        assert x1 == x0 + 1 and y0 == smc_run.parents[int(x0)][int(y1)]
    crossing = {int(x0) for (x0, _, _), (y0, y1, _) in zip(ex, ey) if y0 != y1}
    assert crossing and crossing <= set(np.flatnonzero(smc_run.resampled))
    assert list(lineage.y) == list(smc_run.ancestry(1))
    assert shape_names(fig) == ["cursor"] and fig.layout.shapes[0].x0 == t


def test_tree_changes_with_the_cursor(smc_run):
    a, b = tree_figure(smc_run, 2, 0), tree_figure(smc_run, 9, 0)
    assert a.layout.shapes[0].x0 == 2 and b.layout.shapes[0].x0 == 9
    assert list(a.data[2].marker.opacity) != list(b.data[2].marker.opacity)


def test_ess_curve_threshold_and_events(smc_run, smc_trace):
    fig = ess_figure(smc_run, 4)
    ess, threshold, events = fig.data
    assert (ess.name, threshold.name, events.name) == ("ESS", "threshold", "resampled")
    np.testing.assert_allclose(ess.y, smc_trace.ess_curve())
    assert set(threshold.y) == {smc_trace.config["ess_threshold"] * smc_trace.n_particles}
    assert list(events.x) == smc_trace.resample_steps()
    assert all(e < smc_trace.config["ess_threshold"] * smc_trace.n_particles for e in events.y)
    assert fig.layout.shapes[0].x0 == 4


def test_weight_bars(smc_run, smc_trace):
    t = smc_trace.resample_steps()[0]
    fig = weights_figure(smc_run.frame(t), selected=2)
    (bars,) = fig.data
    np.testing.assert_allclose(bars.y, normalise(np.asarray(smc_trace.steps[t - 1].log_weight)))
    assert list(bars.text) == [f"Δ {d:+.2f}" for d in smc_trace.steps[t - 1].log_increment]
    assert list(bars.marker.line.width) == [3 if i == 2 else 0 for i in range(smc_run.n_particles)]
    assert list(bars.marker.color) == [palette.lineage_colour(r) for r in smc_run.roots[t]]
    assert "resampled" in fig.layout.title.text


def test_heatmap_holds_each_commit_once(smc_run):
    t = 10
    frame = smc_run.frame(t)
    fig = heatmap_figure(frame, particle=3)
    (heat,) = fig.data
    z = np.asarray(heat.z, dtype=float)
    np.testing.assert_array_equal(z, commit_grid(frame, 3))
    state = frame.state
    committed = np.flatnonzero(~state.masked[3, smc_run.gen])
    assert np.count_nonzero(~np.isnan(z)) == len(committed)
    for j in committed:
        step = state.commit_step[3, smc_run.gen.start + j]
        assert 1 <= step <= t
        assert z[step - 1, j] == pytest.approx(np.exp(state.log_conf[3, smc_run.gen.start + j]), rel=1e-6)
    assert fig.layout.shapes[0].y0 == t


def test_summary_tables(smc_run, greedy_run, smc_trace):
    runs = [smc_run, greedy_run]
    table = run_table(runs).set_index("measure")
    assert list(table.columns) == ["SR-SMC", "greedy"]
    smc = table["SR-SMC"]
    assert smc["resamples"] == len(smc_trace.resample_steps())
    assert smc["surviving lineages"] == len(set(smc_trace.roots().tolist()))
    assert smc["forwards"] == smc_trace.stats["forwards"]
    assert 1 <= smc["unique sequences"] <= smc_trace.n_particles
    chosen = smc_trace.final["chosen"][0]
    final = smc_trace.state_at(smc_trace.n_steps).log_conf[chosen, smc_trace.prompt_width:]
    assert smc["total log-conf (chosen)"] == pytest.approx(final.sum(), abs=0.01)
    assert table["greedy"]["resamples"] == 0 and table["greedy"]["surviving lineages"] == 1
    for measure in ("distinct-1", "distinct-2", "distinct-3", "repeated 3-gram rate", "unigram entropy (bits)",
                    "mean log-conf (chosen)", "wall time (s)"):
        assert measure in table.index
    particles = particle_table(runs)
    assert len(particles) == smc_trace.n_particles + 1
    assert (particles["chosen"] == "★").sum() == 2
    assert particles.iloc[chosen]["text"] == smc_trace.final["texts"][0][chosen]
    assert "SR-SMC" in runs_markdown(runs) and "greedy" in runs_markdown(runs)
