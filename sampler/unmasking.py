"""One masked-diffusion decoding step's pieces: draw candidates, score them, pick what to commit.

Shapes: R rows (prompts × particles), Lb positions of the current block, V vocabulary.
"""
import math

import torch


def draw_candidates(logits: torch.Tensor, temperature: float, confidence: str,
                    gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw x̂ ~ softmax(logits/τ) by Gumbel-max and return `(tokens, log_conf)`, both `[R, Lb]`.

    log_conf is the log-probability of the *drawn* token: under softmax(logits)
    ("untempered", LLaDA) or softmax(logits/τ) ("tempered", Dream). τ = 0 is argmax,
    where both sources are the untempered probability.
    """
    if torch.isnan(logits).any():
        raise FloatingPointError("the model returned NaN logits")
    log_probs = torch.log_softmax(logits, dim=-1)
    if torch.isnan(log_probs).any():  # a position whose logits are all -inf
        raise FloatingPointError("the model returned a position where every token has logit -inf")
    if temperature == 0:
        tokens = logits.argmax(dim=-1)
        return tokens, log_probs.gather(-1, tokens[..., None])[..., 0]
    u = torch.rand(logits.shape, generator=gen, device=logits.device, dtype=torch.float32)
    gumbel = -torch.log(-torch.log(u.clamp_min(torch.finfo(torch.float32).tiny)))
    tempered = logits / temperature
    tokens = (tempered + gumbel).argmax(dim=-1)
    source = torch.log_softmax(tempered, dim=-1) if confidence == "tempered" else log_probs
    return tokens, source.gather(-1, tokens[..., None])[..., 0]


def transfer_counts(block_length: int, steps_per_block: int) -> list[int]:
    """How many positions each step of a block commits: as even as possible, extras first."""
    base, extra = divmod(block_length, steps_per_block)
    return [base + (i < extra) for i in range(steps_per_block)]


def select_commits(policy: str, log_conf: torch.Tensor, eligible: torch.Tensor, k: int, threshold: float,
                   gen: torch.Generator) -> torch.Tensor:
    """Boolean `[R, Lb]` of the positions to commit this step, among `eligible` (still masked).

    topk: the k most confident; random: k uniformly random; threshold: the most
    confident plus every position with confidence ≥ threshold.
    """
    if policy == "random":
        score = torch.rand(log_conf.shape, generator=gen, device=log_conf.device)
    else:
        score = log_conf
    score = score.masked_fill(~eligible, -math.inf)
    if policy == "threshold":
        top1 = torch.zeros_like(eligible).scatter_(1, score.argmax(dim=1, keepdim=True), True)
        return eligible & (top1 | (log_conf >= math.log(threshold)))
    top = score.topk(k, dim=1).indices
    return torch.zeros_like(eligible).scatter_(1, top, True) & eligible
