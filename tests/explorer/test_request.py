"""RunRequest: untrusted run-panel values → one typed request → one config per role, errors naming the field."""
import dataclasses
import math

import pytest

from explorer.request import APP_FIXED, RunRequest
from sampler.config import SamplerConfig

SETTINGS = dict(prompt="the cat", model="toy", n_particles=3, temperature=1.0, gen_length=16, steps=8,
                block_length=8, policy="topk", ess_threshold=0.5, resampling="systematic", seed=5, best_of_n=True,
                resample_when="every_step", resample_every=1, final_pick="sum_logp", confidence="untempered",
                threshold=0.9)


def test_configs_share_prompt_and_seed_and_differ_only_in_n_and_method():
    cfgs = RunRequest.from_settings(SETTINGS).configs("cpu")
    assert list(cfgs) == ["greedy", "sr-smc", "best-of-n"]
    smc = cfgs["sr-smc"]
    assert smc.prompts == ("the cat",) and smc.seed == 5 and smc.n_particles == 3 and smc.resampling == "systematic"
    assert cfgs["greedy"] == smc.replace(n_particles=1)
    assert cfgs["best-of-n"] == smc.replace(method="best_of_n")
    assert list(RunRequest.from_settings({**SETTINGS, "best_of_n": False}).configs("cpu")) == ["greedy", "sr-smc"]


def test_fields_come_from_sampler_config_so_new_ones_flow_through():
    request = RunRequest.from_settings(SETTINGS)
    expected = [f.name for f in dataclasses.fields(SamplerConfig) if f.name not in APP_FIXED]
    assert list(request.settings) == expected
    with pytest.raises(TypeError):
        request.settings["seed"] = 1  # read-only
    with pytest.raises(dataclasses.FrozenInstanceError):
        request.prompt = "x"


def test_gradio_floats_become_ints_and_missing_fields_take_defaults():
    request = RunRequest.from_settings({"prompt": "a", "model": "toy", "n_particles": 4.0, "seed": 7.0})
    assert request.settings["n_particles"] == 4 and type(request.settings["seed"]) is int
    assert request.settings["gen_length"] == SamplerConfig().gen_length


@pytest.mark.parametrize("changes, message", [
    (dict(seed=10**30), "seed = 10{30}: must be a whole number of at most 2\\^63 − 1"),
    (dict(seed=1e30), "seed = 1e\\+30: must be a whole number of at most"),
    (dict(seed=-1), "seed = -1: must be an integer ≥ 0"),
    (dict(n_particles=2.5), "n particles = 2.5: must be a whole number"),
    (dict(n_particles=1), "particles N = 1: use N ≥ 2"),
    (dict(n_particles="4"), "n particles = '4': must be a number"),
    (dict(n_particles=True), "n particles = True: must be a number"),
    (dict(temperature=math.nan), "temperature = nan: must be a finite number"),
    (dict(temperature=math.inf), "temperature = inf: must be a finite number"),
    (dict(temperature=None), "temperature = None: must be a number"),
    (dict(policy=3), "policy = 3: must be a string"),
    (dict(policy="best"), "policy = 'best': must be one of topk, threshold, random"),
    (dict(best_of_n="yes"), "best of n = 'yes': must be true or false"),
    (dict(block_length=5), "block_length = 5: must be a divisor"),
    (dict(prompt=["a"]), "prompt = \\['a'\\]: must be a string"),
    (dict(prompt="ok \ud800"), "prompt: character 3 is not valid text"),
    (dict(model=None), "model = None: must be the name of a model"),
    (dict(colour="red"), "unknown settings: colour"),
])
def test_bad_values_are_named(changes, message):
    with pytest.raises(ValueError, match=message):
        RunRequest.from_settings({**SETTINGS, **changes})


def test_settings_must_be_a_mapping():
    with pytest.raises(ValueError, match="settings must be a mapping"):
        RunRequest.from_settings([("prompt", "x")])
