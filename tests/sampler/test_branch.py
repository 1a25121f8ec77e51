import json

import numpy as np
import pytest
import torch

from sampler.branch import BranchStart, branch_config
from sampler.config import SamplerConfig
from sampler.models.toy import BigramToy, FixedLogits
from sampler.smc import decode
from sampler.trace import Trace, TraceFormatError, resolve_parent


def run_config(policy: str = "topk", n_particles: int = 4, seed: int = 0, **kw) -> SamplerConfig:
    """Thresholds 0.1 / 0.15 / 0.3 by seed: the threshold policy then finishes some blocks early."""
    base = dict(prompts=("the cat", "a"), gen_length=16, steps=8, block_length=8, n_particles=n_particles,
                policy=policy, threshold=(0.1, 0.15, 0.3)[seed % 3], ess_threshold=0.9, temperature=1.0, seed=seed)
    return SamplerConfig(**{**base, **kw})


class Live:
    """Observer keeping the particles after every step (after its resampling)."""

    def __init__(self):
        self.states = []

    def __call__(self, info):
        s = info.state
        self.states.append((s.x.clone().numpy(), s.log_conf.clone().numpy(), s.log_w.clone().numpy()))


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n_particles", [1, 4])
@pytest.mark.parametrize("policy", ["topk", "threshold", "random"])
def test_a_branch_with_unchanged_settings_reproduces_the_run(policy, n_particles, seed, tmp_path):
    """save → load → state_at(t) is the live state, bit for bit; a branch from it replays the rest exactly."""
    model, live = BigramToy(scale=3.0), Live()
    result = decode(model, run_config(policy, n_particles, seed), observers=(live,))
    trace = Trace.load(result.trace.save(tmp_path / "run.json"))
    T = trace.n_steps
    assert n_particles == 1 or any(any(s.resampled) for s in trace.steps) or policy == "threshold"
    for t in sorted({0, 1, T // 2, T - 1}):
        start = BranchStart.at(trace, t)
        if t:
            x, log_conf, log_w = live.states[t - 1]
            np.testing.assert_array_equal(start.tokens, x)
            np.testing.assert_array_equal(start.log_conf.astype(np.float32), log_conf)
            np.testing.assert_array_equal(start.log_weight.astype(np.float32), log_w)
        branch = decode(model, branch_config(trace), start=start)
        b = branch.trace
        assert b.parent == {"run_id": trace.run_id, "step": t} and b.run_id != trace.run_id
        assert b.steps == trace.steps  # tokens, confidences, weights, ESS and ancestors of every step after t too
        assert b.final == trace.final and torch.equal(branch.sequences, result.sequences)
        assert branch.forwards == (T - t) * trace.n_rows
        Trace.load(b.save(tmp_path / "branch.json"))  # a valid, complete trace of its own
        assert resolve_parent(b, [trace]) is trace


def test_a_branch_with_other_settings_keeps_the_prefix_and_records_its_parent(tmp_path):
    model = BigramToy(scale=3.0)
    trace = decode(model, run_config(seed=4, temperature=0.3)).trace
    t = 3
    cfg = branch_config(trace, temperature=1.5, reward_weight=0.5, repetition_penalty=1.5, no_repeat_ngram=2,
                        ess_threshold=1.0, resampling="systematic", seed=9, policy="random")
    b = decode(model, cfg, start=BranchStart.at(trace, t)).trace
    assert b.steps[:t] == trace.steps[:t] and b.steps[t:] != trace.steps[t:]
    assert b.config["temperature"] == 1.5 and b.config["seed"] == 9 and b.parent["step"] == t
    loaded = Trace.load(b.save(tmp_path / "b.json"))
    np.testing.assert_array_equal(loaded.state_at(t).tokens, trace.state_at(t).tokens)
    # a branch of the branch names the branch as its parent; each resolves among the runs loaded together
    bb = decode(model, branch_config(loaded, seed=10), start=BranchStart.at(loaded, t + 2)).trace
    assert bb.parent == {"run_id": loaded.run_id, "step": t + 2}
    runs = [trace, loaded, bb]
    assert resolve_parent(bb, runs) is loaded and resolve_parent(loaded, runs) is trace
    with pytest.raises(TraceFormatError, match=f"parent run {loaded.run_id} .* is not among the loaded runs"):
        resolve_parent(bb, [trace])
    with pytest.raises(TraceFormatError, match="is not a branch"):
        resolve_parent(trace, runs)
    wrong = Trace.from_dict({**bb.to_dict(), "parent": {"run_id": trace.run_id, "step": t + 2}})
    with pytest.raises(TraceFormatError, match=f"run {trace.run_id} is not its parent: .* first {t + 2} steps differ"):
        resolve_parent(wrong, runs)  # the branch's steps after t are not the original's


@pytest.mark.parametrize("change, reason", [
    ({"gen_length": 32}, "gen_length = 32: a branch cannot change it .*length"),
    ({"block_length": 4}, "block_length = 4: a branch cannot change it"),
    ({"steps": 16}, "steps = 16: a branch cannot change it .*schedule"),
    ({"prompts": ("the dog", "a")}, "prompts = .*: a branch cannot change it"),
    ({"n_particles": 2}, "n_particles = 2: a branch keeps the run's N = 4 particles or grows them"),
    ({"top_k_alternatives": 2}, "top_k_alternatives = 2: a branch cannot change it"),
    ({"policy": "threshold"}, "cannot switch to or from the threshold policy"),
])
def test_settings_that_cannot_change_mid_run_are_refused_with_the_reason(change, reason):
    trace = decode(BigramToy(), run_config()).trace
    with pytest.raises(ValueError, match=reason):
        branch_config(trace, **change)
    with pytest.raises(ValueError, match=reason):  # decode checks too, whatever config it is handed
        decode(BigramToy(), trace_config(trace).replace(**change), start=BranchStart.at(trace, 2))


def trace_config(trace: Trace) -> SamplerConfig:
    return SamplerConfig.from_dict(trace.config)


def test_a_branch_needs_the_runs_model_and_a_step_with_work_left():
    trace = decode(BigramToy(), run_config()).trace
    other = FixedLogits(torch.zeros(10))
    with pytest.raises(ValueError, match="model 'fixed-logits': the run was decoded by 'bigram-toy'"):
        decode(other, branch_config(trace), start=BranchStart.at(trace, 2))
    with pytest.raises(ValueError, match=r"step 8: a branch starts after a step in \[0, 7\]"):
        BranchStart.at(trace, trace.n_steps)
    unfinished = Trace.from_dict(json.loads(json.dumps(trace.to_dict())))
    unfinished.final = {}
    with pytest.raises(ValueError, match="not finished"):
        BranchStart.at(unfinished, 2)


def uneven_step(trace: Trace) -> int:
    """A step after which the particles' weights differ (no reset), for growing a branch by weight."""
    return next(t for t in range(1, trace.n_steps) if np.ptp(trace.state_at(t).log_weight[:trace.n_particles]) > 0.5)


@pytest.mark.parametrize("policy, seed", [("topk", 0), ("random", 1), ("threshold", 2)])
def test_a_grown_branch_keeps_the_parents_rows_and_its_trace_replays_the_grown_start(policy, seed, tmp_path):
    model = BigramToy(scale=3.0)
    trace = decode(model, run_config(policy, seed=seed)).trace
    N, P = trace.n_particles, trace.n_prompts
    for t in sorted({0, 1, trace.n_steps - 1}):
        cfg = branch_config(trace, n_particles=7, seed=5)
        b = Trace.load(decode(model, cfg, start=BranchStart.at(trace, t)).trace.save(tmp_path / "b.json"))
        start = BranchStart.at(trace, t).grow(7, cfg.resampling, cfg.seed)
        parent = BranchStart.at(trace, t)
        originals = (np.arange(P)[:, None] * 7 + np.arange(N)).ravel()
        np.testing.assert_array_equal(start.tokens[originals], parent.tokens)  # rows j < N: the parent's, unchanged
        np.testing.assert_array_equal(start.log_weight[originals], parent.log_weight)
        assert b.parent == {"run_id": trace.run_id, "step": t, "n_particles": N} and b.n_particles == 7
        at_t = b.state_at(t)  # the lifted prefix replays to the grown start: tokens, confidences, weights
        np.testing.assert_array_equal(at_t.tokens, start.tokens)
        np.testing.assert_array_equal(np.nan_to_num(at_t.log_conf), start.log_conf)
        np.testing.assert_array_equal(at_t.log_weight, start.log_weight)
        after = b.steps[t]  # the branch's own first step continued from those weights
        np.testing.assert_allclose(np.subtract(after.log_weight, after.log_increment), start.log_weight, atol=1e-5)
        for s in range(t + 1):  # every earlier frame: the parent's rows as the parent shows them
            np.testing.assert_array_equal(b.state_at(s).tokens[originals], trace.state_at(s).tokens)
        assert resolve_parent(b, [trace]) is trace
        again = decode(model, cfg, start=BranchStart.at(trace, t)).trace
        assert again.steps == b.steps and again.run_id == b.run_id  # same seed, same branch


@pytest.mark.parametrize("scheme", ["multinomial", "systematic", "residual"])
def test_copies_are_drawn_by_weight_and_the_grown_weighted_mean_is_unbiased(scheme):
    """Over many seeds: each parent row is copied in proportion to its weight, and the grown population's weighted
    mean of any per-row quantity (here: which parent row a particle is) has the parent's weighted mean as its mean."""
    trace = decode(BigramToy(scale=3.0), run_config(seed=4, temperature=0.3)).trace
    t, N, M = uneven_step(trace), trace.n_particles, 5
    parent = BranchStart.at(trace, t)
    w = np.exp(parent.log_weight[:N] - parent.log_weight[:N].max())
    w_bar = w / w.sum()
    seeds = 600
    copied, weighted = np.zeros(N), np.zeros(N)
    for seed in range(seeds):
        g = parent.grow(N + M, scheme, seed)
        rows = np.concatenate([np.arange(N), g.copies[0]])  # which parent row each of prompt 0's particles is
        W = np.exp(g.log_weight[:N + M] - g.log_weight[:N + M].max())
        copied += np.bincount(g.copies[0], minlength=N)
        weighted += np.bincount(rows, weights=W / W.sum(), minlength=N)
    # 4 standard errors of multinomial draws (the other schemes vary less): a copy count has variance M·w̄(1 − w̄),
    # a grown weighted share (W_i + (S/N)·copies_i) / (N'·S/N) that over N'²
    sd = np.sqrt(M * w_bar * (1 - w_bar) / seeds)
    assert (np.abs(copied / (seeds * M) - w_bar) <= 4 * sd / M + 1e-9).all(), (copied / (seeds * M), w_bar)
    assert (np.abs(weighted / seeds - w_bar) <= 4 * sd / (N + M) + 1e-9).all(), (weighted / seeds, w_bar)
    assert not np.allclose(w_bar, 1 / N)  # the weights differ, so the test can fail
    assert (parent.grow(N + M, scheme, 7).copies == parent.grow(N + M, scheme, 7).copies).all()


def test_grown_branch_traces_that_do_not_add_up_are_refused_by_name():
    model = BigramToy(scale=3.0)
    trace = decode(model, run_config(seed=4, temperature=0.3)).trace
    t = trace.n_steps - 2
    b = decode(model, branch_config(trace, n_particles=6), start=BranchStart.at(trace, t)).trace.to_dict()
    for parent_n, reason in ((6, r"parent.n_particles = 6: must be a whole number in \[1, 6\)"),
                             (0, r"parent.n_particles = 0")):
        with pytest.raises(TraceFormatError, match=reason):
            Trace.from_dict({**b, "parent": {**b["parent"], "n_particles": parent_n}})
    s, p = next((s, p) for s in range(t) for p, done in enumerate(b["steps"][s]["resampled"]) if done)
    steps = json.loads(json.dumps(b["steps"]))
    steps[s]["ancestors"][p][0] = 5  # an original row descending from a copy
    with pytest.raises(TraceFormatError, match=rf"steps\[{s}\].ancestors\[{p}\] must keep rows < "
                                               "parent.n_particles = 4"):
        Trace.from_dict({**b, "steps": steps})
    with pytest.raises(TraceFormatError, match=r"steps\[\d+\].ess must hold values in \(0, parent.n_particles = 1\]"):
        Trace.from_dict({**b, "parent": {**b["parent"], "n_particles": 1}})
    with pytest.raises(ValueError, match="n_particles = 3: a branch keeps the run's N = 4"):
        decode(model, trace_config(trace).replace(n_particles=3), start=BranchStart.at(trace, t))
