"""Runs → the JSON the browser player gets: the traces themselves plus final-text metrics.

The player replays each trace's events once into typed arrays and then draws any step
by lookup, so the payload is the single-prompt trace dict (already an event stream) and,
for finished runs, the text metrics of the final answer: computed here with the
project's own `sampler.metrics`, once, so the browser never re-implements them.
"""
import math

from explorer.compare import comparison
from explorer.limits import Limits
from explorer.runs import LABELS, ROLES, role_of, single_prompt
from sampler.metrics import text_metrics
from sampler.trace import Trace

PAYLOAD_VERSION = 1
REPEAT_N = 3  # n of the repeated n-grams the canvas and the lens mark


def answer_metrics(texts: list[str], chosen: int) -> dict:
    """Metrics of the chosen text alone and pooled over the *distinct* final texts.

    Pooling N near-copies would count the same n-grams N times, so duplicates are dropped
    and their number reported: `distinct_texts` of `n_texts`.
    """
    distinct = list(dict.fromkeys(texts))
    return {"chosen": _finite(text_metrics([texts[chosen]])), "pooled_distinct": _finite(text_metrics(distinct)),
            "distinct_texts": len(distinct), "n_texts": len(texts)}


def _finite(d: dict) -> dict:
    return {k: (round(v, 4) if math.isfinite(v) else None) for k, v in d.items()}


def what_if(trace: Trace) -> dict:
    """What the hover panel and the compare view read besides the steps: `alternatives` = k recorded per commit
    (0: none, or "not recorded" for a schema 1 file: `alternatives_recorded`); each step's `alt_tokens`,
    `alt_probs` (flat, k per commit, in the order of its `tokens`) and `ranks` come with the trace dict.
    `branch`: None, or the run this one branched from and the step after which it did (the shared prefix)."""
    parent = trace.parent
    return {"run_id": trace.run_id, "alternatives": trace.alternatives_k,
            "alternatives_recorded": "top_k_alternatives" in trace.config,
            "branch": None if parent is None else {"parent": parent["run_id"], "step": parent["step"]}}


def run_payload(trace: Trace, role: str) -> dict:
    """One run for the player: the first prompt's trace dict, its role, label and (if finished) metrics."""
    one = single_prompt(trace, 0)
    d = one.to_dict()
    d.update(role=role, label=LABELS[role], repeat_n=REPEAT_N, what_if=what_if(one))
    final = one.final
    if final.get("texts"):
        d["metrics"] = answer_metrics(list(final["texts"][0]), int(final["chosen"][0]))
    return d


def payload(traces: dict[str, Trace], live: bool = False, notes=(), source: str | None = None,
            limits: Limits = Limits(), compare: list[Trace] = ()) -> dict:
    """Everything the player draws, JSON-able: `{"version", "live", "notes", "runs": {role: run}}`.

    `traces` maps roles ("greedy", "sr-smc", "best-of-n") to traces; `live` marks runs still
    being sampled (steps so far, `final` may be empty). Roles are checked against the traces, and
    what the browser would draw against `limits.check_draw` (ValueError naming the measure over
    its limit): the browser never receives runs it cannot draw.
    `source`: the bundled example's name (its folder under assets/examples) when the runs are
    one, added as `"example"`: the player's links then name it, so opening a link restores the
    data as well as the view. None for runs uploaded or sampled: a link holds only the view.
    `compare`: 2 to 4 runs of one kind to show side by side (`explorer.compare`), added as `"compare"`.
    """
    limits.check_draw({**traces, **{f"compare {i}": t for i, t in enumerate(compare)}})
    notes = list(notes)
    runs = {}
    for role in ROLES:
        if role not in traces:
            continue
        trace = traces[role]
        if role_of(trace) != role:
            raise ValueError(f"the {LABELS[role]} slot holds a {LABELS[role_of(trace)]} trace")
        if trace.n_prompts > 1:
            notes.append(f"the {LABELS[role]} trace holds {trace.n_prompts} prompts; showing the first")
        runs[role] = run_payload(trace, role)
    unknown = set(traces) - set(ROLES)
    if unknown:
        raise ValueError(f"unknown run role(s) {sorted(unknown)}; use {', '.join(ROLES)}")
    out = {"version": PAYLOAD_VERSION, "live": bool(live), "notes": notes, "runs": runs}
    if source:
        out["example"] = str(source)
    if compare:
        out["compare"] = {**comparison(list(compare)), "runs": [run_payload(t, role_of(t)) for t in compare]}
    return out
