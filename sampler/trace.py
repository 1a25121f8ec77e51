"""The trace: a recorded run, the contract between the sampler and the explorer.

A trace stores *events*, not snapshots: per step the commits (row, position, token,
log-confidence), each row's log-weight increment and log-weight, each prompt's ESS,
whether it resampled and, if so, the ancestor indices in the order the scheme drew them.
Its size grows with N·L + N·T. `state_at(t)` replays the events to rebuild every
particle at step t; lineage queries follow the ancestor indices.

Rows are grouped by prompt: row r = p·N + i. Step 0 is the initial state; step t ≥ 1
is the state after step t committed and (maybe) resampled.

File format: JSON with `schema_version`; `Trace.load` rejects other versions and
corrupt files with `TraceFormatError`.
"""
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1


class TraceFormatError(ValueError):
    """A trace file that is not valid JSON, not a trace, or of another schema version."""


@dataclass
class StepRecord:
    """What step `step` did. Commit lists are flat and parallel; per-row lists have R entries."""

    step: int
    block: int
    rows: list[int]
    positions: list[int]
    tokens: list[int]
    log_conf: list[float]
    log_increment: list[float]  # [R]
    log_weight: list[float]  # [R] after the increment, before any reset
    ess: list[float]  # [P] before resampling
    resampled: list[bool]  # [P]
    ancestors: list[list[int]] | None  # [P][N] within-group, sampling order; None if nothing resampled


@dataclass
class ParticlesAt:
    """Every particle at one step; arrays are `[R, L]` unless noted."""

    step: int
    tokens: np.ndarray
    masked: np.ndarray  # bool
    log_conf: np.ndarray  # NaN where nothing is committed (prompt and masks)
    commit_step: np.ndarray  # step each token was committed at, -1 for prompt/masks
    inherited: np.ndarray  # bool: committed by another lineage, arrived through resampling
    log_weight: np.ndarray  # [R] after this step (0 right after a resample)
    roots: np.ndarray  # [R] the initial particle (within group) each row descends from


