"""SR-SMC Explorer: `python app.py` serves the page on the embedded default model, offline.

    python app.py [--host 127.0.0.1] [--port 7860] [--model austen-mdlm] [--max-concurrent-runs 1] [--threads 1]

This is the one place that runs the sampler. `Sampler` checks a run-panel request
(`explorer.request.RunRequest`) against the app's limits and the model, then decodes
greedy, SR-SMC and optionally best-of-N (same prompt and seed) in a worker thread: a
`SamplingJob` whose `updates()` the page streams while it runs and whose `cancel()` stops
the decode within one step. `explorer/` only replays the traces. On a Hugging Face Space
with ZeroGPU, `decode_all` is wrapped by `spaces.GPU`; without the `spaces` package that
wrapper is a no-op.
"""
import argparse
import collections
import dataclasses
import json
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import gradio as gr
import torch

from explorer.limits import Limits
from explorer.payload import payload
from explorer.request import RunRequest
from explorer.runs import LABELS, role_of
from explorer.ui import build_ui, launch_kwargs, user_errors
from sampler.branch import BranchStart, branch_config
from sampler.config import SamplerConfig
from sampler.denoiser import Denoiser
from sampler.models import DEFAULT_MODEL, load_model
from sampler.models.hf_registry import ModelLoadError
from sampler.smc import StepInfo, decode
from sampler.trace import MAX_FILE_BYTES, Trace, TraceFormatError

try:
    import spaces

    gpu = spaces.GPU
except ImportError:
    def gpu(fn):
        return fn

DEVICE = "cuda" if torch.cuda.is_available() else "cpu"
SAFE_INT = 2**53 - 1  # limits reach the page's config as JavaScript numbers: exact up to here
MAX_PARTICLES_FLAG = 100_000  # the largest --max-particles (a slider's range in the page)
MAX_GEN_LENGTH_FLAG = 1_000_000


# A stream nobody reads for this long stops its decode. Gradio closes a cancelled handler's generator only
# when it is registered as iterating, and closes the handler's own generator only through garbage
# collection, so an API client's cancel (or a closed tab) could leave the decode running to its end.
ORPHAN_S = 5.0


class Cancelled(Exception):
    """The run was stopped (Stop pressed, the tab closed) before it finished."""


def planned_work(cfg: SamplerConfig) -> int:
    """Rows × planned steps: the sequence forwards one run will do at most."""
    return len(cfg.prompts) * cfg.n_particles * cfg.planned_steps


@gpu
def decode_all(model: Denoiser, cfgs: dict[str, SamplerConfig], progress,
               on_step: Callable[[str, StepInfo], None] | None = None,
               on_trace: Callable[[str, Trace], None] | None = None) -> dict[str, Trace]:
    """Decode every config in turn; traces by role.

    `progress((done, total), desc=...)` counts rows × steps over all runs; `on_step(role, info)`
    sees every step first and may raise (e.g. `Cancelled`) to stop the decode there; `on_trace(role,
    trace)` gets each run's trace as its recording starts (it grows step by step).
    """
    total, done, traces = sum(planned_work(c) for c in cfgs.values()), 0, {}
    for role, cfg in cfgs.items():
        rows = len(cfg.prompts) * cfg.n_particles

        def observe(info, done=done, role=role, rows=rows):
            if on_step is not None:
                on_step(role, info)
            progress((done + rows * info.step, total), desc=f"{LABELS[role]}: step {info.step}")
        live = (lambda trace, role=role: on_trace(role, trace)) if on_trace else None
        traces[role] = decode(model, cfg, observers=(observe,), on_trace=live).trace
        done += planned_work(cfg)
    return traces


@dataclass
class Snapshot:
    """Where a sampling job stands: rows × steps done of the total, and the runs so far by role
    (finished runs complete; the running one partial, `final == {}`)."""

    done: int
    total: int
    desc: str
    traces: dict[str, Trace]
    finished: bool


