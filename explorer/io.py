"""Trace files in and out: uploads, the shipped examples in `assets/examples/`, downloads.

An example is a folder holding one trace per kind of run (`sr-smc.json`, `greedy.json`,
optionally `best-of-n.json`), all made from the same prompt and seed.
"""
import tempfile
from pathlib import Path

from explorer.runs import LABELS, ROLES, Run, role_of
from sampler.trace import Trace, TraceFormatError

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"


def _check_final(trace: Trace) -> None:
    """The explorer also needs the final texts and the chosen particle of every prompt."""
    final, P, N = trace.final, trace.n_prompts, trace.n_particles
    texts, chosen = final.get("texts"), final.get("chosen")
    if not (isinstance(texts, list) and len(texts) == P and all(isinstance(g, list) and len(g) == N for g in texts)):
        raise TraceFormatError("corrupt trace: final.texts must hold N texts per prompt")
    if not (isinstance(chosen, list) and len(chosen) == P and all(isinstance(c, int) and 0 <= c < N for c in chosen)):
        raise TraceFormatError("corrupt trace: final.chosen must hold one particle index per prompt")


def load_runs(paths: list[str | Path]) -> tuple[dict[str, Run], list[str]]:
    """Runs keyed by role (at most one file per role) and notes for the user.

    Raises TraceFormatError naming the file for anything that is not a usable trace.
    """
    runs, notes = {}, []
    for path in paths:
        name = Path(path).name
        try:
            trace = Trace.load(path)
            _check_final(trace)
            role = role_of(trace)
            if role in runs:
                raise TraceFormatError(f"a second {LABELS[role]} trace: load at most one per kind "
                                       f"({', '.join(LABELS[r] for r in ROLES)})")
            run = Run.from_trace(trace)
            run.frame(run.n_steps)  # replay once now, so a corrupt file fails here and not mid-playback
        except TraceFormatError as e:
            raise TraceFormatError(str(e) if str(e).startswith(name) else f"{name}: {e}") from e
        except (KeyError, IndexError, TypeError, ValueError, OSError) as e:
            raise TraceFormatError(f"{name}: corrupt trace ({type(e).__name__}: {e})") from e
        if trace.n_prompts > 1:
            notes.append(f"{name} holds {trace.n_prompts} prompts; showing the first.")
        runs[role] = run
    if not runs:
        raise TraceFormatError("no trace file given")
    return runs, notes


def list_examples() -> list[str]:
    """Names of the shipped example folders."""
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(d.name for d in EXAMPLES_DIR.iterdir() if d.is_dir() and any(d.glob("*.json")))


def load_example(name: str) -> dict[str, Run]:
    """The runs of one shipped example."""
    if name not in list_examples():
        raise TraceFormatError(f"no example named {name!r}; available: {', '.join(list_examples()) or 'none'}")
    return load_runs(sorted((EXAMPLES_DIR / name).glob("*.json")))[0]


def write_runs(runs: dict[str, Run]) -> list[str]:
    """Save every run's trace as `<role>.json` in a fresh temporary folder; the paths, in role order."""
    folder = Path(tempfile.mkdtemp(prefix="sr-smc-traces-"))
    return [str(runs[role].trace.save(folder / f"{role}.json")) for role in ROLES if role in runs]
