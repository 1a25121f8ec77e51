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


def test_single_prompt_keeps_each_commits_alternatives():
    trace = record(prompts=("the cat", "a dog sat"), n_particles=3, top_k_alternatives=4)
    k = 4
    for p in range(2):
        sub = single_prompt(trace, p)
        for full, part in zip(trace.steps, sub.steps, strict=True):
            keep = [i for i, r in enumerate(full.rows) if r // 3 == p]
            assert part.ranks == [full.ranks[i] for i in keep]
            assert part.alt_tokens == [full.alt_tokens[i * k + j] for i in keep for j in range(k)]
            assert part.alt_probs == [full.alt_probs[i * k + j] for i in keep for j in range(k)]
        assert sub.run_id == trace.run_id
