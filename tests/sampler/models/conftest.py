"""Tiny hub-layout checkpoints of each family (tests/fixtures/tiny_models.py), loaded as a hub id is."""
import pytest

from sampler.config import SamplerConfig
from sampler.models.hub import load_hub_model
from sampler.smc import decode
from tests.fixtures import tiny_models


@pytest.fixture(scope="session")
def tiny_folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_hub")
    return {family: tiny_models.save_tiny(root / family, family) for family in tiny_models.FAMILIES}


@pytest.fixture(scope="session")
def tiny(tiny_folders):
    """family -> Denoiser loaded through load_hub_model, offline."""
    return {family: load_hub_model(str(folder), local_files_only=True) for family, folder in tiny_folders.items()}


def assert_decodes(model, block_length: int | None = None) -> None:
    """Greedy, best-of-N and SR-SMC run to the end: no MASK left, in-vocabulary tokens, same seed -> same run."""
    base = SamplerConfig(prompts=("the cat sat",), gen_length=8, steps=8, block_length=block_length, n_particles=3,
                         ess_threshold=1.0, seed=3)
    for cfg in (base.replace(n_particles=1), base.replace(method="best_of_n"), base):
        result = decode(model, cfg)
        generated = result.sequences[:, -cfg.gen_length:]
        assert (generated != model.mask_id).all() and (generated < len(model.tokenizer)).all()
        assert len(result.texts[0]) == cfg.n_particles and result.trace is not None
        assert decode(model, cfg).texts == result.texts
    assert result.trace.resample_steps(0)  # κ = 1 resamples whenever the weights are uneven
