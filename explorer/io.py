"""Trace files in and out: uploads, the shipped examples in `assets/examples/`, downloads.

An example is a folder holding one trace per kind of run (`sr-smc.json`, `greedy.json`,
optionally `best-of-n.json`), all made from the same prompt and seed.
"""
import shutil
import tempfile
import time
from pathlib import Path

from explorer.limits import Limits
from explorer.runs import LABELS, ROLES, Run, role_of
from sampler.trace import Trace, TraceFormatError

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"
DOWNLOADS_DIR = Path(tempfile.gettempdir()) / "sr-smc-downloads"  # write_runs' folders, pruned as it goes
KEEP_DOWNLOADS = 32  # newest download folders kept; Gradio serves its own copy once a handler returns


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


def write_runs(runs: dict[str, Run], root: Path = DOWNLOADS_DIR) -> list[str]:
    """Save every run's trace as `<role>.json` in a fresh folder under `root`; the paths, in role order.

    Folders beyond the newest `KEEP_DOWNLOADS` are removed first, so the disk `root` uses stays
    bounded however many runs a server makes.
    """
    root.mkdir(parents=True, exist_ok=True)
    _prune(root, KEEP_DOWNLOADS - 1)
    folder = Path(tempfile.mkdtemp(prefix=f"{time.time_ns()}-", dir=root))
    return [str(runs[role].trace.save(folder / f"{role}.json")) for role in ROLES if role in runs]


def _prune(root: Path, keep: int) -> None:
    """Remove all but the `keep` newest folders in `root` (names start with their creation time in ns)."""
    folders = sorted((d for d in root.iterdir() if d.is_dir()), key=lambda d: d.name)
    for old in folders[:max(len(folders) - keep, 0)]:
        shutil.rmtree(old, ignore_errors=True)
