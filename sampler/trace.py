"""The trace: a recorded run, the contract between the sampler and the explorer.

A trace stores *events*, not snapshots: per step the commits (row, position, token,
log-confidence), each row's log-weight increment and log-weight, each prompt's ESS,
whether it resampled and, if so, the ancestor indices in the order the scheme drew them.
Its size grows with N·L + N·T. `state_at(t)` replays the events to rebuild every
particle at step t; lineage queries follow the ancestor indices.

Rows are grouped by prompt: row r = p·N + i. Step 0 is the initial state; step t ≥ 1
is the state after step t committed and (maybe) resampled.

Schema 2 adds, per commit, the proposal's top-k alternatives (`alt_tokens`, `alt_probs`, k per
commit, most likely first) and the committed token's rank (`ranks`, 1 = most likely), k =
`config.top_k_alternatives` (null when 0); and per trace a `run_id` and the `parent` run a branch
started from (with the parent's `n_particles` when the branch grew to more: `Trace.grown_steps`).
Schema 1 files still load (alternatives "not recorded", run_id computed on load).

File format: JSON with `schema_version`. `validate_dict` is the one validator: `Trace.load`,
`Trace.from_dict` and `Trace.validate` run it before anything is built, and every failure is
a `TraceFormatError` naming the file and the field.
"""
import hashlib
import itertools
import json
import math
import os
import stat
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 2
READABLE_VERSIONS = (1, 2)


