"""A loaded run: one trace plus the per-step arrays every view needs, derived once.

`Run.from_trace` replays only the cheap per-step records (weights, ancestors); the
token state of a step comes from `Run.frame(t)`, which calls `Trace.state_at` once per
cursor move so every view of that step shares it.
"""
from dataclasses import dataclass, field

import numpy as np

from sampler.metrics import repeated_positions
from sampler.trace import ParticlesAt, StepRecord, Trace

ROLES = ("sr-smc", "best-of-n", "greedy")
LABELS = {"sr-smc": "SR-SMC", "best-of-n": "best-of-N", "greedy": "greedy"}
REPEAT_N = 3  # n of the repeated n-grams the canvas highlights


def role_of(trace: Trace) -> str:
    """Which kind of run a trace records: best-of-N, greedy (one particle) or SR-SMC."""
    if trace.config.get("method") == "best_of_n":
        return "best-of-n"
    return "greedy" if trace.n_particles == 1 else "sr-smc"


def normalise(log_w: np.ndarray) -> np.ndarray:
    """Softmax over the last axis: normalised weights w̄ from log-weights."""
    z = np.exp(log_w - log_w.max(axis=-1, keepdims=True))
    return z / z.sum(axis=-1, keepdims=True)


def single_prompt(trace: Trace, prompt: int) -> Trace:
    """The sub-trace of one prompt of a multi-prompt trace, rows renumbered 0..N-1."""
    if trace.n_prompts == 1:
        return trace
    N, lo = trace.n_particles, prompt * trace.n_particles
    steps = []
    for s in trace.steps:
        keep = [i for i, r in enumerate(s.rows) if lo <= r < lo + N]
        steps.append(StepRecord(
            step=s.step, block=s.block, rows=[s.rows[i] - lo for i in keep],
            positions=[s.positions[i] for i in keep], tokens=[s.tokens[i] for i in keep],
            log_conf=[s.log_conf[i] for i in keep], log_increment=s.log_increment[lo:lo + N],
            log_weight=s.log_weight[lo:lo + N], ess=[s.ess[prompt]], resampled=[s.resampled[prompt]],
            ancestors=None if s.ancestors is None else [s.ancestors[prompt]]))
    final = {k: [v[prompt]] for k, v in trace.final.items()}
    out = Trace(model=trace.model, config={**trace.config, "prompts": [trace.prompts[prompt]]},
                prompts=[trace.prompts[prompt]], prompt_ids=[trace.prompt_ids[prompt]],
                initial=[trace.initial[prompt]], prompt_width=trace.prompt_width, mask_id=trace.mask_id,
                vocab=trace.vocab, steps=steps, final=final, stats=trace.stats)
    out.validate()
    return out


@dataclass
class Frame:
    """One run at step t, after that step's self-reward and before its resampling.

    That is the population the step's weights and ESS describe, so the canvas, the weight
    bars and the tree's nodes at step t all show the same particles.
    """

    run: "Run"
    t: int
    state: ParticlesAt  # arrays [N, L]; state.roots [N], state.log_weight [N]
    repeated: np.ndarray = field(init=False)  # [N, G] bool: inside a repeated n-gram (generated part)

    def __post_init__(self):
        gen = self.generated_tokens()
        words = [[None if m else w for w, m in zip(row, masked)]
                 for row, masked in zip(self.token_text(gen), self.state.masked[:, self.run.gen])]
        self.repeated = np.array([repeated_positions(w, REPEAT_N) for w in words], dtype=bool).reshape(gen.shape)

    def generated_tokens(self) -> np.ndarray:
        """Token ids `[N, G]` of the generated positions."""
        return self.state.tokens[:, self.run.gen]

    def token_text(self, ids: np.ndarray) -> list[list[str]]:
        """Display strings of token ids `[N, G]`."""
        return [self.run.trace.text(row) for row in ids.tolist()]

    @property
    def weights(self) -> np.ndarray:
        """Normalised weights `[N]`."""
        return normalise(self.state.log_weight)

    @property
    def increment(self) -> np.ndarray:
        """Log-weight increment `[N]` of step t (0 at step 0)."""
        return self.run.increment[self.t]


@dataclass
class Run:
    """A single-prompt trace and its per-step arrays, index t = 0..T (0 = initial state).

    Node (t, k) is row k after step t's self-reward and before step t's resampling. It
    descends from node (t-1, parents[t-1][k]): the resampling after step t-1 picked it.
    """

    role: str
    trace: Trace
    parents: np.ndarray  # [T+1, N] ancestor row drawn by step t's resampling (identity if none)
    roots: np.ndarray  # [T+1, N] initial particle node (t, k) descends from
    log_w: np.ndarray  # [T+1, N] log-weight of node (t, k)
    increment: np.ndarray  # [T+1, N] log-weight increment of step t
    ess: np.ndarray  # [T+1] ESS of step t's nodes (N at step 0)
    resampled: np.ndarray  # [T+1] bool: step t resampled

    @classmethod
    def from_trace(cls, trace: Trace, prompt: int = 0) -> "Run":
        trace = single_prompt(trace, prompt)
        T, N = trace.n_steps, trace.n_particles
        parents = np.stack([trace.parents(t) for t in range(T + 1)])
        roots = np.empty((T + 1, N), dtype=int)
        roots[0] = np.arange(N)
        for t in range(1, T + 1):
            roots[t] = roots[t - 1][parents[t - 1]]
        zeros = np.zeros((1, N))
        log_w = np.concatenate([zeros, [s.log_weight for s in trace.steps]]) if T else zeros
        increment = np.concatenate([zeros, [s.log_increment for s in trace.steps]]) if T else zeros
        resampled = np.array([False] + [bool(s.resampled[0]) for s in trace.steps])
        ess = np.array([float(N)] + [s.ess[0] for s in trace.steps])
        return cls(role_of(trace), trace, parents, roots, log_w, increment, ess, resampled)

    @property
    def label(self) -> str:
        return LABELS[self.role]

    @property
    def key(self) -> str:
        """Identifies this run among those loaded in a session (keeps plot zoom while it stays)."""
        return f"{self.role}-{id(self.trace)}"

    @property
    def n_steps(self) -> int:
        return self.trace.n_steps

    @property
    def n_particles(self) -> int:
        return self.trace.n_particles

    @property
    def gen(self) -> slice:
        """The generated positions of a sequence."""
        return slice(self.trace.prompt_width, self.trace.length)

    @property
    def kappa(self) -> float:
        return float(self.trace.config.get("ess_threshold", 0.5))

    @property
    def chosen(self) -> int:
        """The particle the sampler picked as its answer."""
        return int(self.trace.final.get("chosen", [0])[0])

    def ancestry(self, row: int) -> np.ndarray:
        """Rows `[T+1]` of the nodes final particle `row` descends from, at steps 0..T."""
        path = [int(row)]
        for t in range(self.n_steps, 0, -1):
            path.append(int(self.parents[t - 1][path[-1]]))
        return np.array(path[::-1])

    def frame(self, t: int) -> Frame:
        """The run at step t (clamped to [0, T]), before step t's resampling."""
        t = min(max(int(t), 0), self.n_steps)
        return Frame(self, t, self.trace.state_at(t, before_resample=True))