@dataclass
class Trace:
    model: str
    config: dict
    prompts: list[str]
    prompt_ids: list[list[int]]
    initial: list[list[int]]  # [P][L] padded prompt + MASK
    prompt_width: int  # generated positions start here
    mask_id: int
    vocab: dict[int, str]  # display string of every token id the run used
    steps: list[StepRecord] = field(default_factory=list)
    final: dict = field(default_factory=dict)  # chosen [P], scores [P][N], texts [P][N]
    stats: dict = field(default_factory=dict)  # wall_time_s, forwards, n_steps (timing varies run to run)
    schema_version: int = SCHEMA_VERSION

    # ----- shape -------------------------------------------------------------------
    @property
    def n_prompts(self) -> int:
        return len(self.prompts)

    @property
    def n_particles(self) -> int:
        return self.config["n_particles"]

    @property
    def n_rows(self) -> int:
        return self.n_prompts * self.n_particles

    @property
    def n_steps(self) -> int:
        return len(self.steps)

    @property
    def length(self) -> int:
        return len(self.initial[0])

    def rows_of(self, prompt: int) -> range:
        return range(prompt * self.n_particles, (prompt + 1) * self.n_particles)

    # ----- replay ------------------------------------------------------------------
    def parents(self, t: int) -> np.ndarray:
        """Global row `[R]` each row after step t came from before step t's resampling."""
        identity = np.arange(self.n_rows)
        if t < 1 or self.steps[t - 1].ancestors is None:
            return identity
        N = self.n_particles
        return (np.asarray(self.steps[t - 1].ancestors) + N * np.arange(self.n_prompts)[:, None]).ravel()

    def state_at(self, t: int, before_resample: bool = False) -> ParticlesAt:
        """Rebuild all particles at step t (0 = initial) by replaying the events up to t."""
        if not 0 <= t <= self.n_steps:
            raise IndexError(f"step {t} outside [0, {self.n_steps}]")
        R, N = self.n_rows, self.n_particles
        tokens = np.repeat(np.asarray(self.initial, dtype=np.int64), N, axis=0)
        log_conf = np.full(tokens.shape, np.nan)
        commit_step = np.full(tokens.shape, -1)
        inherited = np.zeros(tokens.shape, dtype=bool)
        log_weight = np.zeros(R)
        roots = np.tile(np.arange(N), self.n_prompts)
        for s in range(1, t + 1):
            rec = self.steps[s - 1]
            rows, pos = np.asarray(rec.rows, dtype=np.int64), np.asarray(rec.positions, dtype=np.int64)
            tokens[rows, pos] = rec.tokens
            log_conf[rows, pos] = rec.log_conf
            commit_step[rows, pos] = s
            inherited[rows, pos] = False
            log_weight = np.asarray(rec.log_weight, dtype=float)
            if rec.ancestors is None or (before_resample and s == t):
                continue
            a = self.parents(s)
            moved = (a != np.arange(R))[:, None]
            tokens, log_conf, commit_step, roots = tokens[a], log_conf[a], commit_step[a], roots[a]
            inherited = inherited[a] | (moved & (commit_step >= 0))
            reset = np.repeat(np.asarray(rec.resampled), N)
            log_weight = np.where(reset, 0.0, log_weight)
        return ParticlesAt(t, tokens, tokens == self.mask_id, log_conf, commit_step, inherited, log_weight, roots)

    # ----- lineage -----------------------------------------------------------------
    def lineage(self, row: int, t: int | None = None) -> list[int]:
        """Rows `[t+1]` that row `row` at step t descends from, at steps 0..t."""
        t = self.n_steps if t is None else t
        path = [row]
        for s in range(t, 0, -1):
            path.append(int(self.parents(s)[path[-1]]))
        return path[::-1]

    def roots(self, t: int | None = None) -> np.ndarray:
        """The initial particle (within its group) each row at step t descends from, `[R]`."""
        t = self.n_steps if t is None else t
        roots = np.tile(np.arange(self.n_particles), self.n_prompts)
        for s in range(1, t + 1):
            roots = roots[self.parents(s)]
        return roots

    def common_ancestor_step(self, prompt: int = 0, t: int | None = None) -> int | None:
        """The latest step s ≤ t at which all of the prompt's particles at t share one ancestor.

        None when they descend from more than one initial particle.
        """
        t = self.n_steps if t is None else t
        alive = set(self.rows_of(prompt))
        for s in range(t, 0, -1):
            if len(alive) == 1:
                return s
            alive = {int(self.parents(s)[r]) for r in alive}
        return 0 if len(alive) == 1 else None

    def resample_steps(self, prompt: int = 0) -> list[int]:
        return [r.step for r in self.steps if r.resampled[prompt]]

    def ess_curve(self, prompt: int = 0) -> np.ndarray:
        """ESS `[T]` before resampling at each step."""
        return np.asarray([r.ess[prompt] for r in self.steps])

    def text(self, tokens: list[int]) -> list[str]:
        """Display strings of token ids."""
        return [self.vocab.get(int(i), f"<{int(i)}>") for i in tokens]

    # ----- file ----------------------------------------------------------------------
    def to_dict(self) -> dict:
        d = asdict(self)
        d["vocab"] = {str(k): v for k, v in self.vocab.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Trace":
        if not isinstance(d, dict) or "schema_version" not in d:
            raise TraceFormatError("not an SR-SMC trace: no schema_version field")
        if d["schema_version"] != SCHEMA_VERSION:
            raise TraceFormatError(f"trace schema_version {d['schema_version']!r} is not supported "
                                   f"(this version reads {SCHEMA_VERSION})")
        try:
            steps = [StepRecord(**s) for s in d["steps"]]
            trace = cls(**{**d, "steps": steps, "vocab": {int(k): v for k, v in d["vocab"].items()}})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise TraceFormatError(f"corrupt trace: {e}") from e
        trace.validate()
        return trace

    def validate(self) -> None:
        """Check that every index and list length is consistent; raise TraceFormatError if not."""
        def need(ok, what):
            if not ok:
                raise TraceFormatError(f"corrupt trace: {what}")

        need(isinstance(self.config.get("n_particles"), int) and self.n_particles >= 1, "config.n_particles")
        need(len(self.initial) == self.n_prompts == len(self.prompt_ids) >= 1, "one initial row per prompt")
        need(all(len(row) == self.length for row in self.initial), "initial rows of unequal length")
        R, P, N, L = self.n_rows, self.n_prompts, self.n_particles, self.length
        for i, s in enumerate(self.steps):
            need(s.step == i + 1, f"step {i + 1} is numbered {s.step}")
            need(len(s.rows) == len(s.positions) == len(s.tokens) == len(s.log_conf), f"step {s.step} commits")
            need(all(0 <= r < R for r in s.rows) and all(0 <= p < L for p in s.positions),
                 f"step {s.step} commit outside [0, {R}) × [0, {L})")
            need(len(s.log_increment) == len(s.log_weight) == R and len(s.ess) == len(s.resampled) == P,
                 f"step {s.step} per-row lists")
            need(s.ancestors is None or (len(s.ancestors) == P and all(
                len(a) == N and all(0 <= j < N for j in a) for a in s.ancestors)), f"step {s.step} ancestors")

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":")))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Trace":
        try:
            d = json.loads(Path(path).read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise TraceFormatError(f"{Path(path).name} is not a JSON trace file: {e}") from e
        return cls.from_dict(d)


class TraceRecorder:
    """Observer of `sampler.smc.decode`: turns each `StepInfo` into a `StepRecord`."""

    def __init__(self, model, cfg, prompt_ids: list[list[int]], x0, prompt_width: int):
        self.model, self.cfg = model, cfg
        self.trace = Trace(model=model.name, config=cfg.to_dict(), prompts=list(cfg.prompts), prompt_ids=prompt_ids,
                           initial=x0.tolist(), prompt_width=prompt_width, mask_id=model.mask_id, vocab={})

    def __call__(self, info) -> None:
        rows, positions = info.committed.nonzero(as_tuple=True)
        self.trace.steps.append(StepRecord(
            step=info.step, block=info.block, rows=rows.tolist(), positions=positions.tolist(),
            tokens=info.x[rows, positions].tolist(), log_conf=info.log_conf[rows, positions].tolist(),
            log_increment=info.log_increment.tolist(), log_weight=info.log_weight.tolist(),
            ess=info.ess.tolist(), resampled=info.resampled.tolist(),
            ancestors=None if info.ancestors is None else info.ancestors.tolist()))

    def finish(self, result) -> Trace:
        t = self.trace
        used = sorted({i for row in t.initial for i in row} | {i for s in t.steps for i in s.tokens})
        t.vocab = dict(zip(used, self.model.token_strings(used)))
        t.final = {"chosen": result.chosen, "scores": result.scores.tolist(), "texts": result.texts}
        t.stats = {"wall_time_s": result.wall_time_s, "forwards": result.forwards, "n_steps": result.n_steps}
        return t
