"""The compare view in chromium (an exported page, offline): one cursor moves every run, by step or by fraction of
the run, the shared prefix once, and no request while scrubbing."""
from pathlib import Path

import pytest

from explorer.player import export_html
from sampler.branch import BranchStart, branch_config
from sampler.models.toy import BigramToy
from sampler.smc import decode
from tests.explorer.conftest import one_torch_thread, record

OUT = Path(__file__).resolve().parents[2] / "test-output"
BRANCH_STEP = 5


@pytest.fixture(scope="module")
def runs():
    """A 16-step run, its branch after step 5 with no-repeat 2, and a 32-step run of the same prompt."""
    parent = record()
    with one_torch_thread():
        branch = decode(BigramToy(), branch_config(parent, no_repeat_ngram=2),
                        start=BranchStart.at(parent, BRANCH_STEP)).trace
    return parent, branch, record(steps=32)


def open_page(browser, tmp_path, compare, viewport=(1440, 900)):
    path = tmp_path / "compare.html"
    path.write_text(export_html({"sr-smc": compare[0]}, compare=compare))
    context = browser.new_context(viewport=dict(zip(("width", "height"), viewport)), offline=True)
    requests = []
    context.route("**/*", lambda route: (requests.append(route.request.url), route.continue_()
                                         if route.request.url.startswith("file:") else route.abort()))
    pg = context.new_page()
    errors = []
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(path.as_uri())
    pg.wait_for_selector("#srp-player[data-state=ready]")
    pg.requests, pg.errors = requests, errors
    return pg


def steps_shown(pg) -> list[int]:
    return [int(s) for s in pg.get_attribute("#srp-compare", "data-steps").split(",")]


def star_line(trace, t: int):
    """Tokens `[L]` of the particle at step t (before its resampling) that the final ★ descends from."""
    node = dict(trace.walk_back())[t][trace.final["chosen"][0]]
    return trace.state_at(t, before_resample=True).tokens[node]


def star_lines_differ(a, b, t: int) -> int:
    return int((star_line(a, t) != star_line(b, t)).sum())


def test_a_branch_opens_at_its_step_with_the_prefix_once_and_one_cursor_moves_both(browser, tmp_path, runs):
    parent, branch, _ = runs
    pg = open_page(browser, tmp_path, [parent, branch])
    assert pg.get_attribute("#srp-player", "data-step") == str(BRANCH_STEP) and steps_shown(pg) == [5, 5]
    heads = pg.locator(".srp-cmp-col h4").all_inner_texts()
    assert heads[1].startswith(f"2. branch at step {BRANCH_STEP} of run 1: no-repeat 2")
    assert pg.locator("#srp-cmp-shared").count() == 1 and "shared, step 5" in pg.inner_text("#srp-cmp-shared")
    # the populations at the branch step are the same, but each run's ★ may descend from another particle
    assert pg.locator(".srp-cmp-col mark").count() == 2 * star_lines_differ(parent, branch, BRANCH_STEP)
    # the chart draws the shared prefix once: the branch's curves start at the branch step
    xs = pg.evaluate("document.getElementById('srp-cmp-chart').data.map((d) => d.x[0])")
    assert xs == [1, 1, BRANCH_STEP, BRANCH_STEP]
    pg.requests.clear()
    for t in (9, 16, 2):
        pg.fill("#srp-slider", str(t))
        pg.wait_for_function(f"document.getElementById('srp-compare').dataset.steps === '{t},{t}'")
        assert pg.evaluate("document.getElementById('srp-cmp-chart').layout.shapes[0].x0") == t
    assert pg.requests == [] and pg.errors == []
    pg.fill("#srp-slider", "16")
    pg.wait_for_function("document.getElementById('srp-compare').dataset.steps === '16,16'")
    assert pg.locator(".srp-cmp-col mark").count() > 0, "the runs' final texts differ somewhere"
    OUT.mkdir(exist_ok=True)
    pg.screenshot(path=str(OUT / "branch-compare-toy.png"), full_page=True)
    pg.context.close()


def test_runs_of_different_length_follow_the_cursor_by_step_or_by_fraction(browser, tmp_path, runs):
    short, _, long = runs
    pg = open_page(browser, tmp_path, [short, long])
    pg.fill("#srp-slider", "8")
    pg.wait_for_function("document.getElementById('srp-compare').dataset.steps === '8,8'")
    pg.select_option("#srp-cmp-mode", "fraction")
    assert steps_shown(pg) == [8, 16]
    pg.fill("#srp-slider", "16")
    pg.wait_for_function("document.getElementById('srp-compare').dataset.steps === '16,32'")
    pg.select_option("#srp-cmp-mode", "step")
    assert steps_shown(pg) == [16, 16]
    assert pg.errors == []
    pg.context.close()