class SamplingJob:
    """One Run press decoding in a daemon thread; the page polls `snapshot()` and calls `cancel()`
    when the client stops or leaves (the decode then raises `Cancelled` at its next step).

    `on_done(seconds)` is called with the decode's wall time when it finishes (not when cancelled). A
    cancelled decode logs one line, `run cancelled: {json}`: when the stop was asked and when the decode
    thread ended (epoch seconds), the steps decoded after the request and the end times of the last steps,
    so a script (tools/stop_trials.py) can count the steps decoded after its own press.
    """

    def __init__(self, model: Denoiser, cfgs: dict[str, SamplerConfig],
                 on_done: Callable[[float], None] | None = None):
        self.model, self.cfgs, self.on_done = model, cfgs, on_done
        self.cancelled = threading.Event()
        self.cancel_asked: float | None = None  # time.time() of the first cancel() while decoding
        self.step_ends: collections.deque[float] = collections.deque(maxlen=64)  # time.time() after each step
        self._unread_since: float | None = None  # since when a snapshot of `updates()` waits for its reader
        self.done, self.total, self.desc = 0, sum(planned_work(c) for c in cfgs.values()), "starting"
        self.live: dict[str, Trace] = {}  # each run's trace as decode records it
        self.vocab: dict[int, str] = {}
        self.traces: dict[str, Trace] | None = None
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._work, name="sr-smc-decode", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        start = time.monotonic()
        try:
            self.traces = decode_all(self.model, self.cfgs, self._progress, on_step=self._on_step,
                                     on_trace=self.live.__setitem__)
        except BaseException as e:  # handed to the consumer by result()
            self.error = e
            if isinstance(e, Cancelled):
                idle, asked = time.time(), self.cancel_asked or time.time()
                ends = [round(t, 3) for t in self.step_ends]
                print("run cancelled: " + json.dumps(dict(
                    done=self.done, total=self.total, asked=round(asked, 3), idle=round(idle, 3),
                    steps_after=sum(t > asked for t in ends), step_ends=ends)), flush=True)
            return
        if self.on_done is not None:
            self.on_done(time.monotonic() - start)

    def _progress(self, fraction, desc: str = "") -> None:
        self.done, self.desc = fraction[0], desc

    def _on_step(self, role: str, info: StepInfo) -> None:
        self.step_ends.append(time.time())  # a step has just been decoded
        waiting = self._unread_since
        if waiting is not None and time.monotonic() - waiting > ORPHAN_S:
            self.cancel()  # the stream's reader went away without closing it (see ORPHAN_S)
        if self.cancelled.is_set():
            raise Cancelled("the run was stopped")

    def cancel(self) -> None:
        """Ask the decode to stop at its next step (idempotent; nothing happens once it has ended)."""
        if self.cancel_asked is None and self._thread.is_alive():
            self.cancel_asked = time.time()
        self.cancelled.set()

    def wait(self, timeout: float | None = None) -> bool:
        """Wait up to `timeout` s for the decode to end; whether it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def snapshot(self) -> Snapshot:
        """The runs so far: partial traces (steps so far, vocabulary of the tokens used) while running."""
        if self.traces is not None:
            return Snapshot(self.total, self.total, "done", dict(self.traces), True)
        traces = {}
        for role, trace in list(self.live.items()):
            steps = list(trace.steps)
            used = {i for row in trace.initial for i in row} | {i for s in steps for i in s.tokens}
            new = sorted(used - self.vocab.keys())
            self.vocab.update(zip(new, self.model.token_strings(new)))
            traces[role] = dataclasses.replace(trace, steps=steps, vocab={i: self.vocab[i] for i in sorted(used)},
                                               final={}, stats={})
        return Snapshot(self.done, self.total, self.desc, traces, False)

    def updates(self, interval: float = 0.3) -> Iterator[Snapshot]:
        """A snapshot at once, then at most one every `interval` s while the decode runs, then the finished one.

        Raises the decode's error (`Cancelled` after `cancel()`); the caller cancels on exit.
        """
        for snap in self._stream(interval):
            self._unread_since = time.monotonic()
            try:
                yield snap
            finally:
                self._unread_since = None

    def _stream(self, interval: float) -> Iterator[Snapshot]:
        yield self.snapshot()
        while not self.wait(interval):
            yield self.snapshot()
        if self.error is not None:
            raise self.error
        yield self.snapshot()

    def result(self) -> dict[str, Trace]:
        """The traces by role once finished (blocks); raises the decode's error."""
        self.wait()
        if self.error is not None:
            raise self.error
        return dict(self.traces)


@dataclass(frozen=True)
class Rate:
    """Cell-steps per second of wall time one model decoded here, and what it was measured on."""

    per_second: float
    source: str


