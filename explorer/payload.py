"""Runs → the JSON the browser player gets: the traces themselves plus final-text metrics.

The player replays each trace's events once into typed arrays and then draws any step
by lookup, so the payload is the single-prompt trace dict (already an event stream) and,
for finished runs, the text metrics of the final answer: computed here with the
project's own `sampler.metrics`, once, so the browser never re-implements them. The steps travel
packed (`pack_steps`): a few base64 typed columns instead of thousands of small JSON lists, which
the page (Gradio's reactive copies of the value, then the player) handles in milliseconds, not seconds.
"""
import base64
import math

import numpy as np

from explorer.compare import comparison
from explorer.limits import Limits
from explorer.runs import LABELS, ROLES, role_of, single_prompt
from sampler.metrics import text_metrics
from sampler.trace import Trace

PAYLOAD_VERSION = 2  # 2: steps packed (`pack_steps`)
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
    `branch`: None, or the run this one branched from, the step after which it did (the shared prefix) and the
    parent's N (`n_particles`: fewer than this run's when the branch grew; the prefix's rows ≥ it are copies)."""
    parent = trace.parent
    return {"run_id": trace.run_id, "alternatives": trace.alternatives_k,
            "alternatives_recorded": "top_k_alternatives" in trace.config,
            "branch": None if parent is None else {"parent": parent["run_id"], "step": parent["step"],
                                                   "n_particles": parent.get("n_particles", trace.n_particles)}}


def pack_steps(steps: list[dict]) -> dict:
    """A trace dict's `steps` [T] as columns: `{"n": T, "scalars": {name: [T]}, "columns": {name: column}}`.

    Each list field of the steps becomes one column, its T lists concatenated: `{"dtype", "data", "offsets"}`
    with `data` the base64 of the little-endian values (int32, uint8 for booleans, float32 where every value
    is a float32 exactly, else float64: packing loses nothing) and `offsets` [T+1] (int32, base64) where step
    t's values start and end. A field holding [P][n] lists (the ancestors) is flattened, with `"width": n`;
    `"none"` (uint8 [T], base64) marks the steps whose field is None, absent when none is. `unpack_steps`
    (here) and `unpackSteps` (player/data.js) invert it.
    """
    names = list(steps[0]) if steps else []
    scalars, columns = {}, {}
    for name in names:
        values = [s[name] for s in steps]
        if all(isinstance(v, int) for v in values):
            scalars[name] = values
            continue
        none = [v is None for v in values]
        width = next((len(v[0]) for v in values if v and isinstance(v[0], list)), None)
        per_step = [[] if v is None else v if width is None else [x for row in v for x in row] for v in values]
        flat_values = [x for v in per_step for x in v]
        offsets = np.cumsum([0] + [len(v) for v in per_step])
        column = {"dtype": _dtype(flat_values), "offsets": _b64(offsets.astype("<i4"))}
        column["data"] = _b64(np.asarray(flat_values, dtype=column["dtype"]))
        if width is not None:
            column["width"] = width
        if any(none):
            column["none"] = _b64(np.asarray(none, dtype=np.uint8))
        columns[name] = column
    return {"n": len(steps), "scalars": scalars, "columns": columns}


def unpack_steps(packed: dict) -> list[dict]:
    """`pack_steps`'s input back: the steps [T] as lists of Python numbers (None where a field was None)."""
    steps = [{name: values[t] for name, values in packed["scalars"].items()} for t in range(packed["n"])]
    for name, column in packed["columns"].items():
        data = np.frombuffer(base64.b64decode(column["data"]), dtype=column["dtype"])
        offsets = np.frombuffer(base64.b64decode(column["offsets"]), dtype="<i4")
        none = np.frombuffer(base64.b64decode(column["none"]), dtype=np.uint8) if "none" in column else None
        for t, step in enumerate(steps):
            values = data[offsets[t]:offsets[t + 1]].tolist()
            if "width" in column:
                values = [values[i:i + column["width"]] for i in range(0, len(values), column["width"])]
            step[name] = None if none is not None and none[t] else values
    return steps


def _dtype(values: list) -> str:
    """The narrowest little-endian dtype that holds every value exactly (see `pack_steps`)."""
    if all(isinstance(v, bool) for v in values):
        return "|b1"
    if all(isinstance(v, int) for v in values):
        return "<i4"
    as32 = np.asarray(values, dtype="<f4")
    return "<f4" if np.array_equal(as32.astype(np.float64), np.asarray(values, dtype=np.float64)) else "<f8"


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(array.tobytes()).decode("ascii")


def run_payload(trace: Trace, role: str) -> dict:
    """One run for the player: the first prompt's trace dict (its steps packed), role, label and (if finished)
    metrics."""
    one = single_prompt(trace, 0)
    d = one.to_dict()
    d["steps"] = pack_steps(d["steps"])
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
