import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from sampler import unmasking

from sampler.unmasking import (draw_candidates, ngram_bans, penalise_repeats, present_tokens, select_commits,
                               top_alternatives, transfer_counts)


def uniform(*shape: int) -> torch.Tensor:
    """U[0, 1) draws, float32, from a fixed seed (the sampler takes them from `sampler.streams`)."""
    return torch.rand(shape, generator=torch.Generator().manual_seed(sum(shape)))


def chi2_critical(df: int, z: float = 3.09) -> float:
    """Upper 0.999 quantile of chi-square(df), Wilson–Hilferty approximation."""
    return df * (1 - 2 / (9 * df) + z * math.sqrt(2 / (9 * df))) ** 3


@pytest.mark.parametrize("temperature", [0.5, 1.0, 2.0])
def test_gumbel_max_frequencies_match_tempered_softmax(temperature):
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0, 0.5, -3.0])
    n = 60_000
    tokens, _ = draw_candidates(logits.expand(1, n, -1).clone(), temperature, "untempered", uniform(1, n))
    observed = torch.bincount(tokens.flatten(), minlength=6).double()
    expected = torch.softmax(logits.double() / temperature, 0) * n
    chi2 = ((observed - expected) ** 2 / expected).sum().item()
    assert chi2 < chi2_critical(5), (chi2, observed, expected)
    # and the test can fail: the untempered distribution is rejected at τ ≠ 1
    if temperature != 1.0:
        wrong = torch.softmax(logits.double(), 0) * n
        assert ((observed - wrong) ** 2 / wrong).sum().item() > chi2_critical(5)


def test_confidence_is_probability_of_drawn_token():
    logits = torch.randn(2, 5, 7, generator=torch.Generator().manual_seed(0))
    u = uniform(2, 5)
    tokens, untempered = draw_candidates(logits, 0.7, "untempered", u)
    same_tokens, tempered = draw_candidates(logits, 0.7, "tempered", u)
    assert torch.equal(tokens, same_tokens)
    assert torch.allclose(untempered, torch.log_softmax(logits, -1).gather(-1, tokens[..., None])[..., 0])
    assert torch.allclose(tempered, torch.log_softmax(logits / 0.7, -1).gather(-1, tokens[..., None])[..., 0])


def test_zero_temperature_is_argmax_and_needs_no_uniforms():
    logits = torch.randn(3, 4, 9, generator=torch.Generator().manual_seed(2))
    tokens, log_c = draw_candidates(logits, 0.0, "tempered", None)
    assert torch.equal(tokens, logits.argmax(-1))
    assert torch.allclose(log_c, torch.log_softmax(logits, -1).max(-1).values)


@pytest.mark.parametrize("temperature", [0.0, 1.0])
def test_rows_that_cannot_be_drawn_from_are_flagged_in_log_conf(temperature):
    logits = torch.tensor([[0.0, 1.0, 2.0], [0.0, float("nan"), 1.0], [-math.inf] * 3, [0.0, math.inf, 1.0]])
    tokens, log_c = draw_candidates(logits, temperature, "untempered", uniform(4))
    assert torch.isfinite(log_c[0]) and log_c[1:].isnan().all()


def test_draw_is_the_inverse_cdf_of_its_uniform_and_never_a_zero_probability_token():
    logits = torch.tensor([0.0, -math.inf, 3.0, -math.inf]).expand(50_000, -1).clone()
    u = uniform(50_000)
    tokens, _ = draw_candidates(logits, 1.0, "untempered", u)
    assert set(tokens.unique().tolist()) == {0, 2}
    p0 = torch.softmax(logits[0], -1)[0]
    assert torch.equal(tokens, torch.where(u < p0, 0, 2))  # token 0 exactly where u falls in its bin
    edge, _ = draw_candidates(logits[:2], 1.0, "untempered", torch.tensor([0.0, 1 - 2**-24]))
    assert edge.tolist() == [0, 2]  # the ends of [0, 1) never reach a zero-probability token


