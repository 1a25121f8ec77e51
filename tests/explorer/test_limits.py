"""One cost model (cell-steps = rows × steps × sequence length) for sampling requests and loaded traces."""
import math

import pytest

from explorer.limits import NGRAM_CELLS, REPETITION_FACTOR, Limits, cost, knob_factor, text_chars
from explorer.request import RunRequest
from tools.measure_limits import synthetic_trace

BASE = dict(prompt="It is a truth", model="toy", temperature=1.0, policy="topk", seed=0)


def request(**changes) -> RunRequest:
    return RunRequest.from_settings({**BASE, **changes})


def test_request_cost_counts_every_run_and_the_prompt():
    req = request(n_particles=4, gen_length=64, steps=32, block_length=64, best_of_n=True)
    # greedy 1 row + SR-SMC 4 rows + best-of-N 4 rows, 32 steps, 6 prompt tokens + 64
    assert Limits().request_cost(req, prompt_tokens=6) == cost(1 + 4 + 4, 32, 70) == 9 * 32 * 70
    assert Limits().request_cost(request(n_particles=4, gen_length=64, steps=32, block_length=64), 6) == 5 * 32 * 70


def test_threshold_policy_is_costed_at_its_worst_case_of_one_token_per_step():
    req = request(n_particles=2, gen_length=64, steps=8, block_length=64, policy="threshold")
    assert Limits().request_cost(req, 0) == 3 * 64 * 64


def test_the_issue_s_hour_long_run_is_refused_with_estimate_limit_and_flag():
    """N = 64, 512 tokens, 128 steps with best-of-N passed the old N × steps check (52.6 s per step here)."""
    req = request(n_particles=64, gen_length=512, steps=128, block_length=512, best_of_n=True)
    with pytest.raises(ValueError) as e:
        Limits().check_request(req, prompt_tokens=4)
    message = str(e.value)
    estimate = 129 * 128 * 516
    assert f"{estimate:,} cell-steps" in message and f"allows {Limits().max_cost:,}" in message
    assert f"--max-cost {estimate}" in message
    Limits(max_cost=estimate).check_request(req, prompt_tokens=4)  # what the flag does


def test_default_settings_and_the_examples_fit():
    for req in (request(n_particles=4, gen_length=64, steps=64, block_length=32),
                request(n_particles=8, gen_length=64, steps=64, block_length=32, best_of_n=True)):
        Limits().check_request(req, prompt_tokens=10)


@pytest.mark.parametrize("changes, message", [
    (dict(n_particles=65), "particles N = 65: this app allows at most 64 \\(start it with --max-particles"),
    (dict(gen_length=600, steps=600, block_length=600), "gen length = 600: this app allows at most 512"),
    (dict(prompt="x" * 2001), "prompt of 2001 characters: this app allows at most 2000"),
])
def test_settings_over_a_limit_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        Limits().check_request(request(**{"n_particles": 2, "gen_length": 16, "steps": 16, **changes}), 1)


def test_a_small_file_declaring_a_huge_replay_is_refused_before_any_replay():
    """The issue's 40 KB upload: N = 64 and 20,000 positions took one 69.9 s render."""
    trace = synthetic_trace(n_particles=64, length=20_000, n_steps=1)
    with pytest.raises(ValueError, match=r"1,280,000 cell-steps to replay \(64 rows × 1 steps × 20000 positions\);"
                                         r" this app allows 500,000.*--max-trace-cost 1280000"):
        Limits().check_trace(trace)
    with pytest.raises(ValueError, match="too large to draw in the browser: .* generated positions in one run"):
        Limits(max_trace_cost=1_280_000).check_trace(trace)  # and the browser could not draw it
    Limits(max_trace_cost=1_280_000, max_draw_positions=20_000, max_draw_cells=3_000_000).check_trace(trace)


def test_traces_loaded_together_count_together():
    a, b = synthetic_trace(4, 100, 10), synthetic_trace(2, 100, 10)
    assert Limits().trace_cost([a, b]) == 4 * 10 * 100 + 2 * 10 * 100
    with pytest.raises(ValueError, match="6,000 cell-steps"):
        Limits(max_trace_cost=5999).check_trace(a, b)


def test_every_allowed_run_loads_back():
    """A Run's traces together cost at most the request's estimate, so max_trace_cost ≥ max_cost loads them."""
    assert Limits().max_trace_cost >= Limits().max_cost


