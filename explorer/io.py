"""Trace files in: uploads and the shipped examples in `assets/examples/`, validated and checked against the limits.

An example is a folder holding one trace per kind of run (`sr-smc.json`, `greedy.json`,
optionally `best-of-n.json`), all made from the same prompt and seed.
"""
import re
import time
from pathlib import Path

from explorer.compare import to_compare
from explorer.limits import Limits
from explorer.runs import LABELS, ROLES, role_of
from sampler.trace import Trace, TraceFormatError

EXAMPLES_DIR = Path(__file__).resolve().parents[1] / "assets" / "examples"


def load_runs(paths: list[str | Path], limits: Limits = Limits()) -> tuple[list[Trace], list[str]]:
    """Every file's trace, in order, and notes for the user; all files or nothing.

    Every file is read and validated (`Trace.load`) before the next, then their replay cost
    is checked against `limits` together. Raises TraceFormatError naming the file (or, over
    a limit, ValueError with the estimate, the limit and the flag that raises it).
    """
    if len(paths) > limits.max_upload_files:
        raise TraceFormatError(f"{len(paths)} files: load at most {limits.max_upload_files} at once")
    runs, notes = [], []
    for path in paths:
        trace = Trace.load(path, limits.max_upload_bytes)
        if trace.n_prompts > 1:
            notes.append(f"{Path(path).name} holds {trace.n_prompts} prompts; showing the first.")
        runs.append(trace)
    if not runs:
        raise TraceFormatError("no trace file given")
    limits.check_trace(*runs)
    return runs, notes


def load_traces(paths: list[str | Path], limits: Limits = Limits()) -> tuple[dict[str, Trace], list[str]]:
    """Traces keyed by role (at most one file per role) and notes for the user; all files or nothing
    (see `load_runs`)."""
    runs, notes = load_runs(paths, limits)
    return by_role([Path(p).name for p in paths], runs), notes


def by_role(names: list[str], runs: list[Trace]) -> dict[str, Trace]:
    """Runs keyed by role; TraceFormatError naming the file (`names`, in order) that is a second one of a kind."""
    traces = {}
    for name, trace in zip(names, runs):
        role = role_of(trace)
        if role in traces:
            raise TraceFormatError(f"{name}: a second {LABELS[role]} trace: load at most one per kind "
                                   f"({', '.join(LABELS[r] for r in ROLES)}), or only runs of one kind to compare them")
        traces[role] = trace
    return traces


def list_examples() -> list[str]:
    """Names of the shipped example folders."""
    if not EXAMPLES_DIR.is_dir():
        return []
    return sorted(d.name for d in EXAMPLES_DIR.iterdir() if d.is_dir() and any(d.glob("*.json")))


def load_example(name: str, limits: Limits = Limits()) -> tuple[dict[str, Trace], list[Trace]]:
    """The traces of one shipped example by role, and the runs it compares: a folder of runs all of one kind (an
    original and its branch) is a comparison, shown by its first file; else `[]`."""
    if name not in list_examples():
        raise TraceFormatError(f"no example named {name!r}; available: {', '.join(list_examples()) or 'none'}")
    paths = sorted((EXAMPLES_DIR / name).glob("*.json"))
    runs = load_runs(paths, limits)[0]
    compare = to_compare(runs, {}) or []
    return (by_role([p.name for p in paths], runs) if not compare else {role_of(runs[0]): runs[0]}), compare


class UploadLimit:
    """ASGI middleware: a POST to the upload route may carry at most `max_bytes` in all (Gradio bounds each
    file, not their number). Refused with 413 when the declared length is over; a body that grows past it
    is cut off (the server sees the client leave) and a body of unknown length is refused (411)."""

    def __init__(self, app, max_bytes: int):
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].rstrip("/").endswith("/upload"):
            return await self.app(scope, receive, send)
        length = dict(scope["headers"]).get(b"content-length")
        if length is None:
            return await _refuse(send, 411, "an upload must state its length")
        if not length.isdigit() or int(length) > self.max_bytes:
            return await _refuse(send, 413, f"an upload request may carry at most {self.max_bytes:,} bytes")
        seen = 0

        async def bounded():
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_bytes:
                    return {"type": "http.disconnect"}
            return message
        return await self.app(scope, bounded, send)


async def _refuse(send, status: int, text: str) -> None:
    body = text.encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"text/plain; charset=utf-8"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


GRADIO_FOLDER = re.compile(r"[0-9a-f]{40,64}|sr-smc-[0-9a-f]{32}")  # upload (hash) and download folders


def sweep_cache(cache: Path, max_age_s: float) -> None:
    """Remove what Gradio's own cache cleaning leaves in `cache`: folders of uploads and downloads emptied (or,
    for ours, older than `max_age_s`), and empty `tmp*` files older than `max_age_s` at the top."""
    now = time.time()
    for entry in cache.iterdir():
        try:
            info = entry.lstat()
            if now - info.st_mtime <= max_age_s:
                continue
            if entry.is_dir() and not entry.is_symlink() and GRADIO_FOLDER.fullmatch(entry.name):
                if entry.name.startswith("sr-smc-"):
                    for f in entry.iterdir():
                        f.unlink()
                entry.rmdir()  # OSError when an upload folder still holds files: they are Gradio's to remove
            elif entry.name.startswith("tmp") and entry.is_file() and not entry.is_symlink() and info.st_size == 0:
                entry.unlink()
        except OSError:  # removed or filled by a concurrent request
            continue


def no_upload_temp_files(button) -> None:
    """Gradio's UploadButton (type "filepath") opens an empty named temporary file in its cache for every file
    it hands on and never closes or removes it; hand on the uploaded path alone."""
    from gradio import Error
    from gradio.utils import NamedString
    from gradio_client import utils as client_utils

    original = button._process_single_file

    def process(f):
        if button.type != "filepath":
            return original(f)
        if button.file_types and not client_utils.is_valid_file(f.path, button.file_types):
            raise Error(f"Invalid file type: upload one of {', '.join(button.file_types)}")
        return NamedString(f.path)
    button._process_single_file = process
