"""Branch a recorded run: restart it from its state after step t, with some settings changed.

    start = BranchStart.at(trace, t)
    cfg = branch_config(trace, temperature=0.5, seed=3)       # refuses what cannot change mid-run
    result = decode(model, cfg, start=start)                  # steps t+1, t+2, ... with the new settings

The branch continues the particles `trace.state_at(t)` rebuilds — tokens, masks, log-confidences and the
log-weights after step t's resampling — from the schedule position after step t. Its trace is a whole run: the
parent's first t steps copied, then its own, and `parent = {"run_id", "step": t}`, so a branch of a branch stays
traceable. Random numbers come from per-prompt, per-step streams (`sampler.streams`), so a branch with the
parent's settings redraws exactly what the parent drew: it reproduces the rest of the run, step for step.

A branch may run N' ≥ N particles (`n_particles`): `BranchStart.grow` keeps the parent's N rows of each prompt and
adds N' − N copies drawn by the normalised weights after step t with the branch's resampling scheme, from the
"growth" stream (`sampler.streams`: the same seed gives the same branch). Its trace lifts the parent's steps to N'
rows (`Trace.grown_steps`) and records `parent.n_particles = N`.
"""
import math
from dataclasses import asdict, dataclass, fields

import numpy as np
import torch

from sampler.config import SamplerConfig
from sampler.resampling import normalise, resample
from sampler.streams import RandomStreams
from sampler.trace import StepRecord, Trace

# Settings a branch cannot change, and why (the state at step t was made with the parent's).
FIXED = {
    "prompts": "the particles at step t already hold the parent's prompts",
    "gen_length": "the particles at step t have the parent's length",
    "block_length": "the blocks before step t were decoded with the parent's block length",
    "steps": "the schedule (tokens per step) was planned for the parent's steps and is partly spent",
    "chat_template": "the prompts at step t were encoded with the parent's template",
    "top_k_alternatives": "a trace records one k for all its steps, and the branch's first t steps are the parent's",
}


@dataclass
class BranchStart:
    """Where a branch starts: the parent run and its particles after step t (`[R, L]`, R = P·N)."""

    parent: Trace
    step: int  # t: the branch runs steps t+1, t+2, ...
    tokens: np.ndarray  # [R, L] ids, MASK where not yet committed
    log_conf: np.ndarray  # [R, L] log-confidence of each committed token, 0 elsewhere
    log_weight: np.ndarray  # [R] after step t's resampling
    copies: np.ndarray | None = None  # [P, N' - N] a grown start's copies: the parent's row (within group) of each

    @classmethod
    def at(cls, trace: Trace, t: int) -> "BranchStart":
        """The state after step t of a finished run; ValueError when t is not a step a branch can start after."""
        if not trace.final:
            raise ValueError("the run is not finished: branch from a complete trace")
        if type(t) is not int or not 0 <= t < trace.n_steps:
            raise ValueError(f"step {t!r}: a branch starts after a step in [0, {trace.n_steps - 1}] (after the last "
                             f"step, {trace.n_steps}, nothing is left to decode)")
        state = trace.state_at(t)
        return cls(trace, t, state.tokens, np.nan_to_num(state.log_conf, nan=0.0), state.log_weight)

    @property
    def n_particles(self) -> int:
        return self.parent.n_particles + (0 if self.copies is None else self.copies.shape[1])

    def grow(self, n_particles: int, scheme: str, seed: int) -> "BranchStart":
        """This start with `n_particles` ≥ N particles per prompt (itself when equal; ValueError when fewer).

        Rows i < N of each prompt are the parent's, unchanged; rows N.. are copies of parent rows drawn by the
        normalised weights w̄ after step t, with `scheme` and the prompt's "growth" stream at step t for `seed`.
        Weights: the originals keep theirs, every copy carries the group's mean weight S/N (S = Σ exp(log_w)). Then
        the grown total weight is N'·S/N, whatever the draw, and each copy of row i contributes (S/N)·E[copies of i]
        = (N' − N)·exp(log_w_i)/N in expectation, so for any f the weighted mean Σ W'f / Σ W' over the N' rows has the
        parent's Σ W f / S as its expectation: growing adds particles without biasing what the weights say.
        """
        P, N = self.parent.n_prompts, self.parent.n_particles
        refuse_fewer(N, n_particles)
        if n_particles == self.n_particles:
            return self
        if self.copies is not None:
            raise ValueError(f"n_particles = {n_particles}: this start has grown to {self.n_particles} already; grow "
                             "the start `BranchStart.at` gives")
        M = n_particles - N
        log_w = torch.as_tensor(self.log_weight, dtype=torch.float64).view(P, N)
        streams = RandomStreams.for_prompts(seed, self.parent.prompt_ids, "cpu").at(self.step)
        copies = resample(normalise(log_w), scheme, streams.uniform("growth", (M,), torch.float64).view(P, M)).numpy()
        # [P] log(S/N), a float32 value as `decode` carries it (so the trace's state at t is the start, exactly)
        mean_log_w = (torch.logsumexp(log_w, dim=1) - math.log(N)).float().double().numpy()
        rows = (np.arange(P)[:, None] * N + copies).ravel()

        def with_copies(values: np.ndarray, added: np.ndarray) -> np.ndarray:
            """`[P·N, ...]` rows and `[P·M, ...]` added ones → `[P·N', ...]`, each prompt's copies after its rows."""
            rest = values.shape[1:]
            return np.concatenate([values.reshape(P, N, *rest), added.reshape(P, M, *rest)], axis=1).reshape(-1, *rest)

        return BranchStart(self.parent, self.step, with_copies(self.tokens, self.tokens[rows]),
                           with_copies(self.log_conf, self.log_conf[rows]),
                           with_copies(self.log_weight, np.repeat(mean_log_w, M)), copies)

    def finished_block(self, s: int) -> bool:
        """Whether the parent's step s (≤ t) finished its block: its next step is in another block. This is what
        `decode` learns from the device each step; the branch replays the schedule's skips from it."""
        steps = self.parent.steps
        return s < len(steps) and steps[s].block != steps[s - 1].block

    def state(self, device: torch.device):
        """`(x, log_conf, log_w)` tensors on `device`, as `decode` carries them (float32 values, exactly)."""
        return (torch.as_tensor(self.tokens, dtype=torch.long, device=device),
                torch.as_tensor(self.log_conf, dtype=torch.float32, device=device),
                torch.as_tensor(self.log_weight, dtype=torch.float32, device=device))

    def prefix(self) -> list[StepRecord]:
        """Copies of the parent's steps 1..t, the branch trace's first steps (lifted to N' rows when grown)."""
        if self.copies is not None:
            P, N = self.parent.n_prompts, self.parent.n_particles
            return self.parent.grown_steps(self.step, self.copies, self.log_weight.reshape(P, -1)[:, N])
        return [StepRecord(**asdict(s)) for s in self.parent.steps[:self.step]]

    def check_prompts(self, prompt_ids: list[list[int]], x0: torch.Tensor) -> None:
        """ValueError unless the model encodes the prompts as the parent run did."""
        if prompt_ids != self.parent.prompt_ids or x0.tolist() != self.parent.initial:
            raise ValueError("the model encodes the run's prompts differently from the trace: not the run's model")

    def parent_ref(self) -> dict:
        """The branch trace's `parent`: the run and step, and the parent's N when the branch grew."""
        grown = {} if self.copies is None else {"n_particles": self.parent.n_particles}
        return {"run_id": self.parent.run_id, "step": self.step, **grown}


