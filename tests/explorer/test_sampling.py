"""app.py's sampler: settings → configs, limits and model checks before any decoding, traces by role."""
import pytest

from app import Sampler, configs
from explorer.limits import Limits
from tests.explorer.conftest import one_torch_thread
from sampler.models.toy import BigramToy

SETTINGS = dict(prompt="the cat", model="toy", n_particles=3, temperature=1.0, gen_length=16, steps=8,
                block_length=8, policy="topk", ess_threshold=0.5, resampling="systematic", seed=5, best_of_n=True,
                resample_when="every_step", resample_every=1, final_pick="sum_logp", confidence="untempered",
                threshold=0.9)


def test_one_run_gives_greedy_smc_and_best_of_n_on_the_same_prompt_and_seed():
    calls = []
    with one_torch_thread():
        traces = Sampler({"toy": BigramToy()}, Limits())(SETTINGS, lambda *a, **k: calls.append(a[0]))
    assert list(traces) == ["greedy", "sr-smc", "best-of-n"]
    assert [t.n_particles for t in traces.values()] == [1, 3, 3]
    assert {t.config["seed"] for t in traces.values()} == {5}
    assert {tuple(t.prompts) for t in traces.values()} == {("the cat",)}
    assert traces["best-of-n"].resample_steps() == []
    assert calls[-1] == (24, 24)  # progress over all three runs: 3 × 8 steps


@pytest.mark.parametrize("changes, message", [
    (dict(n_particles=65), "particles N = 65: this app allows at most 64"),
    (dict(n_particles=1), "particles N = 1: use N ≥ 2"),
    (dict(n_particles=2.5), "n particles = 2.5: must be a whole number"),
    (dict(gen_length=600, steps=600, block_length=600), "gen length = 600: this app allows at most 512"),
    (dict(n_particles=64, gen_length=512, steps=512, block_length=512), "particles × steps = 64 × 512"),
    (dict(steps=20), "steps = 20"),
    (dict(block_length=5), "block_length = 5: must be a divisor"),
    (dict(temperature=-1), "temperature = -1"),
    (dict(policy="best"), "policy = 'best'"),
    (dict(prompt="x" * 2001), "prompt of 2001 characters"),
    (dict(model="gpt-5"), "model 'gpt-5' is not offered by this app; choose one of toy"),
    (dict(gen_length=504, steps=504, block_length=504), "prompt \\(2 tokens\\) \\+ gen_length must be ≤ the model's "
                                                          "maximum length 500"),
])
def test_bad_settings_are_named_before_decoding(changes, message):
    toy = BigramToy(max_length=500)
    with pytest.raises(ValueError, match=message):
        Sampler({"toy": toy}, Limits())({**SETTINGS, **changes})
    assert toy.calls == []  # nothing ran


def test_configs_keep_every_setting():
    cfgs = configs({**SETTINGS, "best_of_n": False})
    assert list(cfgs) == ["greedy", "sr-smc"]
    smc = cfgs["sr-smc"]
    assert (smc.n_particles, smc.resampling, smc.block_length, smc.seed) == (3, "systematic", 8, 5)
    assert cfgs["greedy"].replace(n_particles=3) == smc