class TraceFormatError(ValueError):
    """A trace file that is not valid JSON, not a trace, of another schema version, or inconsistent."""


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
    # schema 2, None when not recorded (top_k_alternatives = 0, or a schema 1 file); k = top_k_alternatives
    alt_tokens: list[int] | None = None  # [n·k] per commit the proposal's k most likely tokens, most likely first
    alt_probs: list[float] | None = None  # [n·k] their probabilities (4 significant digits)
    ranks: list[int] | None = None  # [n] the committed token's rank among all tokens, 1 = most likely


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
    run_id: str = ""  # `content_id` of the finished run ("" while it records)
    parent: dict | None = None  # a branch's origin: {"run_id": the parent's, "step": t it started after, and
    # "n_particles": the parent's N where the branch grew to more}
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

    @property
    def alternatives_k(self) -> int:
        """Alternatives recorded per commit (0: none, or not recorded: a schema 1 file)."""
        return int(self.config.get("top_k_alternatives") or 0)

    def rows_of(self, prompt: int) -> range:
        return range(prompt * self.n_particles, (prompt + 1) * self.n_particles)

    # ----- replay ------------------------------------------------------------------
    def parents(self, t: int) -> np.ndarray:
        """Global row `[R]` each row after step t came from before step t's resampling.

        The one definition of ancestry: `state_at` applies it forward, `walk_back` composes it backward.
        """
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

    # ----- a grown branch's prefix ------------------------------------------------------
    def grown_steps(self, t: int, copies: np.ndarray, copy_log_weight: np.ndarray) -> list[StepRecord]:
        """Steps 1..t lifted to N' = N + M rows per prompt, the prefix of a branch that grew after step t.

        `copies [P, M]`: the row (within its group) each extra particle copies after step t; `copy_log_weight [P]`
        the log-weight the copies start with. Row p·N' + i (i < N) keeps row p·N + i's records unchanged. Extra row
        p·N' + N + k mirrors, step by step, the lineage of row copies[p, k] at step t: at step s it commits what
        that lineage's row committed and carries its log-weights; where the prompt resampled it takes that row as
        ancestor (so it joins the parent's family tree), elsewhere it is its own (the identity the format asks). So
        `state_at(s)` shows it as its lineage's row at every s ≤ t, and at t with `copy_log_weight` (where the prompt
        resampled at t the reset makes every weight 0 = log(mean weight) anyway). ESS stays the parent's: it
        describes the N particles that made those steps."""
        P, N, M = self.n_prompts, self.n_particles, copies.shape[1]
        n_new, k = N + M, self.alternatives_k
        groups = np.arange(P)[:, None]
        extra_rows = (groups * n_new + N + np.arange(M)).ravel()  # [P·M] the extra rows, new numbering
        row = (groups * N + copies).ravel()  # [P·M] the lineage rows after step s (first s = t)
        lifted = []
        for s in range(t, 0, -1):
            rec, before = self.steps[s - 1], self.parents(s)[row]  # the lineage rows before step s's resampling
            source = np.concatenate([groups * N + np.arange(N), before.reshape(P, M)], axis=1).ravel()  # [P·N']
            rows = np.asarray(rec.rows, dtype=np.int64)
            # the extra rows' commits: their lineage rows', grouped by extra row (after the originals', unmoved)
            by_row = np.argsort(rows, kind="stable")
            counts = np.bincount(rows, minlength=self.n_rows)[before]
            first = np.searchsorted(rows[by_row], before)
            offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
            commits = np.concatenate([np.arange(len(rows)), by_row[np.repeat(first, counts) + offsets]])
            log_weight = np.asarray(rec.log_weight, dtype=float)[source].reshape(P, n_new)
            if s == t:  # the copies start with copy_log_weight (a reset at t sets every weight to 0 anyway)
                kept = ~np.asarray(rec.resampled)[:, None]
                log_weight[:, N:] = np.where(kept, np.asarray(copy_log_weight)[:, None], log_weight[:, N:])
            ancestors = None if rec.ancestors is None else [
                list(a) + ((before[p * M:(p + 1) * M] % N).tolist() if rec.resampled[p] else list(range(N, n_new)))
                for p, a in enumerate(rec.ancestors)]
            new_rows = np.concatenate([rows // N * n_new + rows % N, np.repeat(extra_rows, counts)])
            lifted.append(_select(rec, k, commits, new_rows, source, ancestors, log_weight.ravel()))
            row = before
        return lifted[::-1]

    def parent_steps(self) -> list[StepRecord]:
        """A branch's first `parent.step` steps as its parent recorded them: for a grown branch (`parent.n_particles`
        < N) its first parent-N rows of each prompt (`grown_steps` keeps them unchanged, their commits first)."""
        t, n = self.parent["step"], self.parent.get("n_particles", self.n_particles)
        if n == self.n_particles:
            return self.steps[:t]
        N, k = self.n_particles, self.alternatives_k
        kept = []
        for rec in self.steps[:t]:
            rows = np.asarray(rec.rows, dtype=np.int64)
            commits = np.flatnonzero(rows % N < n)
            keep = (np.arange(self.n_prompts)[:, None] * N + np.arange(n)).ravel()
            ancestors = None if rec.ancestors is None else [a[:n] for a in rec.ancestors]
            kept.append(_select(rec, k, commits, rows[commits] // N * n + rows[commits] % N, keep, ancestors,
                                np.asarray(rec.log_weight, dtype=float)[keep]))
        return kept

    # ----- lineage: one walk back through `parents` ------------------------------------
    # A node (s, r) is row r after step s's resampling (step 0: the initial rows), the rows `state_at(s)` shows.
    def walk_back(self, t: int | None = None):
        """Yield `(s, a)` for s = t, t-1, …, 0, where `a [R]` is the node at step s each row at step t descends from."""
        t = self.n_steps if t is None else t
        a = np.arange(self.n_rows)
        yield t, a
        for s in range(t, 0, -1):
            a = self.parents(s)[a]
            yield s - 1, a

    def lineage(self, row: int, t: int | None = None) -> list[int]:
        """Rows `[t+1]` that row `row` at step t descends from, at steps 0..t."""
        return [int(a[row]) for _, a in self.walk_back(t)][::-1]

    def roots(self, t: int | None = None) -> np.ndarray:
        """The initial particle (within its group) each row at step t descends from, `[R]`."""
        *_, (_, a) = self.walk_back(t)
        return a % self.n_particles

    def common_ancestor_step(self, prompt: int = 0, t: int | None = None) -> int | None:
        """The latest step s ≤ t at which all of the prompt's particles at t share one ancestor.

        None when they descend from more than one initial particle.
        """
        rows = np.asarray(self.rows_of(prompt))
        return next((s for s, a in self.walk_back(t) if len(set(a[rows].tolist())) == 1), None)

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
        """The JSON dict. Lists are shared with the trace, not copied (`dataclasses.asdict` deep-copied every
        number: seconds for a 40,000-step trace); copy before changing nested values."""
        d = {name: getattr(self, name) for name in TOP_FIELDS}
        d.update(config=dict(self.config), final=dict(self.final), stats=dict(self.stats),
                 vocab={str(k): v for k, v in self.vocab.items()},
                 steps=[{name: getattr(s, name) for name in STEP_FIELDS} for s in self.steps])
        return d

    @classmethod
    def from_dict(cls, d, source: str = "trace") -> "Trace":
        """A trace from its JSON dict, after `validate_dict` (TraceFormatError naming `source` and the field).
        A schema 1 trace comes back as schema 2: no alternatives, its run_id computed from its content."""
        validate_dict(d, source)
        steps = [StepRecord(**s) for s in d["steps"]]
        trace = cls(**{**d, "steps": steps, "vocab": {int(k): v for k, v in d["vocab"].items()},
                       "schema_version": SCHEMA_VERSION})
        if d["schema_version"] == 1:
            trace.run_id = content_id(trace.to_dict())
        return trace

    def validate(self) -> None:
        """`validate_dict` on this trace: raise TraceFormatError if any field is inconsistent."""
        validate_dict(self.to_dict())

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), separators=(",", ":"), allow_nan=False))
        return path

    @classmethod
    def load(cls, path: str | Path, max_bytes: int | None = None) -> "Trace":
        """Read and validate a trace file of at most `max_bytes` (default MAX_FILE_BYTES); every failure is a
        TraceFormatError that names the file. Special files (FIFOs, devices, folders) are refused unread."""
        path = Path(path)
        try:
            d = parse_json(read_bounded(path, MAX_FILE_BYTES if max_bytes is None else max_bytes, "trace"))
        except FileRefused as e:
            raise TraceFormatError(f"{path.name}: cannot be read ({e})") from None
        except (UnicodeDecodeError, ValueError) as e:  # JSONDecodeError and the int-digits limit are ValueErrors
            raise TraceFormatError(f"{path.name} is not a JSON trace file: {e}") from None
        except RecursionError:
            raise TraceFormatError(f"{path.name} is not a trace: JSON nested too deeply") from None
        except MemoryError:
            raise TraceFormatError(f"{path.name}: too large to read") from None
        except OSError as e:
            raise TraceFormatError(f"{path.name}: cannot be read ({e.strerror or type(e).__name__})") from None
        return cls.from_dict(d, path.name)


