"""Trace files in: uploads and the shipped examples in `assets/examples/`, validated and checked against the limits.

An example is a folder holding one trace per kind of run (`sr-smc.json`, `greedy.json`,
optionally `best-of-n.json`), all made from the same prompt and seed.
"""
from pathlib import Path

from explorer.limits import Limits
from explorer.runs import LABELS, ROLES, role_of
from sampler.trace import Trace, TraceFormatError

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"


def load_traces(paths: list[str | Path], limits: Limits = Limits()) -> tuple[dict[str, Trace], list[str]]:
    """Traces keyed by role (at most one file per role) and notes for the user; all files or nothing.

    Every file is read and validated (`Trace.load`) before the next, then their replay cost
    is checked against `limits` together. Raises TraceFormatError naming the file (or, over
    a limit, ValueError with the estimate, the limit and the flag that raises it).
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
    return traces, notes


def list_examples() -> list[str]:
    """Names of the shipped example folders."""
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(d.name for d in EXAMPLES_DIR.iterdir() if d.is_dir() and any(d.glob("*.json")))


def load_example(name: str, limits: Limits = Limits()) -> dict[str, Trace]:
    """The traces of one shipped example, by role."""
    if name not in list_examples():
        raise TraceFormatError(f"no example named {name!r}; available: {', '.join(list_examples()) or 'none'}")
    return load_traces(sorted((EXAMPLES_DIR / name).glob("*.json")), limits)[0]
