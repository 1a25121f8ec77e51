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


# Entries one pass of `ngram_bans` may hold at once (index tensors of this many int64s): bounds its memory for any n.
NGRAM_CHUNK = 1 << 20


def _compact(values: torch.Tensor) -> torch.Tensor:
    """Dense ids of `values` (equal values, equal ids), each < values.numel()."""
    return torch.unique(values, return_inverse=True)[1]


def _substring_ids(x: torch.Tensor, longest: int) -> torch.Tensor:
    """`[K+1, R, L]` exact ids: level k holds an id of x[r, i : i + 2^k] (equal substrings of the same length,
    equal ids, across rows too), -1 where the substring would run past the end. K = floor(log2(longest)).
    Built by doubling: an id of length 2^k is the pair of two ids of length 2^(k-1)."""
    R, L = x.shape
    K = max(longest, 1).bit_length() - 1
    ids = torch.full((K + 1, R, L), -1, dtype=torch.int64, device=x.device)
    ids[0] = _compact(x).view(R, L)
    base = R * L + 1
    for k in range(1, K + 1):
        half, width = 1 << (k - 1), L - (1 << k) + 1
        if width <= 0:
            break
        ids[k, :, :width] = _compact(ids[k - 1, :, :width] * base + ids[k - 1, :, half:half + width]).view(R, width)
    return ids


def _substring_key(ids: torch.Tensor, rows: torch.Tensor, start: torch.Tensor, length: torch.Tensor) -> torch.Tensor:
    """An exact key of x[rows, start : start + length] among substrings of the same length (0 when empty):
    the ids of its two overlapping halves of length 2^floor(log2 length) (the sparse-table trick)."""
    base = ids.shape[1] * ids.shape[2] + 1
    k = torch.where(length > 0, torch.log2(length.clamp(min=1).double()).floor().long(), 0)
    k = torch.minimum(k, torch.tensor(ids.shape[0] - 1, device=k.device))
    last = (start + length - (1 << k)).clamp(min=0)
    first = start.clamp(max=ids.shape[2] - 1)
    a, b = ids[k, rows, first], ids[k, rows, last.clamp(max=ids.shape[2] - 1)]
    return torch.where(length > 0, (a + 1) * base + (b + 1), 0)


def _ban_matches(bans: torch.Tensor, x: torch.Tensor, ids: torch.Tensor, complete: torch.Tensor, q_flat, q_row, j,
                 qi, qo, o_lo: int, span: int, n: int, vocab_size: int) -> None:
    """One pass of `ngram_bans` over rows `x [Rg, L]` and hole offsets [o_lo, o_lo + span): set `bans` for the
    usable (candidate qi, offset qo) pairs from the complete windows whose context matches exactly."""
    device = x.device
    needed = torch.zeros(x.shape[0], span, dtype=torch.bool, device=device)
    needed[q_row[qi], qo - o_lo] = True
    # complete windows e at offsets o some candidate of the row needs: hole h = e + o holds the banned token
    tr, to, te = (needed[:, :, None] & complete[:, None, :]).nonzero(as_tuple=True)
    if len(tr) == 0:
        return
    to = to + o_lo
    rows = torch.cat([tr, q_row[qi]])
    o = torch.cat([to, qo])
    hole = torch.cat([te + to, j[qi]])
    before = _compact(_substring_key(ids, rows, hole - o, o))
    after = _compact(_substring_key(ids, rows, hole + 1, n - 1 - o))
    key = _compact(_compact((rows * n + o) * len(rows) + before) * len(rows) + after)
    t_key, q_key = key[:len(tr)], key[len(tr):]
    pairs = torch.unique(t_key * (vocab_size + 1) + x[tr, te + to])  # sorted (context, banned token)
    first = torch.searchsorted(pairs, q_key * (vocab_size + 1))
    count = torch.searchsorted(pairs, (q_key + 1) * (vocab_size + 1)) - first
    ends = count.cumsum(0)
    done = 0
    while done < len(count):  # expand the matches in passes of about NGRAM_CHUNK
        stop = int(torch.searchsorted(ends, ends[done] - count[done] + NGRAM_CHUNK, right=True).clamp(min=done + 1))
        c = count[done:stop]
        which = torch.repeat_interleave(torch.arange(done, stop, device=device), c)
        within = torch.arange(len(which), device=device) - torch.repeat_interleave(
            (ends[done:stop] - c) - (ends[done] - count[done]), c)
        bans[q_flat[qi[which]], pairs[first[which] + within] % (vocab_size + 1)] = True
        done = stop


