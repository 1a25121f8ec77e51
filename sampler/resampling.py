"""Effective sample size and resampling schemes, batched over prompt groups.

All functions take weights as `[P, N]` (P prompt groups of N particles) and M uniforms per group (`u [P, M]`)
and return M ancestor indices `[P, M]` within each group, in the order the scheme draws them (never re-sorted).
Resampling draws M = N; a branch that grows its population draws the M extra particles (`sampler.branch`).
The caller decides where the randomness comes from (the sampler: one stream per prompt, `sampler.streams`).
Every scheme is unbiased: E[offspring of i] = M·w̄_i.
"""
import torch


def normalise(log_w: torch.Tensor, check: bool = True) -> torch.Tensor:
    """w̄ = softmax(log_w) per group `[P, N]`, in log space (log-sum-exp).

    With `check`, raises ValueError where a group has no finite weight or a NaN, instead of
    returning NaN weights; that check waits for the device, so the sampler's step (whose
    log-weights are finite by construction) passes `check=False`.
    """
    if not check:
        return torch.softmax(log_w, dim=-1)
    if torch.isnan(log_w).any():
        raise ValueError("log-weights contain NaN")
    if not torch.isfinite(log_w.max(dim=-1).values).all():
        raise ValueError("every particle of a group has log-weight -inf (or one is +inf)")
    return torch.softmax(log_w, dim=-1)


def ess(log_w: torch.Tensor, check: bool = True) -> torch.Tensor:
    """ESS = 1 / Σ w̄² per group `[P]`: N for equal weights, 1 for a degenerate one (`check` as in `normalise`)."""
    if check:
        normalise(log_w)
    log_w_bar = torch.log_softmax(log_w, dim=-1)
    return torch.exp(-torch.logsumexp(2 * log_w_bar, dim=-1))


def _invert_cdf(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Indices i with cdf[i-1] ≤ u·total < cdf[i] for positions u `[P, M]` in [0, 1], never a zero-weight i.

    The cumulative sum is float64 and positions are scaled to its total. A position that
    rounding leaves at or above the total (in float32, (U + N - 1)/N rounds to 1.0 for U
    close to 1) goes to the last particle with positive weight, not to a zero-weight tail.
    """
    cdf = weights.double().cumsum(-1)  # [P, N]
    u = u.double() * cdf[..., -1:]
    idx = torch.searchsorted(cdf, u.contiguous(), right=True)  # right=True skips zero-weight bins
    N = weights.shape[-1]
    last_positive = torch.where(weights > 0, torch.arange(N, device=weights.device), -1).max(-1, keepdim=True).values
    return torch.minimum(idx, last_positive)


def multinomial(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """M i.i.d. draws from w̄ (the reference code's scheme), one uniform each: u_i = U_i."""
    return _invert_cdf(weights, u)


def systematic(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One uniform per group (the first), M evenly spaced points: u_i = (U + i) / M (float64)."""
    M = u.shape[-1]
    return _invert_cdf(weights, (u[:, :1] + torch.arange(M, device=weights.device)) / M)


def stratified(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """One uniform per stratum: u_i = (U_i + i) / M (float64)."""
    M = u.shape[-1]
    return _invert_cdf(weights, (u + torch.arange(M, device=weights.device)) / M)


def residual(weights: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """floor(M·w̄_i) copies of each i, then i.i.d. draws from the residuals (inverse CDF) for the rest."""
    (P, N), M = weights.shape, u.shape[-1]
    copies = torch.floor(M * weights).long()  # [P, N]
    n_rest = M - copies.sum(-1)  # [P]
    rest = M * weights - copies
    rest = torch.where(n_rest[:, None] > 0, rest, torch.ones_like(rest))  # any valid pmf if nothing is left
    draws = _invert_cdf(rest, u)  # use the first n_rest of each row
    used = torch.arange(M, device=weights.device)[None, :] < n_rest[:, None]
    counts = copies.scatter_add(1, draws, used.long())
    flat = torch.repeat_interleave(torch.arange(P * N, device=weights.device), counts.flatten())
    return flat.view(P, M) % N


SCHEMES = {"multinomial": multinomial, "systematic": systematic, "stratified": stratified, "residual": residual}


def resample(weights: torch.Tensor, scheme: str, u: torch.Tensor) -> torch.Tensor:
    """Ancestor indices `[P, M]` drawn from normalised weights `[P, N]` with the uniforms `u [P, M]` (float64,
    in [0, 1); the randomness of every scheme, see `sampler.streams`). Resampling passes M = N."""
    return SCHEMES[scheme](weights, u.double())
