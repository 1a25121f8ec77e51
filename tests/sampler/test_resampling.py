import math

import pytest
import torch

from sampler import resampling
from sampler.resampling import SCHEMES, ess, normalise, resample

WEIGHTS = torch.tensor([0.05, 0.15, 0.3, 0.5, 0.0, 0.0, 0.0, 0.0])


def uniform(*shape: int) -> torch.Tensor:
    """U[0, 1) draws, float64, from a fixed seed (the sampler takes them from `sampler.streams`)."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(0), dtype=torch.float64)


def offspring_counts(scheme: str, draws: int = 4000, m: int = len(WEIGHTS)) -> torch.Tensor:
    """Offspring count of each particle `[draws, N]` among m ancestors drawn, all draws batched as groups."""
    w = WEIGHTS.expand(draws, -1).clone()
    ancestors = resample(w, scheme, uniform(draws, m))
    assert ancestors.shape == (draws, m)
    return torch.nn.functional.one_hot(ancestors, len(WEIGHTS)).sum(1).double()


@pytest.mark.parametrize("m", [len(WEIGHTS), 3, 13])  # resampling (M = N), and a branch's extra particles
@pytest.mark.parametrize("scheme", list(SCHEMES))
def test_schemes_are_unbiased(scheme, m):
    counts = offspring_counts(scheme, m=m)
    assert (counts.sum(1) == m).all()
    expected = m * WEIGHTS.double()
    stderr = counts.std(0) / counts.shape[0] ** 0.5 + 1e-9
    assert ((counts.mean(0) - expected).abs() < 4 * stderr + 1e-6).all(), (counts.mean(0), expected)
    assert (counts[:, 4:] == 0).all()  # zero weight, no offspring


@pytest.mark.parametrize("scheme", ["systematic", "stratified", "residual"])
def test_low_variance_schemes_beat_multinomial(scheme):
    assert offspring_counts(scheme).var(0).sum() < 0.5 * offspring_counts("multinomial").var(0).sum()


def test_ess_equal_and_degenerate():
    assert torch.allclose(ess(torch.zeros(2, 8)), torch.tensor([8.0, 8.0]))
    degenerate = torch.tensor([[0.0] + [-torch.inf] * 7, [-1e4, 0.0, -1e4, -1e4, -1e4, -1e4, -1e4, -1e4]])
    assert torch.allclose(ess(degenerate), torch.ones(2))
    # large shared offsets are harmless in log space
    offset = torch.tensor([[-1e6, -1e6 + math.log(3.0)]], dtype=torch.float64)
    assert torch.allclose(ess(offset), torch.tensor([1.6], dtype=torch.float64))


def test_normalise_rejects_nan_and_all_minus_inf():
    with pytest.raises(ValueError, match="NaN"):
        normalise(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(ValueError, match="-inf"):
        normalise(torch.full((1, 3), -torch.inf))


def test_resampling_stays_in_group_and_in_order_drawn():
    w = torch.tensor([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    for scheme in SCHEMES:
        a = resample(w, scheme, uniform(2, 3))
        assert a.tolist() == [[2, 2, 2], [0, 0, 0]]
    # multinomial keeps the draw order: not sorted in general
    a = resample(torch.full((1, 16), 1 / 16), "multinomial", uniform(1, 16))
    assert a.tolist()[0] != sorted(a.tolist()[0])


@pytest.mark.parametrize("scheme", ["systematic", "stratified"])
def test_a_position_rounded_to_one_never_draws_a_zero_weight_tail(scheme):
    """In float32, (U + 63) / 64 is 1.0 for U ≥ 1 − 2⁻¹⁹ (≈ 9 in 2 M draws at N = 64); the old clamp then
    picked the last particle even when its weight was 0. Here every uniform is the largest float below 1."""
    U = torch.tensor(1 - 2**-24, dtype=torch.float32)
    assert (U + 63) / 64 == 1.0  # the case, in float32
    N = 64
    w = torch.zeros(1, N)
    w[0, :N // 2] = 2 / N  # the upper half has weight exactly 0
    a = resample(w, scheme, torch.full((1, N), 1 - 2**-53, dtype=torch.float64))
    assert a.max() < N // 2, a
    assert (w[0, a] > 0).all()


def test_inverting_the_cdf_skips_zero_weight_bins_at_both_ends_and_inside():
    w = torch.tensor([[0.0, 0.5, 0.0, 0.5, 0.0]])
    u = torch.tensor([[0.0, 0.25, 0.5, 0.75, 1.0]], dtype=torch.float64)
    assert resampling._invert_cdf(w, u).tolist() == [[1, 1, 3, 3, 3]]
    # float32 weights summing to less than 1: positions scale to the total, so u = 1 still lands on a real bin
    w32 = torch.tensor([[0.3, 0.3, 0.3999999, 0.0]], dtype=torch.float32)
    assert resampling._invert_cdf(w32, torch.tensor([[1.0]], dtype=torch.float64)).tolist() == [[2]]
