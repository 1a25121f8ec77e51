"""When SR-SMC checks the ESS and resamples, and that resampling reweights as it should.

κ = 1 makes every ESS check resample (unless all N = 8 particles of the stochastic toy happen to commit the
same tokens in one step: rare, and not the case for these seeds), so the steps that resampled are exactly the
steps the schedule checked. Each test kills one
mutant of the schedule that the rest of the suite let survive.
"""
import numpy as np
import pytest
import torch

from sampler.config import SamplerConfig
from sampler.models.toy import BigramToy, FixedLogits
from sampler.smc import decode

ALWAYS = dict(ess_threshold=1.0, temperature=1.0, n_particles=8, prompts=("the cat",))


def run(**changes):
    torch.set_num_threads(1)
    return decode(BigramToy(scale=3.0), SamplerConfig(**{**ALWAYS, **changes}))


def resampled_steps(trace) -> list[int]:
    return [s.step for s in trace.steps if any(s.resampled)]


@pytest.mark.parametrize("resample_when", ["every_step", "block_end", "every_k"])
@pytest.mark.parametrize("policy", ["topk", "random", "threshold"])
def test_never_resamples_after_the_last_step(policy, resample_when):
    result = run(gen_length=16, steps=8, block_length=8, policy=policy, resample_when=resample_when,
                 resample_every=2, threshold=0.3, final_pick="max_weight")
    last = result.trace.steps[-1]
    assert not any(last.resampled) and last.ancestors is None
    # max_weight scores are the final log-weights; a reset after the last step would make them all 0
    assert np.allclose(result.scores.flatten().tolist(), last.log_weight) and (result.scores != 0).any()


def test_every_step_checks_after_every_step_but_the_last():
    assert resampled_steps(run(gen_length=16, steps=8, block_length=8).trace) == list(range(1, 8))


def test_block_end_checks_only_where_a_block_ends():
    trace = run(gen_length=24, steps=12, block_length=8, resample_when="block_end").trace
    assert resampled_steps(trace) == [4, 8]  # blocks end at steps 4, 8 and 12 (the last: no check)


def test_block_end_under_the_threshold_policy_follows_the_blocks_actual_ends():
    trace = run(gen_length=24, steps=12, block_length=8, resample_when="block_end", policy="threshold",
                threshold=0.3).trace
    ends = [s.step for s, nxt in zip(trace.steps, trace.steps[1:]) if nxt.block != s.block]
    assert len(ends) == 2 and resampled_steps(trace) == ends


@pytest.mark.parametrize("k, expected", [(2, [2, 4, 6]), (3, [3, 6]), (5, [5]), (1, list(range(1, 8)))])
def test_every_k_checks_at_multiples_of_k(k, expected):
    trace = run(gen_length=16, steps=8, block_length=8, resample_when="every_k", resample_every=k).trace
    assert resampled_steps(trace) == expected


def test_resampling_reweights_by_the_self_reward():
    """Draw one token x ~ p (τ = 1), weight it by its confidence p(x), resample: the population's tokens
    then follow p(x)·p(x) / Σ p², not p. 400 groups of N = 64, multinomial (no reweighting: p). The prompts
    differ (their index in base 4) so that each group draws from a stream of its own (`sampler.streams`)."""
    p = torch.tensor([0.5, 0.3, 0.15, 0.05])
    prompts = tuple(" ".join(str(i // 4**d % 4) for d in range(5)) for i in range(400))
    cfg = SamplerConfig(prompts=prompts, gen_length=2, steps=2, n_particles=64, temperature=1.0,
                        policy="random", ess_threshold=1.0, resampling="multinomial", seed=11)
    torch.set_num_threads(1)
    trace = decode(FixedLogits(p.log()), cfg).trace
    assert trace.steps[0].resampled == [True] * 400
    after = trace.state_at(1)
    generated = after.tokens[:, trace.prompt_width:]
    tokens = generated[generated != trace.mask_id]  # the one committed token of each row
    assert tokens.shape == (400 * 64,)
    frequency = np.bincount(tokens, minlength=4) / tokens.size
    target = (p**2 / (p**2).sum()).numpy()
    assert np.abs(frequency - target).max() < 0.03, (frequency, target)  # p itself is 0.18 away
    before = trace.state_at(1, before_resample=True).tokens[:, trace.prompt_width:]
    proposal = np.bincount(before[before != trace.mask_id], minlength=4) / tokens.size
    assert np.abs(proposal - p.numpy()).max() < 0.03  # what was drawn follows p
