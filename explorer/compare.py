"""Compare runs of one kind (κ 0.5 vs 0.8, an original and its branch): which runs, their names, the shared steps.

Two to four runs of the same kind on the same model and prompt may be compared. Each is named by the settings in
which it differs from the others ("τ 0.3, no-repeat 4"); a branch is named by its parent's step as well. The
steps every run recorded alike (same commits, weights and ancestors) are their shared prefix: the compare view
shows it once and starts where the runs part (for a branch, at its branch step).
"""
from explorer.runs import LABELS, role_of
from sampler.trace import Trace

MAX_RUNS = 4
# The short name of a setting in a run's name; others go by their field name.
SHORT = {"temperature": "τ", "reward_weight": "α", "ess_threshold": "κ", "no_repeat_ngram": "no-repeat",
         "repetition_penalty": "rep. penalty", "n_particles": "N", "resampling": "resampling", "seed": "seed"}
OFF = {"no_repeat_ngram": 0, "repetition_penalty": 1.0}  # values that turn a knob off: named "off" ("no-repeat off")
NOT_SETTINGS = {"prompts", "device", "dtype"}  # config fields that do not shape a run's text


def differing(traces: list[Trace]) -> list[str]:
    """The config fields whose values are not the same in every trace, in the first trace's order (a field an older
    trace does not record is not compared: its value there is unknown)."""
    keys = [k for k in traces[0].config if k not in NOT_SETTINGS and all(k in t.config for t in traces)]
    return [k for k in keys if len({repr(t.config[k]) for t in traces}) > 1]


def shared_steps(traces: list[Trace]) -> int:
    """How many leading steps every trace recorded alike (commits, log-weights, resampling, ancestors)."""
    n = min(t.n_steps for t in traces)
    for s in range(n):
        if any(t.steps[s] != traces[0].steps[s] for t in traces[1:]):
            return s
    return n


def run_names(traces: list[Trace]) -> list[str]:
    """A name per run from the settings that differ ("κ 0.5", "no-repeat 4, seed 1"); a branch of another of the
    runs says so ("branch at step 20: no-repeat 4"); runs alike in every setting are numbered."""
    keys = differing(traces)
    ids = {t.run_id: i for i, t in enumerate(traces)}
    names = []
    for i, t in enumerate(traces):
        name = ", ".join(f"{SHORT.get(k, k)} {'off' if k in OFF and t.config[k] == OFF[k] else t.config[k]}"
                         for k in keys) or f"run {i + 1}"
        if t.parent is not None and t.parent["run_id"] in ids:
            name = f"branch at step {t.parent['step']} of run {ids[t.parent['run_id']] + 1}: {name}"
        names.append(name)
    return names


def check_comparable(traces: list[Trace]) -> None:
    """ValueError naming why these runs cannot be compared: their number, kinds, models or prompts."""
    if not 2 <= len(traces) <= MAX_RUNS:
        raise ValueError(f"{len(traces)} run(s): compare 2 to {MAX_RUNS} runs of one kind")
    first = traces[0]
    for i, t in enumerate(traces[1:], start=2):
        if role_of(t) != role_of(first):
            raise ValueError(f"run {i} is a {LABELS[role_of(t)]} run and run 1 a {LABELS[role_of(first)]} run: "
                             "compare runs of one kind")
        if t.model != first.model:
            raise ValueError(f"run {i} was decoded by {t.model!r} and run 1 by {first.model!r}: compare runs of one "
                             "model")
        if t.prompts[:1] != first.prompts[:1]:
            raise ValueError(f"run {i} answers another prompt ({t.prompts[0][:60]!r}) than run 1 "
                             f"({first.prompts[0][:60]!r}): compare runs of one prompt")


def comparison(traces: list[Trace]) -> dict:
    """What the compare view needs besides the runs themselves: `names` [R], `differ` (the settings that differ, by
    their short names: "τ", "no-repeat"), `shared` (steps alike in every run), `start` (the step the view opens at:
    the first branch's step, else the first step that differs) and `branch` (the first run that branched from
    another shown: {run, parent, step})."""
    check_comparable(traces)
    ids = {t.run_id: i for i, t in enumerate(traces)}
    branch = next(({"run": i, "parent": ids[t.parent["run_id"]], "step": t.parent["step"]}
                   for i, t in enumerate(traces) if t.parent is not None and t.parent["run_id"] in ids), None)
    shared = shared_steps(traces)
    return {"names": run_names(traces), "differ": [SHORT.get(k, k) for k in differing(traces)], "shared": shared,
            "start": branch["step"] if branch else shared, "branch": branch}


def to_compare(uploaded: list[Trace], loaded: dict[str, Trace]) -> list[Trace] | None:
    """The runs an upload asks to compare, or None: several files all of one kind (checked: ValueError if they
    cannot be compared), or one file of a kind already loaded, with the same model and prompt but another run."""
    kinds = {role_of(t) for t in uploaded}
    if len(uploaded) >= 2 and len(kinds) == 1:
        check_comparable(uploaded)
        return uploaded
    if len(uploaded) != 1:
        return None
    new, old = uploaded[0], loaded.get(role_of(uploaded[0]))
    if old is None or old.run_id == new.run_id:
        return None
    try:
        check_comparable([old, new])
    except ValueError:  # another prompt or model: the upload replaces the loaded runs
        return None
    return [old, new]


def describe_comparison(traces: list[Trace]) -> str:
    """One plain line naming the runs compared and what differs."""
    c = comparison(traces)
    what = ", ".join(c["differ"]) or "nothing in their settings"
    return (f"Comparing {len(traces)} {LABELS[role_of(traces[0])]} runs ({'; '.join(c['names'])}): they differ in "
            f"{what}; steps 0–{c['shared']} are shared.")