def _select(rec: StepRecord, k: int, commits: np.ndarray, rows: np.ndarray, source: np.ndarray, ancestors,
            log_weight: np.ndarray) -> StepRecord:
    """`rec` on other rows: its commits `commits` (indices, now on `rows`), the per-row lists of rows `source`
    (log_weight given), the ancestors given; ESS and resampling flags per prompt as recorded."""
    def per_commit(values, width=1):
        return None if values is None else np.asarray(values).reshape(-1, width)[commits].ravel().tolist()

    return StepRecord(step=rec.step, block=rec.block, rows=rows.tolist(), positions=per_commit(rec.positions),
                      tokens=per_commit(rec.tokens), log_conf=per_commit(rec.log_conf),
                      log_increment=np.asarray(rec.log_increment, dtype=float)[source].tolist(),
                      log_weight=log_weight.tolist(), ess=list(rec.ess), resampled=list(rec.resampled),
                      ancestors=ancestors, alt_tokens=per_commit(rec.alt_tokens, k),
                      alt_probs=per_commit(rec.alt_probs, k), ranks=per_commit(rec.ranks))


def content_id(d: dict) -> str:
    """A run's id: the first 16 hex digits of the SHA-256 of its trace dict's canonical JSON, leaving out
    `run_id` and `stats` (timings vary run to run). Deterministic: the same seed and settings give the same
    id, another run (or a branch) another. It names the run; loading does not re-check it against the content."""
    content = {k: v for k, v in d.items() if k not in ("run_id", "stats")}
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), allow_nan=False, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:RUN_ID_DIGITS]


def resolve_parent(trace: Trace, runs) -> Trace:
    """The run `trace` branched from, among `runs` (traces loaded together), checked: the same model and prompts,
    and the same steps up to the branch step. TraceFormatError when it is not among them or does not match."""
    parent = trace.parent
    if parent is None:
        raise TraceFormatError(f"run {trace.run_id} is not a branch: it has no parent")
    found = next((r for r in runs if r.run_id == parent["run_id"]), None)
    if found is None:
        raise TraceFormatError(f"run {trace.run_id}: its parent run {parent['run_id']} (step {parent['step']}) is "
                               "not among the loaded runs")
    t = parent["step"]
    same = (found.model == trace.model and found.prompt_ids == trace.prompt_ids and found.initial == trace.initial
            and t <= found.n_steps and found.n_particles == parent.get("n_particles", trace.n_particles)
            and found.steps[:t] == trace.parent_steps())
    if not same:
        raise TraceFormatError(f"run {trace.run_id}: run {found.run_id} is not its parent: the model, prompts or the "
                               f"first {t} steps differ")
    return found


# ----- the one validator -----------------------------------------------------------------
MAX_FILE_BYTES = 256 * 2**20
MAX_ID = 2**31 - 1  # token ids, rows and positions are stored as int64 arrays
RUN_ID_DIGITS = 16
INT64 = 2**63  # every whole number a trace holds is below this in magnitude (JSON encoders need 64 bits)
STEP_FIELDS = tuple(f.name for f in fields(StepRecord))
TOP_FIELDS = tuple(f.name for f in fields(Trace))
V2_STEP_FIELDS = ("alt_tokens", "alt_probs", "ranks")
V2_TOP_FIELDS = ("run_id", "parent")
FIELDS_OF_VERSION = {1: (tuple(f for f in TOP_FIELDS if f not in V2_TOP_FIELDS),
                         tuple(f for f in STEP_FIELDS if f not in V2_STEP_FIELDS)),
                     2: (TOP_FIELDS, STEP_FIELDS)}  # schema version -> (trace fields, step fields)


