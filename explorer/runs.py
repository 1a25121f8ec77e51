"""Kinds of run and one prompt of a trace.

The browser player draws every view from the traces themselves (explorer/payload.py);
the server side only needs to know which kind of run a trace records and to take one
prompt out of a multi-prompt trace.
"""
from sampler.trace import StepRecord, Trace

ROLES = ("sr-smc", "best-of-n", "greedy")
LABELS = {"sr-smc": "SR-SMC", "best-of-n": "best-of-N", "greedy": "greedy"}


def role_of(trace: Trace) -> str:
    """Which kind of run a trace records: best-of-N, greedy (one particle) or SR-SMC."""
    if trace.config.get("method") == "best_of_n":
        return "best-of-n"
    return "greedy" if trace.n_particles == 1 else "sr-smc"


def single_prompt(trace: Trace, prompt: int) -> Trace:
    """The sub-trace of one prompt of a multi-prompt trace, rows renumbered 0..N-1."""
    if trace.n_prompts == 1:
        return trace
    N, lo, k = trace.n_particles, prompt * trace.n_particles, trace.alternatives_k
    steps = []
    for s in trace.steps:
        keep = [i for i, r in enumerate(s.rows) if lo <= r < lo + N]
        per_commit = None if s.alt_tokens is None else [i * k + j for i in keep for j in range(k)]
        steps.append(StepRecord(
            step=s.step, block=s.block, rows=[s.rows[i] - lo for i in keep],
            positions=[s.positions[i] for i in keep], tokens=[s.tokens[i] for i in keep],
            log_conf=[s.log_conf[i] for i in keep], log_increment=s.log_increment[lo:lo + N],
            log_weight=s.log_weight[lo:lo + N], ess=[s.ess[prompt]], resampled=[s.resampled[prompt]],
            ancestors=None if s.ancestors is None else [s.ancestors[prompt]],
            **({} if per_commit is None else {"alt_tokens": [s.alt_tokens[i] for i in per_commit],
                                             "alt_probs": [s.alt_probs[i] for i in per_commit],
                                             "ranks": [s.ranks[i] for i in keep]})))
    final = {k: [v[prompt]] for k, v in trace.final.items()}
    out = Trace(model=trace.model, config={**trace.config, "prompts": [trace.prompts[prompt]]},
                prompts=[trace.prompts[prompt]], prompt_ids=[trace.prompt_ids[prompt]],
                initial=[trace.initial[prompt]], prompt_width=trace.prompt_width, mask_id=trace.mask_id,
                vocab=trace.vocab, steps=steps, final=final, stats=trace.stats, run_id=trace.run_id,
                parent=trace.parent)
    out.validate()
    return out