def test_tiny_temperature_is_argmax_with_finite_confidences():
    """τ = 1e-40 would overflow logits/τ: it acts as τ = 0."""
    logits = torch.randn(4, 6, 50, generator=torch.Generator().manual_seed(3))
    for confidence in ("untempered", "tempered"):
        tokens, log_c = draw_candidates(logits.clone(), 1e-40, confidence, uniform(4, 6))
        assert torch.equal(tokens, logits.argmax(-1))
        assert torch.allclose(log_c, torch.log_softmax(logits, -1).amax(-1))  # as at τ = 0


def test_transfer_counts_spread_block_over_steps():
    assert transfer_counts(10, 4) == [3, 3, 2, 2]
    assert transfer_counts(8, 8) == [1] * 8
    assert sum(transfer_counts(32, 5)) == 32


def test_topk_commits_most_confident_eligible_positions():
    log_c = torch.log(torch.tensor([[0.9, 0.8, 0.1, 0.95], [0.2, 0.3, 0.4, 0.5]]))
    eligible = torch.tensor([[True, True, True, False], [True, True, True, True]])
    commit = select_commits("topk", log_c, eligible, 2, 0.9)
    assert commit.tolist() == [[True, True, False, False], [False, False, True, True]]


def test_threshold_commits_top1_plus_confident():
    log_c = torch.log(torch.tensor([[0.95, 0.92, 0.5], [0.3, 0.2, 0.1]]))
    eligible = torch.ones(2, 3, dtype=torch.bool)
    commit = select_commits("threshold", log_c, eligible, 1, 0.9)
    assert commit.tolist() == [[True, True, False], [True, False, False]]
    none_left = select_commits("threshold", log_c, torch.zeros(2, 3, dtype=torch.bool), 1, 0.9)
    assert not none_left.any()


def test_random_policy_picks_uniformly_among_eligible():
    log_c = torch.zeros(20_000, 4)
    log_c[:, 0] = 10.0  # confidence must not matter
    eligible = torch.tensor([True, True, False, True]).expand(20_000, 4)
    commit = select_commits("random", log_c, eligible, 1, 0.9, uniform(20_000, 4))
    assert (commit.sum(1) == 1).all() and not commit[:, 2].any()
    freq = commit.float().mean(0)
    assert torch.allclose(freq[[0, 1, 3]], torch.full((3,), 1 / 3), atol=0.02)


def test_ngram_bans_refuse_exactly_the_completing_tokens():
    M = 9  # mask id
    x = torch.tensor([[1, 2, 3, 1, M, 5, 2, M]])
    known = x != M
    positions = torch.tensor([[4, 7]])
    bans = ngram_bans(x, known, positions, 2, 10, slice(0, 2))
    # position 4: after "1" → "2" would repeat (1, 2); before "5" nothing ends in 5 elsewhere
    assert bans[0].nonzero().flatten().tolist() == [2]
    # position 7: after "2" → "3" would repeat (2, 3)
    assert bans[1].nonzero().flatten().tolist() == [3]
    tri = ngram_bans(x, known, positions, 3, 10, slice(0, 2))
    assert tri[0].nonzero().flatten().tolist() == []  # (3, 1, t) needs a 3-gram starting "3 1": none; (1, t, 5) none
    assert tri[1].nonzero().flatten().tolist() == []  # (5, 2, t): no "5 2 ·" elsewhere


def test_repetition_penalty_divides_positive_and_multiplies_negative_logits():
    logits = torch.tensor([[2.0, -2.0, 1.0]])
    present = present_tokens(torch.tensor([[0, 1, 9]]), torch.tensor([[True, True, False]]), 3)
    assert present.tolist() == [[True, True, False]]
    assert penalise_repeats(logits, present, 2.0).tolist() == [[1.0, -4.0, 1.0]]


@pytest.mark.parametrize("temperature, confidence", [(1.0, "untempered"), (0.5, "untempered"), (0.5, "tempered"),
                                                     (0.0, "tempered")])
