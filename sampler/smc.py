"""The decoding loop: greedy confidence decoding, best-of-N and SR-SMC in one.

Rows are grouped by prompt: row r = p·N + i is particle i of prompt p. Every step runs
one batched forward for all P·N rows. SMC math follows `docs/sr-smc-method.md`:

    log_w += α · Σ_{j committed now} log c(j)      (the self-reward; α = reward_weight, 1 in the paper)
    ESS = 1 / Σ w̄²,  w̄ = softmax(log_w) per prompt
    if ESS < κ·N:  a ~ w̄;  x, logp ← x[a], logp[a];  log_w ← 0

`step()` is pure given its random streams (`sampler.streams`: one per prompt and step, so a prompt draws the
same numbers in any batch) and never waits for the device; `decode()` loops over
the schedule, copies each step's `StepInfo` to the host once and hands it to observers
(e.g. the trace recorder), which only read it.
"""
import time
from dataclasses import dataclass, field
from itertools import accumulate
from typing import Callable

import numpy as np
import torch

from sampler import resampling
from sampler.branch import BranchStart, check_start
from sampler.config import SamplerConfig
from sampler.denoiser import Denoiser
from sampler.kv_cache import BlockCache
from sampler.streams import RandomStreams, StepStreams
from sampler.trace import Trace, TraceRecorder
from sampler.unmasking import (MIN_TEMPERATURE, candidate_positions, draw_candidates, ngram_bans, penalise_repeats,
                               present_tokens, select_commits, top_alternatives, transfer_counts)

PROB_DIGITS = 4  # significant digits of the alternatives' probabilities in the trace


@dataclass
class ParticleState:
    """Everything the loop carries between steps."""

    x: torch.Tensor  # [R, L] token ids, MASK where not yet committed
    log_conf: torch.Tensor  # [R, L] log-confidence of each committed token, 0 elsewhere
    log_w: torch.Tensor  # [R] log-weights since the last resample


@dataclass
class Alternatives:
    """The proposal's top-k candidates at every candidate position `[R, m]` of a step (`unmasking.top_alternatives`)."""

    tokens: torch.Tensor  # [R, m, k] most likely first
    probs: torch.Tensor  # [R, m, k]
    rank: torch.Tensor  # [R, m] the drawn token's rank, 1 = most likely
    commit: torch.Tensor | None = None  # [R, m] bool: which candidates committed (set by `step`)