def ngram_bans(x: torch.Tensor, known: torch.Tensor, positions: torch.Tensor, n: int, vocab_size: int,
               flat: slice) -> torch.Tensor:
    """`[M, V]` bool for the flat candidates `flat` of `positions [R, m]` (row-major): the tokens a candidate may
    not take because they would complete a repeated n-gram.

    The rule: token t at a masked position j is refused when some window of n consecutive positions containing
    j has its other n-1 positions known (prompt or committed before this step) and, with t at j, equals a window
    of n known tokens elsewhere in the same row. Positions committed in the same step are not each other's
    neighbours; candidates at known positions (padding, never committed) get no bans.

    How: a window with its hole at offset o is keyed exactly by (row, o, the o tokens before the hole, the
    n-1-o tokens after it); substring identity comes from a doubling table of exact ids (no hashing, so no
    collisions). Each candidate's usable contexts are looked up among the complete windows' contexts, and
    the token each matching window holds at the hole is banned. Work per row: O(L·log n) for the id table
    plus O(min(n, L-n+1)·L) window contexts (sorted), in passes of at most `NGRAM_CHUNK` contexts (by rows,
    then by hole offsets): memory does not grow with n, and time grows linearly in n, not with n².
    """
    R, L = x.shape
    m = positions.shape[1]
    device = x.device
    flat_ids = torch.arange(R * m, device=device)[flat]
    bans = torch.zeros(len(flat_ids), vocab_size + 1, dtype=torch.bool, device=device)
    S = L - n + 1  # window starts
    if S < 2 or len(flat_ids) == 0:  # no room for a window besides the candidate's own
        return bans[:, :vocab_size]
    first_row, last_row = int(flat_ids[0]) // m, int(flat_ids[-1]) // m
    unknown = torch.nn.functional.pad((~known).long().cumsum(1), (1, 0))  # [R, L+1] masks before each position
    complete = (unknown[:, n:] - unknown[:, :S]) == 0  # [R, S] windows with every position known
    group = max(1, NGRAM_CHUNK // (n * S))  # rows per pass: ≤ NGRAM_CHUNK window contexts
    offsets = torch.arange(n, device=device)
    for lo in range(first_row, last_row + 1, group):
        hi = min(lo + group, last_row + 1)
        take = (flat_ids >= lo * m) & (flat_ids < hi * m)
        q_flat = take.nonzero().flatten()  # candidates of these rows, as indices into `bans`
        q_row = flat_ids[q_flat] // m - lo  # [Q] local rows
        j = positions.flatten()[flat_ids[q_flat]]
        # usable (candidate, o): window start s = j - o inside, j masked, the other n-1 positions known
        s = j[:, None] - offsets  # [Q, n]
        inside = (s >= 0) & (s < S)
        sc = s.clamp(0, S - 1)
        u = unknown[lo:hi]
        masked_j = ~known[lo:hi][q_row, j]
        usable = inside & masked_j[:, None] & (u[q_row[:, None], sc + n] - u[q_row[:, None], sc] == 1)
        qi, qo = usable.nonzero(as_tuple=True)
        if len(qi) == 0:
            continue
        ids = _substring_ids(x[lo:hi], n - 1)
        span = n if group > 1 else max(1, NGRAM_CHUNK // S)  # offsets per pass: ≤ NGRAM_CHUNK contexts
        for o_lo in range(0, n, span):
            sel = (qo >= o_lo) & (qo < o_lo + span)
            if sel.any():
                _ban_matches(bans, x[lo:hi], ids, complete[lo:hi], q_flat, q_row, j, qi[sel], qo[sel], o_lo,
                             min(span, n - o_lo), n, vocab_size)
    return bans[:, :vocab_size]


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
