"""Every view of one step at N = 16, L = 256 builds in under 100 ms (the playback budget).

`python -m pytest tests/explorer/test_view_speed.py -s` prints the medians. On a machine
shared with other jobs the assertion allows twice the budget.
"""
import statistics
import time

import pytest

from explorer.runs import Run
from explorer.views.canvas import canvas_html
from explorer.views.ess import ess_figure
from explorer.views.heatmap import heatmap_figure
from explorer.views.tree import tree_figure
from explorer.views.weights import weights_figure
from tests.explorer.conftest import record

BUDGET_MS = 100
SLACK = 2.0  # shared CI cores


@pytest.fixture(scope="module")
def big_run():
    return Run.from_trace(record(n_particles=16, gen_length=254, steps=254, block_length=254))  # L = 2 + 254


def test_views_build_within_budget(big_run):
    assert big_run.trace.length == 256 and big_run.n_particles == 16
    builders = {
        "state (state_at)": lambda t: big_run.frame(t),
        "canvas": lambda t: canvas_html(frames[t], 0),
        "tree": lambda t: tree_figure(big_run, t, 0).to_json(),
        "ess": lambda t: ess_figure(big_run, t).to_json(),
        "weights": lambda t: weights_figure(frames[t], 0).to_json(),
        "heatmap": lambda t: heatmap_figure(frames[t], 0).to_json(),
    }
    steps = [0, 64, 128, 192, 254]
    frames = {t: big_run.frame(t) for t in steps}
    medians = {}
    for name, build in builders.items():
        times = []
        for t in steps:
            start = time.perf_counter()
            build(t)
            times.append(1000 * (time.perf_counter() - start))
        medians[name] = statistics.median(times)
    print("\nmedian build time per step (ms), N = 16, L = 256, incl. JSON for figures:",
          {k: round(v, 1) for k, v in medians.items()})
    for name, ms in medians.items():
        assert ms < BUDGET_MS * SLACK, f"{name} takes {ms:.0f} ms"