@dataclass
class StepInfo:
    """What one step did; tensors live on the sampler's device. `to_host()` copies it in one transfer."""

    step: int  # 1-based, consecutive
    block: int
    committed: torch.Tensor  # [R, L] bool, positions committed this step
    x: torch.Tensor  # [R, L] tokens after committing, before resampling
    log_conf: torch.Tensor  # [R, L] after committing, before resampling
    log_increment: torch.Tensor  # [R] the weight increment α·Σ log c of this step's commits
    log_weight: torch.Tensor  # [R] after the increment, before any reset
    ess: torch.Tensor  # [P] before resampling
    resampled: torch.Tensor  # [P] bool
    ancestor_draw: torch.Tensor | None  # [P, N] within-group ancestors, identity where not resampled; None: no check
    state: ParticleState  # the state after this step (resampling applied)
    flags: torch.Tensor  # [2] logits that cannot be drawn from were read; masks left in the block
    alternatives: Alternatives | None = None  # None when `top_k_alternatives` is 0
    _packed: torch.Tensor | None = field(default=None, repr=False)  # the host copy, once started
    _copied: torch.cuda.Event | None = field(default=None, repr=False)  # CUDA: marks the end of that copy
    _host: dict | None = field(default=None, repr=False)

    def start_copy(self) -> None:
        """Start `to_host`'s one device→host transfer without waiting for it (on CUDA: into pinned memory, an
        event marks its end), so the device can run the next step meanwhile. Idempotent."""
        if self._packed is not None:
            return
        P = self.ess.shape[0]
        draw = self.ancestor_draw if self.ancestor_draw is not None else torch.zeros(P, 0, device=self.x.device)
        alt = self.alternatives
        extra = () if alt is None else (alt.commit, alt.tokens, alt.probs, alt.rank)
        packed = torch.cat([t.reshape(-1).double() for t in (
            self.committed, self.x, self.log_conf, self.log_increment, self.log_weight, self.ess, self.resampled,
            self.flags, *extra, draw)])  # the ancestors last: their length is what remains
        if packed.is_cuda:
            self._packed = packed.to("cpu", non_blocking=True)
            self._copied = torch.cuda.Event()
            self._copied.record()
        else:
            self._packed = packed

    def to_host(self) -> dict:
        """This step on the host, in one device→host transfer (cached): the `StepRecord` fields
        (`step, block, rows, positions, tokens, log_conf, log_increment, log_weight, ess, resampled, ancestors`,
        lists; `ancestors` None when nothing resampled; `alt_tokens, alt_probs, ranks` None without alternatives)
        plus `bad_logits, masks_left`."""
        if self._host is None:
            R, L = self.x.shape
            P = self.ess.shape[0]
            self.start_copy()
            if self._copied is not None:
                self._copied.synchronize()
            packed = self._packed.numpy()
            alt = self.alternatives
            extra = () if alt is None else tuple(t.numel() for t in (alt.commit, alt.tokens, alt.probs, alt.rank))
            bounds = [*accumulate([R * L, R * L, R * L, R, R, P, P, 2, *extra], initial=0), len(packed)]
            parts = [packed[a:b] for a, b in zip(bounds, bounds[1:])]  # (np.split costs more than the rest here)
            committed, x, log_conf = (v.reshape(R, L) for v in parts[:3])
            rows, positions = np.nonzero(committed)
            resampled = parts[6].astype(bool)
            self._host = {
                "step": self.step, "block": self.block, "rows": rows.tolist(), "positions": positions.tolist(),
                "tokens": x[rows, positions].astype(np.int64).tolist(), "log_conf": log_conf[rows, positions].tolist(),
                "log_increment": parts[3].tolist(), "log_weight": parts[4].tolist(), "ess": parts[5].tolist(),
                "resampled": resampled.tolist(),
                "ancestors": parts[-1].astype(np.int64).reshape(P, -1).tolist() if resampled.any() else None,
                "bad_logits": bool(parts[7][0]), "masks_left": int(parts[7][1]),
                **_alternatives_on_host(parts[8:12] if extra else [], R)}
        return self._host

    @property
    def ancestors(self) -> torch.Tensor | None:
        """`[P, N]` within-group ancestor indices, None if nothing resampled (reads the host copy)."""
        return self.ancestor_draw if self.to_host()["ancestors"] is not None else None


def _alternatives_on_host(parts: list[np.ndarray], R: int) -> dict:
    """The committed candidates' alternatives from `to_host`'s packed `[commit, tokens, probs, rank]` (candidate
    layout `[R, m]`, whose row-major order is the commits' (row, position) order), as flat trace lists."""
    if not parts:
        return {"alt_tokens": None, "alt_probs": None, "ranks": None}
    commit, tokens, probs, rank = parts
    rows, cols = np.nonzero(commit.reshape(R, -1))
    m = commit.size // R
    probs = probs.reshape(R, m, -1)[rows, cols]
    return {"alt_tokens": tokens.reshape(R, m, -1)[rows, cols].astype(np.int64).ravel().tolist(),
            "alt_probs": _significant(probs, PROB_DIGITS).ravel().tolist(),
            "ranks": rank.reshape(R, m)[rows, cols].astype(np.int64).tolist()}


def _significant(p: np.ndarray, digits: int) -> np.ndarray:
    """`p` (≥ 0) rounded to `digits` significant digits, vectorised (monotone, so order is kept)."""
    scale = 10.0 ** (digits - 1 - np.floor(np.log10(np.where(p > 0, p, 1.0))))
    return np.where(p > 0, np.round(p * scale) / scale, 0.0)


@dataclass
class Plan:
    """The schedule's instruction for one step."""

    step: int  # set by `decode`'s counter: the number the step is recorded under
    block: int
    block_slice: slice
    k: int  # positions to commit per row (topk / random)
    last_block: bool
    open_positions: int | None = None  # ≥ the masked positions left in the block in any row (None: the block length)
    block_end: bool = False  # topk / random: this step commits the block's last positions


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


# Logits drawn at once. On a CPU small chunks stay in cache and reuse freed memory (large fresh buffers cost
# page faults); on a GPU larger ones mean fewer kernel launches. Peak memory: about two such float32 chunks.
CHUNK_ELEMENTS = {"cpu": 1 << 21, "cuda": 1 << 26}