def test_recorded_alternatives_count_where_a_trace_has_few_steps():
    """k alternatives per commit cost ALTERNATIVE_CELLS each: nothing for schema 1, most for one-step traces."""
    from explorer.limits import ALTERNATIVE_CELLS
    trace = synthetic_trace(4, 100, 1)
    plain = Limits().trace_cost([trace])
    trace.config["top_k_alternatives"] = 5
    assert Limits().trace_cost([trace]) == plain + int(4 * 100 * 5 * ALTERNATIVE_CELLS)


def test_every_allowed_run_with_the_most_alternatives_loads_back():
    """A Run's traces cost at most (1 + ALTERNATIVE_CELLS · k) × its estimate (k per commit, ≤ one commit per cell
    and step), which the default limits leave room for at the largest k."""
    from explorer.limits import ALTERNATIVE_CELLS
    from sampler.config import MAX_ALTERNATIVES
    from sampler.models.toy import BigramToy
    from sampler.smc import decode
    factor = 1 + ALTERNATIVE_CELLS * MAX_ALTERNATIVES
    assert Limits().max_cost * factor <= Limits().max_trace_cost
    req = request(model="toy", prompt="the cat", n_particles=4, gen_length=16, steps=1, block_length=16,
                  top_k_alternatives=MAX_ALTERNATIVES, best_of_n=True)
    traces = [decode(BigramToy(), cfg).trace for cfg in req.configs("cpu").values()]
    assert Limits().request_cost(req, 2) < Limits().trace_cost(traces) <= Limits().request_cost(req, 2) * factor


def test_no_repeat_ngram_and_repetition_penalty_are_counted():
    """The issue's N = 2, gen 512, steps 96 with n = 346 passed at 149,184 cell-steps; now its n-gram work counts."""
    plain = request(n_particles=2, gen_length=512, steps=96, block_length=512)
    limits = Limits()
    base = limits.request_cost(plain, prompt_tokens=6)
    assert base == 3 * 96 * 518 == 149_184
    with_ngram = request(n_particles=2, gen_length=512, steps=96, block_length=512, no_repeat_ngram=64)
    assert limits.request_cost(with_ngram, 6) == math.ceil(base * (1 + 64 / NGRAM_CELLS))
    with pytest.raises(ValueError, match="repetition controls included"):
        limits.check_request(with_ngram, 6)
    # n beyond half the sequence leaves fewer windows: the factor follows min(n, L - n + 1)
    big = request(n_particles=2, gen_length=512, steps=96, block_length=512, no_repeat_ngram=500)
    assert limits.request_cost(big, 6) == math.ceil(base * (1 + 19 / NGRAM_CELLS))
    assert knob_factor(0, 1.0, 100) == 1 and knob_factor(0, 1.5, 100) == REPETITION_FACTOR
    assert knob_factor(1000, 1.0, 100) == 1  # n > L: no window fits, nothing to do


def test_a_trace_over_the_drawing_budget_is_refused_by_name():
    """N = 20,000 × L = 2 (8 % of the replay limit) took 60.7 s to its first frame in the browser."""
    wide = synthetic_trace(n_particles=20_000, length=2, n_steps=1)
    with pytest.raises(ValueError, match="draw in the browser: 20,000 particles in one run; the player draws at most 256"):
        Limits().check_trace(wide)
    Limits().check_draw({"sr-smc": synthetic_trace(256, 513, 1)})  # the CLI's N = 256 × 512 × 1 output is drawn


def test_text_a_trace_carries_is_counted():
    t = synthetic_trace(n_particles=4, length=8, n_steps=2)
    t.final["texts"] = [["x" * 600_000] * 4]
    with pytest.raises(ValueError, match=r"hold 2,40\d,\d+ characters of text .* allows 2,000,000"):
        Limits().check_trace(t)
    assert text_chars(t) > 2_400_000


def test_a_branch_is_checked_at_its_grown_particle_count(smc_trace):
    from sampler.branch import branch_config

    t = smc_trace.n_steps // 2
    limits = Limits(max_particles=8)
    limits.check_branch(smc_trace, branch_config(smc_trace, n_particles=8), t)
    with pytest.raises(ValueError, match="particles N' = 9: this app allows at most 8"):
        limits.check_branch(smc_trace, branch_config(smc_trace, n_particles=9), t)
    rows_left = 8 * (smc_trace.config["steps"] - t) * smc_trace.length
    with pytest.raises(ValueError, match=f"this branch would cost {rows_left:,} cell-steps .* N' = 8 particles"):
        Limits(max_cost=rows_left - 1).check_branch(smc_trace, branch_config(smc_trace, n_particles=8), t)
    with pytest.raises(ValueError, match="N' = 8: the branch would be too large to draw"):
        Limits(max_draw_nodes=(smc_trace.n_steps + 1) * 8 - 1).check_branch(
            smc_trace, branch_config(smc_trace, n_particles=8), t)
