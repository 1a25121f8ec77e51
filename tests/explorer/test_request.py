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
    assert list(cfgs) == ["sr-smc", "greedy", "best-of-n"]
    smc = cfgs["sr-smc"]
    assert smc.prompts == ("the cat",) and smc.seed == 5 and smc.n_particles == 3 and smc.resampling == "systematic"
    assert cfgs["greedy"] == smc.replace(n_particles=1)
    assert cfgs["best-of-n"] == smc.replace(method="best_of_n")
    assert list(RunRequest.from_settings({**SETTINGS, "best_of_n": False}).configs("cpu")) == ["sr-smc", "greedy"]


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


# ----- fuzz: random settings are a request or a named ValueError, never another exception ----------------------
from hypothesis import HealthCheck, event, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from explorer.limits import Limits  # noqa: E402

VALUES = st.one_of(st.none(), st.booleans(), st.integers(-2**70, 2**70), st.floats(allow_nan=True),
                   st.sampled_from([0, 1, 2, 4, 8, 16, 64, 65, 512, 513, 0.5, 1.0, 10**30, "topk", "threshold",
                                    "block_end", "every_k", "systematic", "max_weight", "tempered"]),
                   st.text(max_size=6), st.lists(st.integers(0, 3), max_size=2))
NAMES = st.sampled_from([*SETTINGS, "colour"])


@settings(max_examples=400, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(changes=st.dictionaries(NAMES, VALUES, max_size=4), prompt_tokens=st.integers(0, 2000))
def test_random_settings_are_a_request_or_a_named_error(changes, prompt_tokens):
    try:
        request = RunRequest.from_settings({**SETTINGS, **changes})
    except ValueError as e:
        assert str(e) and "Traceback" not in str(e)
        event("refused by RunRequest")
        return
    cfgs = request.configs("cpu")
    assert set(cfgs) >= {"greedy", "sr-smc"}
    try:
        Limits().check_request(request, prompt_tokens)
        event("allowed")
    except ValueError as e:
        assert "this app allows" in str(e)
        event("refused by Limits")


@settings(max_examples=300, deadline=None, derandomize=True, database=None, suppress_health_check=list(HealthCheck))
@given(n=st.integers(-1, 80), gen=st.sampled_from([1, 8, 16, 64, 100, 512, 600]), steps=st.integers(1, 600),
       blocks=st.sampled_from([1, 2, 4, 8]), best=st.booleans(), policy=st.sampled_from(["topk", "threshold"]),
       prompt_tokens=st.integers(0, 600))
def test_random_sizes_are_allowed_or_refused_with_the_estimate(n, gen, steps, blocks, best, policy, prompt_tokens):
    settings_ = {**SETTINGS, "n_particles": n, "gen_length": gen, "steps": steps, "block_length": max(gen // blocks, 1),
                 "best_of_n": best, "policy": policy}
    try:
        request = RunRequest.from_settings(settings_)
    except ValueError:
        event("refused by RunRequest")
        return
    limits = Limits()
    estimate = limits.request_cost(request, prompt_tokens)
    try:
        limits.check_request(request, prompt_tokens)
        event("allowed")
        assert estimate <= limits.max_cost
    except ValueError as e:
        event("refused by Limits")
        assert "this app allows" in str(e)


@pytest.mark.parametrize("name, value, message", [
    ("n_particles", float("nan"), "n particles = nan: must be a finite number"),
    ("n_particles", "4", "n particles = '4': must be a number"),
    ("n_particles", 2.5, "n particles = 2.5: must be a whole number"),
    ("temperature", "hot", "temperature = 'hot': must be a number"),
    ("seed", float("inf"), "seed = inf: must be a finite number"),
    ("seed", True, "seed = True: must be a number"),
])
def test_raw_numbers_are_checked_before_a_component_rounds_them(name, value, message):
    from explorer.request import check_raw, strict_numbers

    with pytest.raises(ValueError, match=message):
        check_raw(name, value)

    class Component:  # what Gradio's Number does: round to the precision
        def preprocess(self, payload):
            return int(round(payload))
    component = Component()
    strict_numbers({name: component, "prompt": Component()}, error=RuntimeError)
    with pytest.raises(RuntimeError, match=message):
        component.preprocess(value)
    assert component.preprocess(3) == 3  # a whole number passes through to the component
