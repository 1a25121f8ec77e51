"""Trace files in: uploads and the shipped examples in `assets/examples/`, validated and checked against the limits.

An example is a folder holding one trace per kind of run (`sr-smc.json`, `greedy.json`,
optionally `best-of-n.json`), all made from the same prompt and seed.
"""
from pathlib import Path

from explorer.limits import Limits
from explorer.runs import LABELS, ROLES, Run, role_of
from sampler.trace import Trace, TraceFormatError

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"


def load_runs(paths: list[str | Path], limits: Limits = Limits()) -> tuple[dict[str, Run], list[str]]:
    """Runs keyed by role (at most one file per role) and notes for the user; all files or nothing.

    Every file is read and validated, then their replay cost is checked against `limits`
    together, and only then are the runs built. Raises TraceFormatError naming the file (or,
    over a limit, ValueError with the estimate and the limit) and returns nothing.
    """
    traces, notes = {}, []
    for path in paths:
        name = Path(path).name
        trace = Trace.load(path)
        role = role_of(trace)
        if role in traces:
            raise TraceFormatError(f"{name}: a second {LABELS[role]} trace: load at most one per kind "
                                   f"({', '.join(LABELS[r] for r in ROLES)})")
        if trace.n_prompts > 1:
            notes.append(f"{name} holds {trace.n_prompts} prompts; showing the first.")
        traces[role] = trace
    if not traces:
        raise TraceFormatError("no trace file given")
    limits.check_trace(*traces.values())
    runs = {}
    for role, trace in traces.items():
        run = Run.from_trace(trace)
        run.frame(run.n_steps)  # replay once now: a file that validates but cannot replay fails here, not mid-playback
        runs[role] = run
    return runs, notes


def list_examples() -> list[str]:
    """Names of the shipped example folders."""
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(d.name for d in EXAMPLES_DIR.iterdir() if d.is_dir() and any(d.glob("*.json")))


def load_example(name: str, limits: Limits = Limits()) -> dict[str, Run]:
    """The runs of one shipped example."""
    if name not in list_examples():
        raise TraceFormatError(f"no example named {name!r}; available: {', '.join(list_examples()) or 'none'}")
    return load_runs(sorted((EXAMPLES_DIR / name).glob("*.json")), limits)[0]
