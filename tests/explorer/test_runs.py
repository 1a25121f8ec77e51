"""The kind of run a trace records, and one prompt of a multi-prompt trace."""
import numpy as np

from explorer.runs import role_of, single_prompt
from tests.explorer.conftest import record


def test_roles(smc_trace, greedy_trace):
    assert role_of(smc_trace) == "sr-smc"
    assert role_of(greedy_trace) == "greedy"
    assert role_of(record(method="best_of_n")) == "best-of-n"


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
