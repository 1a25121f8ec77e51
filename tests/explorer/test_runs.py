"""`Run` derives its per-step arrays from the trace exactly as the trace's own API does."""
import numpy as np
import pytest

from explorer.runs import Run, normalise, role_of, single_prompt
from tests.explorer.conftest import record


def test_roles(smc_trace, greedy_trace):
    assert role_of(smc_trace) == "sr-smc"
    assert role_of(greedy_trace) == "greedy"
    assert role_of(record(method="best_of_n")) == "best-of-n"


def test_arrays_match_the_trace_api(smc_run, smc_trace):
    T, N = smc_trace.n_steps, smc_trace.n_particles
    assert smc_run.parents.shape == smc_run.roots.shape == smc_run.log_w.shape == (T + 1, N)
    np.testing.assert_allclose(smc_run.ess[1:], smc_trace.ess_curve())
    assert list(np.flatnonzero(smc_run.resampled)) == smc_trace.resample_steps()
    for t in range(T + 1):
        before = smc_trace.state_at(t, before_resample=True)
        np.testing.assert_array_equal(smc_run.roots[t], before.roots)
        np.testing.assert_allclose(smc_run.log_w[t], before.log_weight)
        np.testing.assert_array_equal(smc_run.parents[t], smc_trace.parents(t))


def test_ancestry_follows_the_trace_lineage(smc_run, smc_trace):
    """Node (t, k) is the row that after step t-1's resampling became row k: trace.lineage, shifted by one."""
    T = smc_trace.n_steps
    for row in range(smc_trace.n_particles):
        post = smc_trace.lineage(row)  # rows after steps 0..T (post-resampling)
        path = smc_run.ancestry(row)
        assert path[T] == row
        assert list(path[1:]) == post[:-1]  # the pre-resample row at t+1 is the post-resample row at t
        assert smc_run.roots[T][row] == smc_trace.roots()[row]


def test_frame_is_the_population_before_resampling(smc_run, smc_trace):
    t = smc_trace.resample_steps()[0]
    frame = smc_run.frame(t)
    state = smc_trace.state_at(t, before_resample=True)
    np.testing.assert_array_equal(frame.state.tokens, state.tokens)
    np.testing.assert_allclose(frame.weights, normalise(np.asarray(smc_trace.steps[t - 1].log_weight)))
    np.testing.assert_allclose(frame.increment, smc_trace.steps[t - 1].log_increment)
    assert frame.weights.sum() == pytest.approx(1.0)
    assert smc_run.frame(10_000).t == smc_trace.n_steps and smc_run.frame(-3).t == 0


def test_single_prompt_extracts_one_group():
    trace = record(prompts=("the cat", "a dog sat"), n_particles=3)
    for p in range(2):
        sub = single_prompt(trace, p)
        assert sub.prompts == [trace.prompts[p]] and sub.n_rows == 3
        assert sub.resample_steps() == trace.resample_steps(p)
        for t in (0, 5, trace.n_steps):
            full, part = trace.state_at(t), sub.state_at(t)
            np.testing.assert_array_equal(part.tokens, full.tokens[trace.rows_of(p)])
            np.testing.assert_array_equal(part.inherited, full.inherited[trace.rows_of(p)])
        assert sub.final["texts"] == [trace.final["texts"][p]]
    assert Run.from_trace(trace, prompt=1).trace.prompts == ["a dog sat"]