def parent_config(trace: Trace) -> SamplerConfig:
    """The parent's settings as a SamplerConfig (top_k_alternatives as recorded: 0 for a schema 1 trace)."""
    known = {f.name for f in fields(SamplerConfig)}
    d = {k: v for k, v in trace.config.items() if k in known}
    return SamplerConfig.from_dict({**d, "top_k_alternatives": trace.alternatives_k})


def branch_config(trace: Trace, **changes) -> SamplerConfig:
    """The parent's settings with `changes`; ValueError naming the setting and why when it cannot change mid-run.

    Free to change: τ, reward weight α, repetition penalty, no-repeat n-gram, κ, the resampling scheme and when it
    checks, the final pick, the confidence source, ρ, the seed, the method (best-of-N: stop resampling), device and
    dtype, and the policy between topk and random (the threshold policy plans its own steps).
    """
    base = parent_config(trace)
    cfg = base.replace(**changes)
    refuse_fixed(base, cfg)
    return cfg


def refuse_fixed(base: SamplerConfig, cfg: SamplerConfig) -> None:
    """ValueError naming the first setting `cfg` changes from the parent's `base` that cannot change mid-run
    (or N' < N particles)."""
    refuse_fewer(base.n_particles, cfg.n_particles)
    for name, why in FIXED.items():
        if getattr(cfg, name) != getattr(base, name):
            raise ValueError(f"{name} = {getattr(cfg, name)!r}: a branch cannot change it ({getattr(base, name)!r} in "
                             f"the run): {why}")
    if cfg.policy != base.policy and "threshold" in (cfg.policy, base.policy):
        raise ValueError(f"policy = {cfg.policy!r}: a branch cannot switch to or from the threshold policy "
                         f"({base.policy!r} in the run): it plans its own steps, the schedule would not continue")


def refuse_fewer(n_parent: int, n_particles: int) -> None:
    """ValueError when a branch would run fewer particles than its parent's N."""
    if n_particles < n_parent:
        raise ValueError(f"n_particles = {n_particles}: a branch keeps the run's N = {n_parent} particles or grows "
                         f"them (N' ≥ {n_parent}) by copying particles by weight; it cannot drop particles")


def check_start(start: BranchStart, cfg: SamplerConfig, model_name: str) -> None:
    """ValueError when `cfg` and the model cannot continue `start`: another model, or a setting that cannot
    change mid-run (before any work)."""
    parent = start.parent
    if model_name != parent.model:
        raise ValueError(f"model {model_name!r}: the run was decoded by {parent.model!r}; a branch continues its token "
                         "ids with the same model")
    refuse_fixed(parent_config(parent), cfg)