def test_top_alternatives_are_the_proposals_most_likely_tokens(temperature, confidence):
    gen = torch.Generator().manual_seed(0)
    logits = 3 * torch.randn(64, 50, generator=gen)
    logits[:, 7] = -torch.inf  # a token that cannot be drawn (MASK)
    tokens, log_c = draw_candidates(logits.clone(), temperature, confidence, torch.rand(64, generator=gen))
    alternatives, probs, rank = top_alternatives(logits, tokens, log_c, temperature, confidence, 5)
    scale = temperature if confidence == "tempered" and temperature > 0 else 1.0
    reference = torch.softmax(logits.double() / scale, dim=-1)  # the distribution c is read from
    order = reference.argsort(dim=-1, descending=True)
    assert torch.equal(alternatives, order[:, :5])
    torch.testing.assert_close(probs.double(), reference.gather(1, alternatives), rtol=1e-4, atol=1e-7)
    expected_rank = (reference > reference.gather(1, tokens[:, None])).sum(-1) + 1
    assert torch.equal(rank, expected_rank)
    if temperature == 0:
        assert (rank == 1).all()


def reference_ngram_bans(x, known, positions, n, vocab_size, flat):
    """The rule of `ngram_bans`, written plainly: loops over candidates, windows and tokens."""
    R, L = x.shape
    m = positions.shape[1]
    x, known = x.tolist(), known.tolist()
    out = torch.zeros(flat.stop - flat.start, vocab_size, dtype=torch.bool)
    for q, f in enumerate(range(flat.start, flat.stop)):
        r, j = f // m, int(positions.flatten()[f])
        if known[r][j]:
            continue
        complete = [tuple(x[r][e:e + n]) for e in range(L - n + 1) if all(known[r][e:e + n])]
        for s in range(max(0, j - n + 1), min(j, L - n) + 1):
            if not all(known[r][i] for i in range(s, s + n) if i != j):
                continue
            for window in complete:
                if all(window[i] == x[r][s + i] for i in range(n) if s + i != j):
                    out[q, window[j - s]] = True
    return out


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_ngram_bans_match_a_plain_reference(data):
    """The exact-id implementation bans what the rule says, on random rows, masks, positions and chunks."""
    R, L = data.draw(st.integers(1, 4)), data.draw(st.integers(1, 14))
    V, n = data.draw(st.integers(1, 4)), data.draw(st.integers(2, 6))
    x = torch.tensor(data.draw(st.lists(st.lists(st.integers(0, V - 1), min_size=L, max_size=L), min_size=R,
                                        max_size=R)))
    mask = torch.tensor(data.draw(st.lists(st.lists(st.booleans(), min_size=L, max_size=L), min_size=R,
                                           max_size=R)))
    x[mask] = V  # the mask id, outside the drawable vocabulary here
    m = data.draw(st.integers(1, L))
    positions = torch.stack([torch.tensor(data.draw(st.permutations(range(L)))[:m]) for _ in range(R)])
    a = data.draw(st.integers(0, R * m))
    flat = slice(a, data.draw(st.integers(a, R * m)))
    got = ngram_bans(x, ~mask, positions, n, V + 1, flat)
    assert torch.equal(got, reference_ngram_bans(x, ~mask, positions, n, V + 1, flat))


def test_ngram_bans_in_small_passes_ban_the_same(monkeypatch):
    """Rows and matches are processed in passes of at most NGRAM_CHUNK entries; tiny passes change nothing."""
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 3, (6, 40), generator=gen)
    mask = torch.rand(6, 40, generator=gen) < 0.2
    x[mask] = 3
    positions = torch.argsort(mask.to(torch.uint8), dim=1, descending=True, stable=True)[:, :12]
    for n in (2, 3, 5, 20):
        whole = ngram_bans(x, ~mask, positions, n, 4, slice(0, 72))
        assert torch.equal(whole, reference_ngram_bans(x, ~mask, positions, n, 4, slice(0, 72)))
        monkeypatch.setattr(unmasking, "NGRAM_CHUNK", 7)
        assert torch.equal(ngram_bans(x, ~mask, positions, n, 4, slice(0, 72)), whole)
        monkeypatch.undo()
