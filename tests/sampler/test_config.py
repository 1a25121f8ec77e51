import pytest

from sampler.config import SamplerConfig


@pytest.mark.parametrize("changes,message", [
    (dict(gen_length=64, block_length=10), "block_length = 10: must be a divisor of gen_length=64"),
    (dict(gen_length=64, block_length=128), r"block_length = 128: must be an integer in \[1, gen_length=64\]"),
    (dict(n_particles=0), "n_particles = 0: must be an integer ≥ 1"),
    (dict(temperature=-0.5), "temperature = -0.5: must be ≥ 0"),
    (dict(temperature=float("nan")), "temperature = nan"),
    (dict(gen_length=64, steps=65), r"steps = 65: must be an integer in \[number of blocks=1, gen_length=64\]"),
    (dict(gen_length=64, block_length=16, steps=3), r"steps = 3: must be an integer in \[number of blocks=4"),
    (dict(gen_length=64, block_length=16, steps=18), r"steps = 18: must be a multiple of the number of blocks \(4\)"),
    (dict(ess_threshold=1.5), r"ess_threshold = 1.5: must be in \[0, 1\]"),
    (dict(threshold=0.0), r"threshold = 0.0: must be in \(0, 1\]"),
    (dict(resampling="magic"), "resampling = 'magic': must be one of multinomial, systematic, stratified, residual"),
    (dict(policy="greedy"), "policy = 'greedy': must be one of topk, threshold, random"),
    (dict(resample_when="sometimes"), "resample_when = 'sometimes'"),
    (dict(final_pick="best"), "final_pick = 'best': must be one of sum_logp, mean_logp, max_weight"),
    (dict(seed=-1), "seed = -1"),
    (dict(dtype="int8"), "dtype = 'int8': must be one of auto, float32, bfloat16, float16"),
    (dict(prompts=()), "prompts"),
])
def test_bad_configs_name_field_and_range(changes, message):
    with pytest.raises(ValueError, match=message):
        SamplerConfig(**changes)


def test_model_limits():
    c = SamplerConfig(gen_length=64, block_length=16, steps=64)
    with pytest.raises(ValueError, match="prompt \\(10 tokens\\) \\+ gen_length must be ≤ the model's maximum length 70"):
        c.check_model(70, [3, 10], None)
    with pytest.raises(ValueError, match="decodes in blocks of 32"):
        c.check_model(1024, [3], 32)
    c.check_model(74, [10], 8)


def test_defaults_and_round_trip():
    c = SamplerConfig(prompts="Emma", gen_length=32, steps=16)
    assert c.prompts == ("Emma",) and c.block_length == 32 and c.num_blocks == 1
    assert SamplerConfig.from_dict(c.to_dict()) == c
    with pytest.raises(ValueError, match="unknown config fields: colour"):
        SamplerConfig.from_dict({**c.to_dict(), "colour": "red"})


def test_every_field_has_one_line_of_help():
    help_ = SamplerConfig.help()
    assert set(help_) == set(SamplerConfig().to_dict())
    assert all(text and "\n" not in text for text in help_.values())
    assert "beyond the paper" in help_["reward_weight"] and "beyond the paper" in help_["no_repeat_ngram"]


@pytest.mark.parametrize("changes,message", [
    (dict(reward_weight=1.5), r"reward_weight = 1.5: must be in \[0, 1\]"),
    (dict(repetition_penalty=0.9), "repetition_penalty = 0.9: must be a finite number ≥ 1"),
    (dict(no_repeat_ngram=1), "no_repeat_ngram = 1: must be 0 \\(off\\) or an integer ≥ 2"),
])
def test_repetition_knobs_are_validated(changes, message):
    with pytest.raises(ValueError, match=message):
        SamplerConfig(**changes)


def test_defaults_keep_the_papers_method():
    c = SamplerConfig()
    assert (c.reward_weight, c.repetition_penalty, c.no_repeat_ngram) == (1.0, 1.0, 0)


@pytest.mark.parametrize("changes,message", [
    (dict(seed=10**30), r"seed = 10{30}: must be an integer ≥ 0 \(a whole number ≤ 2\^63 − 1\)"),
    (dict(seed=10**5000), "seed = an integer of 16610 bits"),
    (dict(temperature=float("inf")), "temperature = inf: must be a finite number"),
    (dict(temperature="hot"), "temperature = 'hot': must be a finite number"),
    (dict(n_particles=True), "n_particles = True: must be an integer"),
    (dict(gen_length=64.0), "gen_length = 64.0: must be an integer"),
    (dict(policy=["topk"]), r"policy = \['topk'\]: must be one of"),
    (dict(device="meta"), "device = 'meta': must be a torch device"),
    (dict(device="not a device"), "device = 'not a device'"),
    (dict(prompts=("ok", "bad \udcff")), r"prompts\[1\]: holds a character that is not valid text"),
    (dict(prompts=5), "prompts = 5: must be one or more strings"),
])
def test_types_and_64_bit_ints_are_validated_like_ranges(changes, message):
    with pytest.raises(ValueError, match=message):
        SamplerConfig(**changes)


def test_check_device_names_a_missing_gpu(monkeypatch):
    import torch
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="device = 'cuda': this machine has no such CUDA device"):
        SamplerConfig(device="cuda").check_device()
    SamplerConfig(device="cpu").check_device()
