"""One masked-diffusion decoding step's pieces: which positions to read, draw candidates, pick what to commit.

Shapes: R rows (prompts × particles), Lb positions of the current block, m candidate positions per row
(the block's still-masked positions, masked first), M flat candidate rows, V vocabulary.
"""
import math

import torch

# Temperatures below this act as τ = 0 (argmax): there softmax(logits/τ) is the argmax to float32 precision
# (a logit gap ≥ 1e-6 becomes ≥ 1e14 after scaling), and scaling by 1/τ could overflow.
MIN_TEMPERATURE = 1e-20


def candidate_positions(eligible: torch.Tensor, m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """`(order [R, m], valid [R, m])`: block-relative indices of the still-masked positions, in position order,
    padded with committed ones where a row has fewer than `m` (`valid` False there).

    `m` must be ≥ the number of masked positions in every row; no host synchronisation.
    """
    order = torch.argsort((~eligible).to(torch.uint8), dim=1, stable=True)[:, :m]
    return order, eligible.gather(1, order)


def draw_candidates(logits: torch.Tensor, temperature: float, confidence: str,
                    u: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw x̂ ~ softmax(logits/τ) by inverse CDF with the uniforms `u [...]` (one per row, float32, in [0, 1))
    and return `(tokens, log_conf)`, `[...]`.

    `logits [..., V]`, any float dtype (the maths runs in float32, in place in one [..., V] buffer). log_conf
    is the log-probability of the drawn token under softmax(logits) ("untempered", LLaDA) or softmax(logits/τ)
    ("tempered", Dream), both from one `log_softmax`. τ = 0 (and any τ < MIN_TEMPERATURE) is argmax and ignores
    `u` (which may be None), where both sources are the untempered probability. A row that cannot be drawn from
    (a NaN or +inf logit, or every logit -inf) gets log_conf NaN: the caller checks these O(rows) values.
    """
    log_probs = torch.log_softmax(logits, dim=-1, dtype=torch.float32)
    if temperature < MIN_TEMPERATURE:
        # argmax of float32 logits as always; of the float32 log-probs for other dtypes (bf16 argmax is slow on CPU)
        tokens = (logits if logits.dtype == torch.float32 else log_probs).argmax(dim=-1)
        return tokens, log_probs.gather(-1, tokens[..., None])[..., 0]
    # the largest log-probability sits at the largest logit: one pass finds both (log p(x) = top + logit - top_logit)
    best = log_probs.argmax(dim=-1, keepdim=True)
    top, top_logit = log_probs.gather(-1, best), logits.gather(-1, best).float()
    shift = 0.0 if temperature == 1 else top  # τ = 1: exp(lp) needs no shift
    scaled = log_probs if temperature == 1 else log_probs.sub_(shift).div_(temperature)
    cdf = scaled.exp_().cumsum_(dim=-1)  # in place; ends at Σ exp((lp - shift)/τ)
    total = cdf[..., -1:]
    target = torch.minimum(u[..., None] * total, torch.nextafter(total, torch.zeros_like(total)))  # below the end
    tokens = torch.searchsorted(cdf, target, right=True).clamp_(max=cdf.shape[-1] - 1)
    log_conf = top + (logits.gather(-1, tokens).float() - top_logit)  # log p(token)
    if confidence == "tempered":
        log_conf = (log_conf - shift) / temperature - total.log()
    return tokens[..., 0], log_conf[..., 0]


def present_tokens(x: torch.Tensor, known: torch.Tensor, vocab_size: int) -> torch.Tensor:
    """`[R, V]` bool: which tokens row r already holds at its `known` positions (prompt and commits)."""
    present = torch.zeros(x.shape[0], vocab_size + 1, dtype=torch.bool, device=x.device)
    return present.scatter_(1, torch.where(known, x, vocab_size), True)[:, :vocab_size]


def penalise_repeats(logits: torch.Tensor, present: torch.Tensor, penalty: float) -> torch.Tensor:
    """The autoregressive decoders' repetition penalty on `logits [M, V]` (in place) where `present [M, V]`:
    positive logits divided by `penalty`, negative ones multiplied."""
    scaled = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(present, scaled, logits, out=logits)


def ngram_bans(x: torch.Tensor, known: torch.Tensor, positions: torch.Tensor, n: int, vocab_size: int,
               flat: slice) -> torch.Tensor:
    """`[M, V]` bool for the flat candidates `flat` of `positions [R, m]` (row-major): the tokens a candidate may
    not take because they would complete a repeated n-gram.

    The rule: token t at position j is refused when some window of n consecutive positions containing j has
    its other n-1 positions known (prompt or committed before this step) and, with t at j, equals a window of
    n known tokens elsewhere in the same row. Positions committed in the same step are not each other's
    neighbours. Vectorised over rows and candidates: O(M · n² · L) comparisons.
    """
    R, L = x.shape
    m = positions.shape[1]
    S = L - n + 1  # window starts
    rows = torch.arange(R * m, device=x.device)[flat] // m  # [M]
    bans = torch.zeros(len(rows), vocab_size + 1, dtype=torch.bool, device=x.device)
    if S < 2:  # no room for a window besides the candidate's own
        return bans[:, :vocab_size]
    j = positions.flatten()[flat]  # [M]
    offsets = torch.arange(n, device=x.device)
    windows, known_w = x.unfold(1, n, 1), known.unfold(1, n, 1)  # [R, S, n]
    complete = known_w.all(-1)  # [R, S]
    starts = j[:, None] - offsets  # [M, n(o)]: the window holding j at offset o
    inside = (starts >= 0) & (starts < S)
    starts = starts.clamp(0, S - 1)
    hole = offsets[:, None] == offsets[None, :]  # [n(o), n(i)]
    cand = windows[rows[:, None], starts]  # [M, n(o), n(i)]
    usable = inside & (known_w[rows[:, None], starts] | hole).all(-1)  # [M, n(o)]
    own = windows[rows]  # [M, S, n(i)]
    same = ((cand[:, :, None, :] == own[:, None, :, :]) | hole[None, :, None, :]).all(-1)  # [M, n(o), S]
    match = same & usable[:, :, None] & complete[rows][:, None, :]
    banned_token = own.transpose(1, 2)  # [M, n(o), S]: window e's token at offset o
    return bans.scatter_(1, torch.where(match, banned_token, vocab_size).flatten(1), True)[:, :vocab_size]


def transfer_counts(block_length: int, steps_per_block: int) -> list[int]:
    """How many positions each step of a block commits: as even as possible, extras first."""
    base, extra = divmod(block_length, steps_per_block)
    return [base + (i < extra) for i in range(steps_per_block)]


def select_commits(policy: str, log_conf: torch.Tensor, eligible: torch.Tensor, k: int, threshold: float,
                   u: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean `[R, Lb]` of the positions to commit this step, among `eligible` (still masked).

    topk: the k most confident; random: k uniformly random (the k largest of the uniforms `u [R, Lb]`, which
    only this policy reads); threshold: the most confident plus every position with confidence ≥ threshold.
    """
    if policy == "random":
        score = u
    else:
        score = log_conf
    score = score.masked_fill(~eligible, -math.inf)
    if policy == "threshold":
        top1 = torch.zeros_like(eligible).scatter_(1, score.argmax(dim=1, keepdim=True), True)
        return eligible & (top1 | (log_conf >= math.log(threshold)))
    top = score.topk(k, dim=1).indices
    return torch.zeros_like(eligible).scatter_(1, top, True) & eligible


def top_alternatives(logits: torch.Tensor, tokens: torch.Tensor, log_conf: torch.Tensor, temperature: float,
                     confidence: str, k: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """What else the proposal could have drawn: `(alternatives [M, k], probs [M, k], rank [M])` for the flat
    candidates with `logits [M, V]`, drawn `tokens [M]` and their `log_conf [M]` (from `draw_candidates`).

    The alternatives are the k most likely tokens under the proposal softmax(logits/τ), most likely first (the
    logits' own order, for any τ); `rank` is the drawn token's place in that order (1 = the most likely; ties
    count as above). Their probabilities are read from the distribution the confidence comes from, so the drawn
    token's is its confidence c: p(j) = c · exp((logit_j - logit_token) / s), s = τ for tempered confidence at
    τ > 0, else 1 (equal to the proposal's at τ = 1). No normaliser needed: one top-k and one comparison over V.
    """
    top_logits, alternatives = logits.topk(k, dim=-1)
    drawn = logits.gather(-1, tokens[:, None])  # [M, 1]
    scale = temperature if confidence == "tempered" and temperature >= MIN_TEMPERATURE else 1.0
    probs = (log_conf[:, None] + (top_logits.float() - drawn.float()) / scale).exp_().clamp_(0.0, 1.0)
    rank = (logits > drawn).sum(dim=-1, dtype=torch.int32) + 1  # int32: a third faster than the default int64
    return alternatives, probs, rank