class Sampler:
    """The app's sampling function: run-panel settings → a `SamplingJob`, on models loaded at start.

    `rates[model]` is the decode speed measured on this machine: by `calibrate()` (at the app's start)
    and then by every Run that finishes.
    """

    def __init__(self, models: dict[str, Denoiser], limits: Limits):
        self.models, self.limits = models, limits
        self.rates: dict[str, Rate] = {}

    def estimate(self, settings: dict, check_limits: bool = False) -> tuple[RunRequest, int]:
        """The checked request and its prompt's length in tokens; ValueError naming a setting the model (or,
        with `check_limits`, the app's limits) cannot take. The page's cost line reports the limits itself."""
        request = RunRequest.from_settings(settings)
        if request.model not in self.models:
            raise ValueError(f"model {request.model!r} is not offered by this app; choose one of "
                             f"{', '.join(self.models)}")
        model = self.models[request.model]
        cfg = request.configs(DEVICE)["sr-smc"]
        prompt_length = len(model.encode(request.prompt, chat=cfg.chat_template))
        if check_limits:
            self.limits.check_request(request, prompt_length)
        cfg.check_model(model.max_length, [prompt_length], model.required_block_length)
        return request, prompt_length

    def start(self, settings: dict) -> SamplingJob:
        """Check the settings, the limits and the model (ValueError naming the problem), then start decoding."""
        request, prompt_length = self.estimate(settings, check_limits=True)
        cost = self.limits.request_cost(request, prompt_length)

        def measured(seconds: float, name=request.model) -> None:
            if seconds > 0:
                self.rates[name] = Rate(cost / seconds, f"the last Run on this server: {cost:,} cell-steps in "
                                                        f"{seconds:.1f} s")
        return SamplingJob(self.models[request.model], request.configs(DEVICE), on_done=measured)

    def calibrate(self, settings: dict | None = None) -> None:
        """Time one small Run per model (N = 4, 32 tokens, 16 steps) so the page can say how long a Run takes."""
        for name in self.models:
            small = dict(prompt="It is a truth universally acknowledged", model=name, n_particles=4, gen_length=32,
                         steps=16, block_length=32, **(settings or {}))
            try:
                self.start(small).result()
            except ValueError as e:
                print(f"warning: could not time model {name!r} ({e}); the page gives no time estimate for it")
                continue
            rate = self.rates[name]
            self.rates[name] = Rate(rate.per_second, rate.source.replace("the last Run on this server",
                                                                         "a test Run at start"))

    def branch(self, trace: Trace, step: int, changes: dict) -> Trace:
        """The page's "branch here": `trace` (loaded, so already checked) continued after `step` with `changes`."""
        return branch_trace(self.models, self.limits, trace, step, changes)

    def __call__(self, settings: dict) -> dict[str, Trace]:
        """Decode to the end (for scripts such as tools/make_examples.py): traces by role."""
        return self.start(settings).result()


BRANCH_MAX_BYTES = 20 * 2**20  # a trace sent to /branch: the page's upload limit


def branch_run(models: dict[str, Denoiser], limits: Limits, trace_json: str, step: int, changes: dict) -> Trace:
    """`/branch`: the trace `trace_json` (its JSON text) continued after step `step` with the settings `changes`
    (`sampler.branch`), on this app's model and within its limits. ValueError / TraceFormatError name the problem
    before any decoding."""
    if not isinstance(trace_json, str) or len(trace_json.encode("utf-8", "replace")) > min(BRANCH_MAX_BYTES,
                                                                                             MAX_FILE_BYTES):
        raise ValueError(f"the trace must be JSON text of at most {BRANCH_MAX_BYTES:,} bytes")
    try:
        d = json.loads(trace_json)
    except (ValueError, RecursionError) as e:
        raise TraceFormatError(f"the trace is not JSON: {e}") from None
    trace = Trace.from_dict(d, "trace")
    limits.check_trace(trace)
    return branch_trace(models, limits, trace, step, changes)


def branch_trace(models: dict[str, Denoiser], limits: Limits, trace: Trace, step: int, changes: dict) -> Trace:
    """A validated `trace` continued after step `step` with the settings `changes` (`sampler.branch`), on this
    app's model and within its limits; ValueError naming the problem before any decoding."""
    if trace.model not in models:
        raise ValueError(f"the run was decoded by {trace.model!r}, which this app does not offer "
                         f"({', '.join(models) or 'no model'})")
    if not isinstance(changes, dict):
        raise ValueError("settings must be an object of SamplerConfig fields, e.g. {\"temperature\": 0.5}")
    start = BranchStart.at(trace, step)
    try:
        cfg = branch_config(trace, **{**changes, "device": DEVICE})
    except TypeError as e:  # an unknown setting or a value of the wrong type
        raise ValueError(f"settings {sorted(changes)}: {e}") from None
    limits.check_branch(trace, cfg, step)
    return decode(models[trace.model], cfg, start=start).trace