def propose(model: Denoiser, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
            cfg: SamplerConfig, u: torch.Tensor | None,
            cache: BlockCache | None = None) -> tuple[torch.Tensor, torch.Tensor, Alternatives | None]:
    """Candidate tokens and their log-confidences `[R, m]` at `positions [R, m]`: one forward (reading `cache`
    if given), then the output layer, the repetition controls (if on) and the draw chunk by chunk, in float32,
    with the inverse-CDF uniforms `u [R, m]` (None at τ = 0); and, when `cfg.top_k_alternatives` > 0, the
    proposal's top-k alternatives at every candidate (else None)."""
    R, m = positions.shape
    features = model.features_at(x, attention_mask, positions, cache=cache).flatten(0, 1)  # [R·m, F]
    if cache is not None:
        cache.filled()  # a block's first forward filled it: later steps compute only its `fresh` positions
    known = (x != model.mask_id) if attention_mask is None else (x != model.mask_id) & attention_mask
    present = present_tokens(x, known, model.vocab_size) if cfg.repetition_penalty > 1 else None
    rows = max(1, CHUNK_ELEMENTS.get(x.device.type, 1 << 24) // model.vocab_size)
    u = u.flatten() if u is not None else None
    k = cfg.top_k_alternatives
    tokens, log_conf, alternatives = [], [], []
    for start in range(0, R * m, rows):
        chunk = slice(start, min(start + rows, R * m))
        logits = _proposal_logits(model, features[chunk], x, known, present, positions, chunk, cfg)
        t, c = draw_candidates(logits, cfg.temperature, cfg.confidence, u[chunk] if u is not None else None)
        tokens.append(t)
        log_conf.append(c)
        if k:  # an observer's data: reads the logits, draws nothing
            alternatives.append(top_alternatives(logits, t, c, cfg.temperature, cfg.confidence, k))
    alt = None
    if k:
        alt_tokens, probs, rank = (torch.cat(parts) for parts in zip(*alternatives))
        alt = Alternatives(alt_tokens.view(R, m, k), probs.view(R, m, k), rank.view(R, m))
    return torch.cat(tokens).view(R, m), torch.cat(log_conf).view(R, m), alt


def _proposal_logits(model: Denoiser, features: torch.Tensor, x: torch.Tensor, known: torch.Tensor,
                     present: torch.Tensor | None, positions: torch.Tensor, chunk: slice,
                     cfg: SamplerConfig) -> torch.Tensor:
    """Logits `[M, V]` of the flat candidates `chunk` (the model's dtype; float32 once a repetition control
    changes them): MASK never drawn, repetition controls applied."""
    logits = model.output_layer(features)
    logits[:, model.mask_id] = -torch.inf
    if present is not None:
        rows = torch.arange(chunk.start, chunk.stop, device=x.device) // positions.shape[1]
        logits = penalise_repeats(logits.float(), present[rows], cfg.repetition_penalty)
    if cfg.no_repeat_ngram:
        bans = ngram_bans(x, known, positions, cfg.no_repeat_ngram, model.vocab_size, chunk)
        bans &= (logits.isfinite() & ~bans).any(-1, keepdim=True)  # never refuse every token of a row
        logits = logits.float().masked_fill_(bans, -torch.inf)
    return logits


@torch.inference_mode()
def step(model: Denoiser, state: ParticleState, plan: Plan, cfg: SamplerConfig, rng: StepStreams,
         attention_mask: torch.Tensor | None, cache: BlockCache | None = None) -> tuple[ParticleState, StepInfo]:
    """One forward, one commit, one weight update, and an ESS check that may resample. Every random number
    comes from `rng`, this step's per-prompt streams (`sampler.streams`). No host synchronisation of its
    own: problems are reported in `StepInfo.flags` (`decode` raises on them). `cache` (`cfg.cache` not
    none): the block's KV cache, permuted with the particles when they resample."""
    P, N = len(cfg.prompts), cfg.n_particles
    block = plan.block_slice
    eligible = state.x[:, block] == model.mask_id  # [R, Lb]
    order, valid = candidate_positions(eligible, plan.open_positions or eligible.shape[1])
    positions = order + block.start  # [R, m] absolute
    u = rng.uniform("candidates", (N, positions.shape[1])) if cfg.temperature >= MIN_TEMPERATURE else None
    tokens, log_c, alternatives = propose(model, state.x, attention_mask, positions, cfg, u, cache)
    # commits are chosen in the block's layout, so ties break as they always have
    log_c_block = torch.full(eligible.shape, -torch.inf, device=log_c.device).scatter_(
        1, order, log_c.masked_fill(~valid, -torch.inf))
    scores = rng.uniform("policy", (N, eligible.shape[1])) if cfg.policy == "random" else None
    commit = select_commits(cfg.policy, log_c_block, eligible, plan.k, cfg.threshold, scores).gather(1, order)

    committed = torch.zeros_like(state.x, dtype=torch.bool).scatter_(1, positions, commit)
    x = state.x.scatter(1, positions, torch.where(commit, tokens, state.x.gather(1, positions)))
    log_conf = state.log_conf.scatter(1, positions, torch.where(commit, log_c, state.log_conf.gather(1, positions)))
    # [R]; a non-finite log c (bad logits) adds 0 here and stops the run through `flags`
    increment = cfg.reward_weight * torch.where(commit & log_c.isfinite(), log_c, 0.0).sum(dim=1)
    log_w = state.log_w + increment

    block_masked = x[:, block] == model.mask_id
    flags = torch.stack([(log_c.isnan() & valid).any(), block_masked.sum()]).float()
    ess = resampling.ess(log_w.view(P, N), check=False)  # [P]; log_w is finite: non-finite log c adds 0
    resampled = torch.zeros(P, dtype=torch.bool, device=x.device)
    draw = None
    if cfg.method == "smc" and N > 1 and cfg.reward_weight > 0 and _check_may_be_due(cfg, plan):
        resampled = _check_due(cfg, plan, block_masked) & (ess < cfg.ess_threshold * N)
        drawn = resampling.resample(resampling.normalise(log_w.view(P, N), check=False), cfg.resampling,
                                     rng.uniform("resampling", (1, N), torch.float64))  # [P, N]
        draw = torch.where(resampled[:, None], drawn, torch.arange(N, device=x.device).expand(P, N))
        rows = (draw + N * torch.arange(P, device=x.device)[:, None]).flatten()
        new_state = ParticleState(x[rows], log_conf[rows], torch.where(resampled.repeat_interleave(N), 0.0, log_w))
        if cache is not None:
            cache.reorder(rows, resampled.any())  # applied by the next forward, only if a prompt resampled
    else:
        new_state = ParticleState(x, log_conf, log_w)
    if alternatives is not None:
        alternatives.commit = commit
    info = StepInfo(plan.step, plan.block, committed, x, log_conf, increment, log_w, ess, resampled, draw,
                    new_state, flags, alternatives)
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
    """Yield the plan of each step a block may take (`step` unset: `decode` numbers the steps it runs).

    The threshold policy's plans continue while a block may have masks; `decode` skips the rest of a block
    once it is done.
    """
    steps_per_block = cfg.steps // cfg.num_blocks
    counts = transfer_counts(cfg.block_length, steps_per_block)
    for b in range(cfg.num_blocks):
        start = prompt_width + b * cfg.block_length
        block = slice(start, start + cfg.block_length)
        last_block = b == cfg.num_blocks - 1
        if cfg.policy == "threshold":  # at least one commit per row and step
            for s in range(cfg.block_length):
                yield Plan(0, b, block, 1, last_block, open_positions=cfg.block_length - s)
        else:
            for s, k in enumerate(counts):
                yield Plan(0, b, block, k, last_block, open_positions=cfg.block_length - sum(counts[:s]),
                           block_end=s == steps_per_block - 1)


def decode(model: Denoiser, cfg: SamplerConfig, observers: tuple[Callable[[StepInfo], None], ...] = (),
           record: bool = True, on_trace: Callable[[Trace], None] | None = None,
           overlap: bool | None = None, start: BranchStart | None = None) -> SampleResult:
    """Run greedy / best-of-N / SR-SMC as `cfg` says and return the result (with a trace if `record`).

    `start` branches a recorded run (`sampler.branch`): decoding continues from its particles after step t with
    `cfg` (ValueError if `cfg` changes what cannot change mid-run; N' > N particles grow the start by weight,
    `BranchStart.grow`); the trace holds the parent's steps 1..t first (lifted to N' rows).

    One host synchronisation per step (`StepInfo.to_host`, which the recorder reuses). `on_trace`, if given
    (with `record`), gets the trace being recorded before the first step: it grows by one `StepRecord` per
    step and gets `final` at the end (for streaming a run while it decodes). `overlap` (default: on CUDA)
    hands each step to the observers once the next step is queued on the device; the output is the same.
    """
    device = torch.device(cfg.device)
    P, N = len(cfg.prompts), cfg.n_particles
    if cfg.chat_template is None:  # record the template actually used, not "the model's default"
        cfg = cfg.replace(chat_template=bool(model.chat_default))
    if cfg.top_k_alternatives > model.vocab_size:  # and the number of alternatives a small vocabulary allows
        cfg = cfg.replace(top_k_alternatives=model.vocab_size)
    if start is not None:  # a branch: N' ≥ N particles, the copies drawn by weight (`BranchStart.grow`)
        start = start.grow(N, cfg.resampling, cfg.seed)
        check_start(start, cfg, model.name)
    prompt_ids = [model.encode(p, chat=cfg.chat_template) for p in cfg.prompts]
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
    streams = RandomStreams.for_prompts(cfg.seed, prompt_ids, device)
    resume_after = 0  # the steps a branch's parent ran already
    if start is not None:
        start.check_prompts(prompt_ids, x0)
        state, resume_after = ParticleState(*start.state(device)), start.step
    branch = (start.parent_ref(), start.prefix()) if start is not None else ()
    recorder = TraceRecorder(model, cfg, prompt_ids, x0, width, *branch) if record else None
    observers = observers + ((recorder,) if recorder else ())
    if recorder and on_trace:
        on_trace(recorder.trace)

    def hand_over(info: StepInfo) -> bool:
        """Check the step's host copy, show it to the observers; whether its block has no masks left."""
        host = info.to_host()
        if host["bad_logits"]:
            raise FloatingPointError("the model returned logits no token can be drawn from: NaN or +inf logits, "
                                     "or a position where every token has logit -inf")
        for observe in observers:
            observe(info)
        return host["masks_left"] == 0

    # Overlap: hand step t over while the device runs step t + 1 (the host's per-step work then hides behind the
    # forward). Not under the threshold policy, whose next step depends on this one's masks left.
    if overlap is None:
        overlap = device.type == "cuda"
    overlap = overlap and cfg.policy != "threshold"
    began, n_steps, finished_block, waiting = time.perf_counter(), 0, None, None
    cache, cached_block = None, None
    for plan in schedule(cfg, width):
        if plan.block == finished_block:
            continue  # threshold policy: this block is already done
        n_steps += 1  # the one step counter: recorded steps are 1, 2, ..., n_steps
        plan.step = n_steps
        if n_steps <= resume_after:  # a branch: the parent ran this step; follow its schedule
            finished_block = plan.block if start.finished_block(n_steps) else finished_block
            continue
        if cfg.cache != "none" and plan.block != cached_block:  # a new block: this step's forward fills a new cache
            cache, cached_block = model.block_cache(plan.block_slice, cfg.cache), plan.block
        state, info = step(model, state, plan, cfg, streams.at(plan.step), attention_mask, cache)
        info.start_copy()
        if overlap:
            info, waiting = waiting, info
        if info is not None and hand_over(info):
            finished_block = info.block
    if waiting is not None:
        hand_over(waiting)
    wall = time.perf_counter() - began

    scores = final_scores(cfg, state, width, model.eos_id)
    chosen = scores.argmax(dim=1).tolist()
    generated = state.x[:, width:].view(P, N, -1).tolist()
    texts = [[model.decode(ids) for ids in group] for group in generated]
    result = SampleResult(cfg, model.name, state.x, generated, texts, scores, chosen, n_steps,
                          (n_steps - resume_after) * P * N, wall)
    if recorder:
        result.trace = recorder.finish(result)
    return result


def _check_may_be_due(cfg: SamplerConfig, plan: Plan) -> bool:
    """Whether the schedule alone allows an ESS check after this step (host side, no synchronisation).

    Never after the very last step: the final pick needs the weights.
    """
    if cfg.resample_when == "every_k" and plan.step % cfg.resample_every:
        return False
    if cfg.policy == "threshold":  # when its block ends is known only on the device
        return True
    if plan.last_block and plan.block_end:
        return False
    return cfg.resample_when != "block_end" or plan.block_end


def _check_due(cfg: SamplerConfig, plan: Plan, block_masked: torch.Tensor) -> torch.Tensor:
    """Whether the ESS is checked after this step, as a device bool (`block_masked [R, Lb]`: masks left)."""
    block_done = ~block_masked.any()
    if cfg.resample_when == "block_end":
        return block_done & (not plan.last_block)
    return ~block_done | (not plan.last_block)
