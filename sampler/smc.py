"""The decoding loop: greedy confidence decoding, best-of-N and SR-SMC in one.

Rows are grouped by prompt: row r = p·N + i is particle i of prompt p. Every step runs
one batched forward for all P·N rows. SMC math follows `docs/sr-smc-method.md`:

    log_w += Σ_{j committed now} log c(j)          (the self-reward)
    ESS = 1 / Σ w̄²,  w̄ = softmax(log_w) per prompt
    if ESS < κ·N:  a ~ w̄;  x, logp ← x[a], logp[a];  log_w ← 0

`step()` is pure given its generator; `decode()` loops over the schedule and hands
each step's `StepInfo` to observers (e.g. the trace recorder), which only read it.
"""
import time
from dataclasses import dataclass
from typing import Callable

import torch

from sampler import resampling
from sampler.config import DTYPES, SamplerConfig
from sampler.denoiser import Denoiser
from sampler.trace import Trace, TraceRecorder
from sampler.unmasking import draw_candidates, select_commits, transfer_counts


@dataclass
class ParticleState:
    """Everything the loop carries between steps."""

    x: torch.Tensor  # [R, L] token ids, MASK where not yet committed
    log_conf: torch.Tensor  # [R, L] log-confidence of each committed token, 0 elsewhere
    log_w: torch.Tensor  # [R] log-weights since the last resample


@dataclass
class StepInfo:
    """What one step did; tensors live on the sampler's device."""

    step: int  # 1-based
    block: int
    committed: torch.Tensor  # [R, L] bool, positions committed this step
    x: torch.Tensor  # [R, L] tokens after committing, before resampling
    log_conf: torch.Tensor  # [R, L] after committing, before resampling
    log_increment: torch.Tensor  # [R]
    log_weight: torch.Tensor  # [R] after the increment, before any reset
    ess: torch.Tensor  # [P] before resampling
    resampled: torch.Tensor  # [P] bool
    ancestors: torch.Tensor | None  # [P, N] within-group ancestor indices, None if nothing resampled
    state: ParticleState  # the state after this step (resampling applied)


@dataclass
class Plan:
    """The schedule's instruction for one step."""

    step: int
    block: int
    block_slice: slice
    k: int  # positions to commit per row (topk / random)
    last_block: bool


@dataclass
class SampleResult:
    """The output of `decode()`: final particles, their scores and the chosen answer per prompt."""

    config: SamplerConfig
    model_name: str
    sequences: torch.Tensor  # [R, L] final tokens
    generated: list[list[list[int]]]  # [P][N] generated token ids
    texts: list[list[str]]  # [P][N] decoded generations
    scores: torch.Tensor  # [P, N] final-pick scores
    chosen: list[int]  # [P] index of the chosen particle
    n_steps: int
    forwards: int  # sequence forwards: steps × rows
    wall_time_s: float
    trace: Trace | None = None  # when recorded

    @property
    def best_texts(self) -> list[str]:
        return [self.texts[p][i] for p, i in enumerate(self.chosen)]


def step(model: Denoiser, state: ParticleState, plan: Plan, cfg: SamplerConfig, gen: torch.Generator,
         attention_mask: torch.Tensor | None) -> tuple[ParticleState, StepInfo]:
    """One forward, one commit, one weight update, and an ESS check that may resample."""
    P, N = len(cfg.prompts), cfg.n_particles
    block = plan.block_slice
    logits = model.block_logits(state.x, attention_mask, block).float()  # [R, Lb, V]
    logits[..., model.mask_id] = -torch.inf
    tokens, log_c = draw_candidates(logits, cfg.temperature, cfg.confidence, gen)
    eligible = state.x[:, block] == model.mask_id
    commit_b = select_commits(cfg.policy, log_c, eligible, plan.k, cfg.threshold, gen)

    committed = torch.zeros_like(state.x, dtype=torch.bool)
    committed[:, block] = commit_b
    x = state.x.clone()
    x[:, block] = torch.where(commit_b, tokens, x[:, block])
    log_conf = state.log_conf.clone()
    log_conf[:, block] = torch.where(commit_b, log_c, log_conf[:, block])
    increment = torch.where(commit_b, log_c, 0.0).sum(dim=1)  # [R]
    log_w = state.log_w + increment

    ess = resampling.ess(log_w.view(P, N))  # [P]
    resampled = torch.zeros(P, dtype=torch.bool, device=x.device)
    ancestors = None
    if cfg.method == "smc" and _resample_due(cfg, plan, x[:, block] == model.mask_id):
        resampled = ess < cfg.ess_threshold * N
    if resampled.any():
        drawn = resampling.resample(resampling.normalise(log_w.view(P, N)), cfg.resampling, gen)
        identity = torch.arange(N, device=x.device).expand(P, N)
        ancestors = torch.where(resampled[:, None], drawn, identity)
        rows = (ancestors + N * torch.arange(P, device=x.device)[:, None]).flatten()
        new_state = ParticleState(x[rows], log_conf[rows], torch.where(resampled.repeat_interleave(N), 0.0, log_w))
    else:
        new_state = ParticleState(x, log_conf, log_w)
    info = StepInfo(plan.step, plan.block, committed, x, log_conf, increment, log_w, ess, resampled, ancestors,
                    new_state)
    return new_state, info