def add_branch_api(demo, models: dict[str, Denoiser], limits: Limits) -> None:
    """The named endpoint `/branch(trace, step, settings) -> {"trace": the branch's trace dict, "view": the player's
    payload of it}` (API only, queued with the sampling jobs)."""
    def branch(trace: str, step: int, settings: dict) -> dict:
        """Branch a recorded run: `trace` is its JSON text, `step` the step after which the branch starts, `settings`
        the SamplerConfig fields to change (e.g. {"temperature": 0.5, "no_repeat_ngram": 4}); the rest as recorded."""
        result = branch_run(models, limits, trace, int(step), settings or {})
        return {"trace": result.to_dict(), "view": payload({role_of(result): result})}

    with demo:
        gr.api(user_errors(branch), api_name="branch", concurrency_id="sampling")


def load_models(names: list[str]) -> dict[str, Denoiser]:
    """The models that load; a warning for each that does not."""
    models = {}
    for name in names:
        try:
            models[name] = load_model(name, DEVICE)
        except (FileNotFoundError, OSError, ValueError, ImportError, ModelLoadError) as e:
            print(f"warning: model {name!r} is unavailable ({e}); the app can still replay traces")
    return models


def main(argv: list[str] | None = None) -> None:
    """Parse the command line (a mistake: one line on stderr, exit code 2), load the models, serve the page."""
    def whole(lo: int, hi: int | None = None):
        def parse(text: str) -> int:
            try:
                value = int(text) if len(text) <= 32 else None
            except ValueError:
                value = None
            if value is None or value < lo or (hi is not None and value > hi):
                allowed = f"in [{lo}, {hi}]" if hi is not None else f"≥ {lo}"
                raise argparse.ArgumentTypeError(f"{text!r}: must be a whole number {allowed}")
            return value
        return parse

    defaults = Limits()
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.error = lambda message: ap.exit(2, f"{ap.prog}: error: {message}\n")  # one line, no usage block
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                    help="address to serve on (0.0.0.0 to accept other machines)")
    ap.add_argument("--port", type=whole(1, 65535), default=os.environ.get("GRADIO_SERVER_PORT", "7860"))
    ap.add_argument("--model", action="append", help=f"model to offer (repeatable; default {DEFAULT_MODEL}): "
                                                     "'austen-mdlm', a hub id or a local folder")
    ap.add_argument("--max-concurrent-runs", type=whole(1, 64), default=1, help="sampling jobs run at once")
    ap.add_argument("--threads", type=whole(0, 1024), default=1,
                    help="torch CPU threads (default 1: leaves a core to playback; 0 = torch's default)")
    ap.add_argument("--max-cost", type=whole(1, SAFE_INT), default=defaults.max_cost,
                    help="largest Run in cell-steps (rows × steps × sequence length, all its runs); the default "
                         "takes ≤ 60 s on a 2-core CPU: raise it on a GPU")
    ap.add_argument("--max-trace-cost", type=whole(1, SAFE_INT), default=defaults.max_trace_cost,
                    help="largest replay of loaded traces, in the same cell-steps")
    ap.add_argument("--max-particles", type=whole(2, MAX_PARTICLES_FLAG), default=defaults.max_particles,
                    help="largest N offered")
    ap.add_argument("--max-gen-length", type=whole(1, MAX_GEN_LENGTH_FLAG), default=defaults.max_gen_length,
                    help="longest generation offered")
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    limits = Limits(max_cost=args.max_cost, max_trace_cost=args.max_trace_cost, max_particles=args.max_particles,
                    max_gen_length=args.max_gen_length)
    models = load_models(args.model or [DEFAULT_MODEL])
    sampler = Sampler(models, limits) if models else None
    if sampler:
        sampler.calibrate()
    demo = build_ui(sampler, list(models), limits, args.max_concurrent_runs)
    add_branch_api(demo, models, limits)
    try:
        demo.queue(max_size=64).launch(server_name=args.host, server_port=args.port, **launch_kwargs())
    except OSError as e:
        ap.exit(2, f"{ap.prog}: error: cannot serve on {args.host}:{args.port} ({e})\n")


if __name__ == "__main__":
    main()