class FileRefused(ValueError):
    """A path that is not a regular file, or a file over the size allowed: refused before it is read."""


def read_bounded(path: str | Path, limit: int, what: str = "file") -> bytes:
    """The bytes of a regular file of at most `limit` bytes. Refuses FIFOs, devices, sockets and folders
    before reading (opened non-blocking, so a FIFO with no writer cannot hang), and reads at most limit + 1
    bytes whatever the file claims. Raises FileRefused (special or oversized file) or OSError."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file (a FIFO, device or socket)"
            raise FileRefused(f"{kind}: only regular files are read")
        if info.st_size > limit:
            raise FileRefused(f"{info.st_size:,} bytes, over the {limit:,} a {what} may have")
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 22, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise FileRefused(f"over the {limit:,} bytes a {what} may have")
        return b"".join(chunks)
    finally:
        os.close(fd)


def parse_json(data: bytes):
    """JSON bytes to Python values with the standard library, which reads NaN, Infinity and lone surrogates
    (so the validator can name the field that holds them) and raises RecursionError on deep nesting (orjson
    3.8 crashes the process on 200,000 nested brackets)."""
    return json.loads(data.decode("utf-8"))


class _Check:
    """Raises TraceFormatError("<source>: <field> …") for the first failed check. Messages are built only
    when a check fails."""

    def __init__(self, source: str):
        self.source = source

    def fail(self, where: str, problem: str):
        raise TraceFormatError(f"{self.source}: corrupt trace: {where} {problem}")

    def need(self, ok: bool, where: str, problem: str) -> None:
        if not ok:
            self.fail(where, problem)

    def obj(self, value, where: str, keys: tuple[str, ...] = ()) -> dict:
        if not isinstance(value, dict):
            self.fail(where, f"must be an object, not {type(value).__name__}")
        missing = [k for k in keys if k not in value]
        if missing:
            self.fail(where, f"lacks {', '.join(missing)}")
        return value

    def seq(self, value, where: str, length: int | None = None) -> list:
        if type(value) is not list:
            self.fail(where, f"must be a list, not {type(value).__name__}")
        if length is not None and len(value) != length:
            self.fail(where, f"must have {length} entries, not {len(value)}")
        return value

    def ints(self, value, where: str, lo: int, hi: int, length: int | None = None) -> list[int]:
        """A list of ints in [lo, hi)."""
        self.seq(value, where, length)
        self.int_values(value, where, lo, hi)
        return value

    def int_values(self, values, where: str, lo: int, hi: int) -> None:
        if not all(type(v) is int for v in values):
            self.fail(where, "must hold whole numbers only")
        if values and not (lo <= min(values) and max(values) < hi):
            self.fail(where, f"must hold numbers in [{lo}, {hi})")

    def whole(self, value, where: str, lo: int, hi: int) -> int:
        if not (type(value) is int and lo <= value < hi):
            self.fail(where, f"= {_short(value)}: must be a whole number in [{lo}, {hi})")
        return value

    def floats(self, value, where: str, length: int | None = None) -> list[float]:
        """A list of finite numbers."""
        self.seq(value, where, length)
        self.float_values(value, where)
        return value

    def float_values(self, values, where: str) -> None:
        if not all(type(v) is float or (type(v) is int and -INT64 < v < INT64) for v in values):
            self.fail(where, "must hold numbers only (whole numbers of at most 64 bits)")
        if not all(map(math.isfinite, values)):
            self.fail(where, "must hold finite numbers only (no NaN or Infinity)")

    def text(self, value, where: str) -> str:
        if not isinstance(value, str):
            self.fail(where, f"must be a string, not {type(value).__name__}")
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as e:
            self.fail(where, f"holds a character that is not valid text at {e.start} (a lone surrogate)")
        return value

    def texts(self, value, where: str, length: int | None = None) -> list[str]:
        self.seq(value, where, length)
        if not all(type(v) is str for v in value):
            i = next(i for i, v in enumerate(value) if type(v) is not str)
            self.text(value[i], f"{where}[{i}]")
        try:
            "".join(value).encode("utf-8")
        except UnicodeEncodeError:
            for i, v in enumerate(value):
                self.text(v, f"{where}[{i}]")
        return value


def _clip(text: str) -> str:
    return text if len(text) <= 40 else text[:37] + "..."


def _short(value) -> str:
    if type(value) is int and abs(value) >= INT64:
        return f"an integer of {value.bit_length()} bits"
    return _clip(repr(value))


def _check_config(c: _Check, config) -> None:
    """The run's settings, by `SamplerConfig`'s own validation (types, ranges, choices, 64-bit ints), so they
    can fill the run panel; fields a trace leaves out take the defaults."""
    from sampler.config import SamplerConfig

    c.obj(config, "config", ("n_particles",))
    for key, value in config.items():
        c.text(key, "config key")
        if isinstance(value, str):
            c.text(value, f"config.{_clip(key)}")
        elif isinstance(value, list):
            c.texts(value, f"config.{_clip(key)}")
        elif value is not None and type(value) not in (bool, int, float):
            c.fail(f"config.{_clip(key)}", f"must be a number, string, bool or null, not {type(value).__name__}")
    c.whole(config["n_particles"], "config.n_particles", 1, MAX_ID)
    try:
        SamplerConfig.from_dict(config)
    except (ValueError, TypeError) as e:
        c.fail("config:", str(e))


def _check_final(c: _Check, final, P: int, N: int) -> None:
    """`final`: chosen [P], texts [P][N], optional scores [P][N]. Checked before anything of size N·P is
    built, so a declared N the file does not hold is refused for the price of reading it."""
    c.obj(final, "final", ("chosen", "texts"))
    texts = c.seq(final["texts"], "final.texts", P)
    for p in range(P):
        c.texts(texts[p], f"final.texts[{p}]", N)
    c.ints(final["chosen"], "final.chosen", 0, N, P)
    if "scores" in final:
        scores = c.seq(final["scores"], "final.scores", P)
        for p in range(P):
            c.floats(scores[p], f"final.scores[{p}]", N)
    extra = sorted(str(k) for k in final if k not in ("chosen", "texts", "scores"))
    c.need(not extra, "final", f"has unknown fields: {_clip(', '.join(extra))}" if extra else "")


def _check_stats(c: _Check, stats, n_steps: int) -> None:
    c.obj(stats, "stats")
    for key, value in stats.items():
        if isinstance(value, str):
            c.text(value, f"stats.{_clip(key)}")
        elif not (type(value) is float and math.isfinite(value) or type(value) is int and -INT64 < value < INT64):
            c.fail(f"stats.{_clip(key)}", "must be a finite number (whole numbers of at most 64 bits) or a string")
    if "n_steps" in stats and stats["n_steps"] != n_steps:
        c.fail("stats.n_steps", f"= {_short(stats['n_steps'])} but the trace holds {n_steps} steps "
                                "(a truncated trace?)")


# Per-step lists: name -> (what its length counts: commits n, rows R or prompts P; element kind). Their
# structure is checked step by step, their values once over all steps (`_check_step_values`).
STEP_LISTS = {"rows": ("n", "int"), "positions": ("n", "int"), "tokens": ("n", "int"), "log_conf": ("n", "float"),
              "log_increment": ("R", "float"), "log_weight": ("R", "float"), "ess": ("P", "float"),
              "resampled": ("P", "bool")}


def _check_step_values(c: _Check, steps: list, name: str, check) -> None:
    """Run `check(values, where)` on one per-step list over all steps at once; on failure, again step by step
    to name the first step that fails."""
    try:
        check(list(itertools.chain.from_iterable(s[name] for s in steps)), "steps")
    except TraceFormatError:
        for t, s in enumerate(steps):
            check(s[name], f"steps[{t}].{name}")
        raise


def _check_steps(c: _Check, steps: list, P: int, N: int, L: int, width: int, mask: int, known: set,
                 step_fields: tuple[str, ...] = STEP_FIELDS) -> None:
    """Every step (`step_fields`: those of the trace's schema version): fields, numbering, list lengths against n commits, R rows and P prompts, values in range,
    and a complete run (every generated position of every final particle committed once along its lineage)."""
    R = P * N
    fields_ = set(step_fields)
    lengths = {"R": R, "P": P}
    resampling = []  # (index, ancestors) of steps that resampled
    for t, s in enumerate(steps):
        if type(s) is not dict or s.keys() != fields_:
            at = f"steps[{t}]"
            c.obj(s, at, step_fields)
            c.fail(at, f"has unknown fields: {_clip(', '.join(sorted(str(k) for k in s if k not in fields_)))}")
        if type(s["step"]) is not int or s["step"] != t + 1:
            c.fail(f"steps[{t}].step", f"= {_short(s['step'])}: steps must be numbered 1, 2, 3, … (expected {t + 1})")
        if type(s["block"]) is not int or not 0 <= s["block"] <= L:
            c.whole(s["block"], f"steps[{t}].block", 0, L + 1)
        rows = s["rows"]
        if type(rows) is not list:
            c.seq(rows, f"steps[{t}].rows")
        lengths["n"] = len(rows)
        if len(rows) > R * (L - width):
            c.fail(f"steps[{t}].rows", f"holds more commits ({len(rows)}) than masked cells")
        for name, (count, _) in STEP_LISTS.items():
            value = s[name]
            if type(value) is not list or len(value) != lengths[count]:
                c.seq(value, f"steps[{t}].{name}", lengths[count])
        if s["ancestors"] is not None:
            resampling.append(t)
        elif True in s["resampled"]:
            c.fail(f"steps[{t}].ancestors", "is null but the step resampled")

    def in_vocab(values, where):
        if not known.issuperset(values):
            c.fail(where, f"holds token ids outside the vocabulary: {_short(sorted(set(values) - known)[:5])}")
        if mask in values:
            c.fail(where, "must not commit the MASK token")

    def ess_values(values, where):
        c.float_values(values, where)
        if values and not (0 < min(values) and max(values) <= N * (1 + 1e-6)):
            c.fail(where, f"must hold values in (0, N = {N}]")

    def bools(values, where):
        if not all(type(v) is bool for v in values):
            c.fail(where, "must hold true/false only")

    checks = {"rows": lambda v, w: c.int_values(v, w, 0, R), "positions": lambda v, w: c.int_values(v, w, width, L),
              "tokens": lambda v, w: (c.int_values(v, w, 0, MAX_ID + 1), in_vocab(v, w)),
              "log_conf": c.float_values, "log_increment": c.float_values, "log_weight": c.float_values,
              "ess": ess_values, "resampled": bools}
    for name, check in checks.items():
        _check_step_values(c, steps, name, check)

    # ancestors of the steps that resampled: structure step by step, values once
    identity = list(range(N))
    for t in resampling:
        at = f"steps[{t}].ancestors"
        ancestors = c.seq(steps[t]["ancestors"], at, P)
        for p, a in enumerate(ancestors):
            if type(a) is not list or len(a) != N:
                c.seq(a, f"{at}[{p}]", N)
    flat = list(itertools.chain.from_iterable(itertools.chain.from_iterable(steps[t]["ancestors"] for t in resampling)))
    try:
        c.int_values(flat, "steps", 0, N)
    except TraceFormatError:
        for t in resampling:
            for p, a in enumerate(steps[t]["ancestors"]):
                c.ints(a, f"steps[{t}].ancestors[{p}]", 0, N, N)
        raise
    for t in resampling:
        for p, a in enumerate(steps[t]["ancestors"]):
            if not steps[t]["resampled"][p] and a != identity:
                c.fail(f"steps[{t}].ancestors[{p}]", "must be the identity where the prompt did not resample")

    # completeness: commits per (step, row) in one count, carried through each resampling in order
    T = len(steps)
    step_of = np.repeat(np.arange(T, dtype=np.int64), [len(s["rows"]) for s in steps])
    all_rows = np.fromiter(itertools.chain.from_iterable(s["rows"] for s in steps), dtype=np.int64,
                           count=len(step_of))
    per_step = np.bincount(step_of * R + all_rows, minlength=T * R).reshape(T, R)
    offsets = N * np.arange(P)[:, None]
    gathers = np.asarray(flat, dtype=np.int64).reshape(len(resampling), P, N) + offsets
    committed = np.zeros(R, dtype=np.int64)  # generated positions each row has committed so far
    done = 0
    for k, t in enumerate(resampling):
        committed = (committed + per_step[done:t + 1].sum(axis=0))[gathers[k].ravel()]
        done = t + 1
    committed += per_step[done:].sum(axis=0)
    if not (committed == L - width).all():
        c.fail("steps", f"do not complete the run: the final particles committed "
                        f"{_short(sorted(set(committed.tolist()))[:4])} of the {L - width} generated positions "
                        "(a truncated trace?)")


def validate_dict(d, source: str = "trace") -> None:
    """Check a trace's JSON dict completely before anything is built from it.

    Types, ranges, finite numbers, whole numbers of at most 64 bits, strings that encode as UTF-8, token ids
    inside the vocabulary, the run's settings (by `SamplerConfig`'s own validation), consecutive step
    numbers, list lengths that agree with P prompts, N particles, L positions and T steps, and a complete
    run: every generated position of every final particle committed once along its lineage. Every declared
    size is checked against the lists the file holds before anything of that size is built; cost is linear
    in the file's size. Raises TraceFormatError naming `source` and the field.
    """
    c = _Check(source)
    c.need(isinstance(d, dict) and "schema_version" in d, "file", "is not an SR-SMC trace: no schema_version field")
    if type(d["schema_version"]) is not int or d["schema_version"] not in READABLE_VERSIONS:
        raise TraceFormatError(f"{source}: trace schema_version {_short(d['schema_version'])} is not supported "
                               f"(this version reads {', '.join(map(str, READABLE_VERSIONS))})")
    top_fields, step_fields = FIELDS_OF_VERSION[d["schema_version"]]
    unknown = sorted(str(k) for k in d if k not in top_fields)
    c.need(not unknown, "trace", f"has unknown fields: {_clip(', '.join(unknown))}" if unknown else "")
    c.obj(d, "trace", ("model", "config", "prompts", "prompt_ids", "initial", "prompt_width", "mask_id", "vocab",
                        "steps", "final"))
    c.text(d["model"], "model")
    _check_config(c, d["config"])
    N = d["config"]["n_particles"]
    k = c.whole(d["config"].get("top_k_alternatives", 0), "config.top_k_alternatives", 0, MAX_ID) \
        if d["schema_version"] >= 2 else 0
    P = len(c.texts(d["prompts"], "prompts"))
    c.need(P >= 1, "prompts", "must hold at least one prompt")
    _check_final(c, d["final"], P, N)  # N is now backed by N texts per prompt in the file

    vocab = c.obj(d["vocab"], "vocab")
    for key, value in vocab.items():
        if not (isinstance(key, str) and key.isascii() and key.isdigit() and len(key) <= 10 and int(key) <= MAX_ID):
            c.fail(f"vocab key {_short(key)}", f"must be a token id in [0, {MAX_ID}]")
    if not all(type(v) is str for v in vocab.values()):
        for key, value in vocab.items():
            c.text(value, f"vocab[{key}]")
    try:
        "".join(vocab.values()).encode("utf-8")
    except UnicodeEncodeError:
        for key, value in vocab.items():
            c.text(value, f"vocab[{key}]")
    known = {int(k) for k in vocab}

    def in_vocab(ids: list[int], where: str) -> None:
        if not known.issuperset(ids):
            c.fail(where, f"holds token ids outside the vocabulary: {_short(sorted(set(ids) - known)[:5])}")

    initial = c.seq(d["initial"], "initial", P)
    L = len(c.seq(initial[0], "initial[0]"))
    c.need(L >= 1, "initial[0]", "must not be empty")
    width = c.whole(d["prompt_width"], "prompt_width", 0, L + 1)
    mask = c.whole(d["mask_id"], "mask_id", 0, MAX_ID + 1)
    prompt_ids = c.seq(d["prompt_ids"], "prompt_ids", P)
    for p in range(P):
        c.ints(initial[p], f"initial[{p}]", 0, MAX_ID + 1, L)
        in_vocab(initial[p], f"initial[{p}]")
        c.need(all(v == mask for v in initial[p][width:]), f"initial[{p}]", "must be MASK after prompt_width")
        c.ints(prompt_ids[p], f"prompt_ids[{p}]", 0, MAX_ID + 1)
        if len(prompt_ids[p]) > width:
            c.fail(f"prompt_ids[{p}]", f"must fit in prompt_width = {width}")
    steps = c.seq(d["steps"], "steps")
    _check_stats(c, d.get("stats", {}), len(steps))
    _check_steps(c, steps, P, N, L, width, mask, known, step_fields)
    if d["schema_version"] >= 2:
        for t, s in enumerate(steps):
            _check_alternatives(c, s, f"steps[{t}]", len(s["rows"]), k, known)
        _check_run_identity(c, d, len(steps))
        _check_grown_prefix(c, d, N)


def _check_alternatives(c: _Check, s: dict, at: str, n: int, k: int, known: set) -> None:
    """Schema 2, one step's alternatives for its `n` commits: null when k = 0, else k token ids per commit inside
    the vocabulary, k probabilities in [0, 1] per commit, most likely first, and a rank ≥ 1 per commit that agrees
    with where the committed token stands among them (ties share the better rank, so a token left out of the
    list may still rank ≤ k)."""
    fields_ = [f"{at}.{name}" for name in V2_STEP_FIELDS]
    if k == 0:
        for name, where in zip(V2_STEP_FIELDS, fields_):
            c.need(s[name] is None, where, "must be null: config.top_k_alternatives is 0")
        return
    for name, where in zip(V2_STEP_FIELDS, fields_):
        c.need(s[name] is not None, where, f"is null but config.top_k_alternatives = {k}")
    alt = c.ints(s["alt_tokens"], fields_[0], 0, MAX_ID + 1)
    c.need(len(alt) == n * k, fields_[0], f"must hold k = {k} (config.top_k_alternatives) token ids per commit: "
                                          f"{n * k} for {n} commits, not {len(alt)}")
    if not known.issuperset(alt):
        c.fail(fields_[0], f"holds token ids outside the vocabulary: {_short(sorted(set(alt) - known)[:5])}")
    probs = np.asarray(c.floats(s["alt_probs"], fields_[1], n * k), dtype=float).reshape(n, k)
    c.need(bool(((probs >= 0) & (probs <= 1)).all()), fields_[1], "must hold probabilities in [0, 1]")
    c.need(bool((np.diff(probs, axis=1) <= 0).all()), fields_[1], "must list each commit's alternatives most "
                                                                 "likely first")
    ranks = np.asarray(c.ints(s["ranks"], fields_[2], 1, MAX_ID + 1, n), dtype=np.int64)
    where = np.asarray(alt, dtype=np.int64).reshape(n, k) == np.asarray(s["tokens"], dtype=np.int64)[:, None]
    listed = where.any(axis=1)
    c.need(bool((ranks[listed] <= where.argmax(axis=1)[listed] + 1).all()), fields_[2],
           "must agree with the alternatives: a committed token listed at place i has rank ≤ i")


def _check_run_identity(c: _Check, d: dict, n_steps: int) -> None:
    """Schema 2: `run_id` is 16 hex digits; `parent` is null or {run_id: another run's id, step in [0, steps],
    and n_particles (the parent's N) where the branch grew}."""
    def is_id(value) -> bool:
        return isinstance(value, str) and len(value) == RUN_ID_DIGITS and all(ch in "0123456789abcdef" for ch in value)

    c.need(is_id(d["run_id"]), "run_id", f"= {_short(d['run_id'])}: must be {RUN_ID_DIGITS} hex digits")
    parent = d["parent"]
    if parent is None:
        return
    c.obj(parent, "parent", ("run_id", "step"))
    extra = sorted(str(key) for key in parent if key not in ("run_id", "step", "n_particles"))
    c.need(not extra, "parent", f"has unknown fields: {_clip(', '.join(extra))}")
    c.need(is_id(parent["run_id"]), "parent.run_id", f"= {_short(parent['run_id'])}: must be {RUN_ID_DIGITS} hex "
                                                     "digits")
    c.need(parent["run_id"] != d["run_id"], "parent.run_id", "must not be the run's own id")
    c.whole(parent["step"], "parent.step", 0, n_steps + 1)


def _check_grown_prefix(c: _Check, d: dict, N: int) -> None:
    """A grown branch (`parent.n_particles` = n < N): n in [1, N); its first `parent.step` steps are the parent's n
    particles lifted to N rows (`Trace.grown_steps`), so their ESS is at most n and rows i < n descend from rows < n."""
    parent = d["parent"]
    if parent is None or "n_particles" not in parent:
        return
    n = c.whole(parent["n_particles"], "parent.n_particles", 1, N)
    for t, s in enumerate(d["steps"][:parent["step"]]):
        c.need(max(s["ess"]) <= n * (1 + 1e-6), f"steps[{t}].ess", f"must hold values in (0, parent.n_particles = "
               f"{n}]: the steps before the branch are the parent's")
        for p, a in enumerate(s["ancestors"] or ()):
            c.need(max(a[:n]) < n, f"steps[{t}].ancestors[{p}]", f"must keep rows < parent.n_particles = {n} among "
                   "themselves: the steps before the branch are the parent's")


class TraceRecorder:
    """Observer of `sampler.smc.decode`: turns each `StepInfo` into a `StepRecord`."""

    def __init__(self, model, cfg, prompt_ids: list[list[int]], x0, prompt_width: int, parent: dict | None = None,
                 prefix: list[StepRecord] = ()):
        """`parent` and `prefix` for a branch: its origin and the parent's steps up to the branch step."""
        self.model, self.cfg = model, cfg
        self.trace = Trace(model=model.name, config=cfg.to_dict(), prompts=list(cfg.prompts), prompt_ids=prompt_ids,
                           initial=x0.tolist(), prompt_width=prompt_width, mask_id=model.mask_id, vocab={},
                           steps=list(prefix), parent=parent)

    def __call__(self, info) -> None:
        host = info.to_host()  # the step's one device→host transfer, shared with `decode`
        self.trace.steps.append(StepRecord(**{name: host[name] for name in STEP_FIELDS}))

    def finish(self, result) -> Trace:
        t = self.trace
        used = sorted({i for row in t.initial for i in row} | {i for s in t.steps for i in s.tokens}
                      | {i for s in t.steps for i in s.alt_tokens or ()})
        t.vocab = dict(zip(used, self.model.token_strings(used)))
        t.final = {"chosen": result.chosen, "scores": result.scores.tolist(), "texts": result.texts}
        t.stats = {"wall_time_s": result.wall_time_s, "forwards": result.forwards, "n_steps": result.n_steps}
        t.run_id = content_id(t.to_dict())
        return t
