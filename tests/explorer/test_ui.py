"""The page's handlers without a browser: every view follows the cursor, errors become gr.Error."""
import gradio as gr
import pytest

from explorer.limits import Limits
from explorer.ui import build_ui, loaded, render, tick_plan, user_errors


def test_every_view_follows_the_cursor(smc_run, greedy_run):
    runs = {"sr-smc": smc_run, "greedy": greedy_run}
    early, late = render(runs, 2, None, "greedy"), render(runs, 12, None, "greedy")
    for a, b in zip(early, late):
        assert (a.to_json() if hasattr(a, "to_json") else a) != (b.to_json() if hasattr(b, "to_json") else b)
    assert 'data-step="2"' in early[0] and 'data-run="greedy" data-step="2"' in early[1]


def test_render_defaults_and_clamps(smc_run):
    canvas, baseline, tree, *_ = render({"sr-smc": smc_run}, 999, 77, "greedy")
    assert f'data-step="{smc_run.n_steps}"' in canvas
    assert "No baseline run loaded" in baseline
    assert list(tree.data[1].y) == list(smc_run.ancestry(smc_run.chosen))  # out-of-range particle → chosen
    assert "Nothing loaded yet" in render({}, 0, None, None)[0]


def test_loaded_sets_cursor_pickers_and_tables(smc_run, greedy_run):
    state, cursor, particle, baseline, table, particles, files, info = loaded({"greedy": greedy_run,
                                                                                 "sr-smc": smc_run})
    assert cursor.maximum == cursor.value == smc_run.n_steps
    assert particle.value == smc_run.chosen and len(particle.choices) == smc_run.n_particles
    assert baseline.value == "greedy"
    assert list(table.columns) == ["measure", "SR-SMC", "greedy"] and len(files) == 2 and "SR-SMC" in info


def test_user_errors_become_named_gr_errors():
    @user_errors
    def bad():
        raise ValueError("steps = 3: must be a multiple")
    with pytest.raises(gr.Error, match="steps = 3: must be a multiple"):
        bad()


def test_tick_plan():
    assert tick_plan(1) == (1.0, 1) and tick_plan(4) == (0.25, 1) and tick_plan(16) == (0.25, 4)


def test_page_exposes_the_named_endpoints():
    demo = build_ui(lambda settings, progress: {}, ["toy"], Limits())
    public = {d.api_name for d in demo.fns.values() if d.api_visibility == "public"}
    assert public == {"sample", "render", "load_example", "load_traces"}
    sample = next(d for d in demo.fns.values() if d.api_name == "sample")
    assert sample.concurrency_id == "sampling" and sample.concurrency_limit == 1
    playback = next(d for d in demo.fns.values() if d.api_name == "render")
    assert playback.concurrency_limit is None and playback.concurrency_id != "sampling"