def _left_pad(prompt_ids: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Prompts `[P, Lp]` padded on the left, and a mask of real tokens (None if no padding)."""
    width = max(len(p) for p in prompt_ids)
    rows = [[pad_id] * (width - len(p)) + p for p in prompt_ids]
    real = [[False] * (width - len(p)) + [True] * len(p) for p in prompt_ids]
    padded = any(len(p) < width for p in prompt_ids)
    return torch.tensor(rows, dtype=torch.long).view(len(rows), width), (torch.tensor(real) if padded else None)


def final_scores(cfg: SamplerConfig, state: ParticleState, prompt_width: int, eos_id: int | None) -> torch.Tensor:
    """Score `[P, N]` of each final particle by `cfg.final_pick`."""
    P, N = len(cfg.prompts), cfg.n_particles
    if cfg.final_pick == "max_weight":
        return state.log_w.view(P, N)
    logp = state.log_conf[:, prompt_width:]  # [R, G]
    if cfg.final_pick == "sum_logp":
        return logp.sum(dim=1).view(P, N)
    # mean_logp: mean over the tokens up to and including the first end-of-text
    G = logp.shape[1]
    length = torch.full((logp.shape[0],), G, device=logp.device)
    if eos_id is not None:
        is_eos = state.x[:, prompt_width:] == eos_id
        length = torch.where(is_eos.any(dim=1), is_eos.float().argmax(dim=1) + 1, length)
    keep = torch.arange(G, device=logp.device)[None, :] < length[:, None]
    return ((logp * keep).sum(dim=1) / length).view(P, N)


def schedule(cfg: SamplerConfig, prompt_width: int):
    """Yield the plan of each step. The threshold policy's steps continue while a block has masks."""
    steps_per_block = cfg.steps // cfg.num_blocks
    counts = transfer_counts(cfg.block_length, steps_per_block)
    t = 0
    for b in range(cfg.num_blocks):
        start = prompt_width + b * cfg.block_length
        block = slice(start, start + cfg.block_length)
        n_block_steps = cfg.block_length if cfg.policy == "threshold" else steps_per_block
        for s in range(n_block_steps):
            t += 1
            yield Plan(t, b, block, counts[min(s, steps_per_block - 1)], last_block=b == cfg.num_blocks - 1)


def decode(model: Denoiser, cfg: SamplerConfig, observers: tuple[Callable[[StepInfo], None], ...] = (),
           record: bool = True) -> SampleResult:
    """Run greedy / best-of-N / SR-SMC as `cfg` says and return the result (with a trace if `record`)."""
    device = torch.device(cfg.device)
    P, N = len(cfg.prompts), cfg.n_particles
    prompt_ids = [model.encode(p) for p in cfg.prompts]
    cfg.check_model(model.max_length, [len(p) for p in prompt_ids], model.required_block_length)
    pad_id = model.pad_id if model.pad_id is not None else model.mask_id
    prompts, real = _left_pad(prompt_ids, pad_id)
    width = prompts.shape[1]
    x0 = torch.cat([prompts, torch.full((P, cfg.gen_length), model.mask_id)], dim=1)
    attention_mask = None
    if real is not None:
        attention_mask = torch.cat([real, torch.ones(P, cfg.gen_length, dtype=torch.bool)], dim=1)
        attention_mask = attention_mask.repeat_interleave(N, dim=0).to(device)
    state = ParticleState(x0.repeat_interleave(N, dim=0).to(device),
                          torch.zeros(P * N, x0.shape[1], device=device), torch.zeros(P * N, device=device))
    gen = torch.Generator(device=device).manual_seed(cfg.seed)
    recorder = TraceRecorder(model, cfg, prompt_ids, x0, width) if record else None
    observers = observers + ((recorder,) if recorder else ())

    start, n_steps = time.perf_counter(), 0
    for plan in schedule(cfg, width):
        if not (state.x[:, plan.block_slice] == model.mask_id).any():
            continue  # threshold policy: this block is already done
        with torch.no_grad():
            state, info = step(model, state, plan, cfg, gen, attention_mask)
        n_steps += 1
        for observe in observers:
            observe(info)
    wall = time.perf_counter() - start

    scores = final_scores(cfg, state, width, model.eos_id)
    chosen = scores.argmax(dim=1).tolist()
    generated = state.x[:, width:].view(P, N, -1).tolist()
    texts = [[model.decode(ids) for ids in group] for group in generated]
    result = SampleResult(cfg, model.name, state.x, generated, texts, scores, chosen, n_steps, n_steps * P * N, wall)
    if recorder:
        result.trace = recorder.finish(result)
    return result


def _resample_due(cfg: SamplerConfig, plan: Plan, block_masked: torch.Tensor) -> bool:
    """Whether the ESS is checked after this step (`block_masked [R, Lb]`: masks left after committing).

    Never after the very last step: the final pick needs the weights.
    """
    block_done = not bool(block_masked.any())
    if plan.last_block and block_done:
        return False
    if cfg.resample_when == "every_step":
        return True
    if cfg.resample_when == "every_k":
        return plan.step % cfg.resample_every == 0
    return block_done
