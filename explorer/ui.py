"""The Gradio page: the run panel (built from `explorer.settings`' table) beside the browser-side player.

The server is involved only when runs arrive — sampled (streamed step by step while the
decode runs), loaded from an example or uploaded; every step change, Play and the views
happen in the browser (`explorer.player`). `build_ui(sampler, ...)` gets app.py's
`Sampler` (the only thing that runs a model). Loaded runs live in a `gr.State` as
`{role: Trace}` and are replaced only when a request succeeds, so a failed or stopped request
leaves the earlier runs, and the settings, in place. While a Run streams, its own handler is
the only one that writes the page; Stop only asks `Sessions` to stop that page's Run, which
then ends the stream with the earlier runs back. Download files are written into Gradio's own
cache folder, which `delete_cache` empties on a schedule.
"""
import functools
import html
import inspect
import json
import re
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from explorer import io
from explorer.compare import describe_comparison, to_compare
from explorer.limits import Limits
from explorer.payload import payload
from explorer.player import export_html, player
from explorer.request import RunRequest, strict_numbers
from explorer.runs import LABELS, ROLES, role_of
from explorer.settings import ESSENTIALS, GROUPS, Setting, table
from sampler.config import SWITCH
from sampler.trace import Trace, TraceFormatError

LIMITS = Limits()
STREAM_INTERVAL_S = 0.3  # at most one progress update of a streaming run per this many seconds
LIVE_MS_PER_KB = 10  # and a live payload of K KB at most every K × this ms: the browser redraws all of it
DELETE_CACHE = (60, 900)  # every minute, Gradio removes uploads older than 15 minutes; downloads too

PANEL_PX = 360  # the run panel's width beside the player on a desktop
DESKTOP_PX = 1024  # from this width up the panel sits beside the player; below it, under the player
CSS = f"""
/* Gradio's container clips with overflow: hidden, which makes it a scroll container and stops the player's
   sticky transport from sticking to the page; clip also cuts overflow but scrolls nothing */
.gradio-container {{overflow: clip visible !important;}}
#sx-header h1 {{margin: 0; font-size: 1.4em; display: inline;}}
#sx-header p {{margin: 0; display: inline;}}
/* Gradio's columns wrap (flex-wrap: wrap): a column with a bounded height flows its overflow into extra
   columns to its right, which sat under the player. The panel never wraps and scrolls in its own box. */
#sx-main {{flex-wrap: nowrap; align-items: flex-start; gap: 16px;}}
#sx-panel {{flex: 0 0 {PANEL_PX}px !important; width: {PANEL_PX}px; min-width: 0 !important; flex-wrap: nowrap;
  position: sticky; top: 0; max-height: 100vh; overflow-y: auto; overscroll-behavior: contain;
  z-index: 5; gap: 8px;}}
#sx-panel > * {{flex-shrink: 0;}}
#sx-view {{flex: 1 1 0 !important; min-width: 0 !important;}}
/* a row of the panel (Gradio wraps its fields in a .form that wraps at 160 px each): side by side */
#sx-panel .sx-row, #sx-panel .sx-row > .form {{flex-wrap: nowrap !important; min-width: 0 !important;}}
#sx-panel .sx-row .block {{min-width: 0 !important; flex: 1 1 0 !important;}}
#sx-cost, #sx-status {{font-size: 0.85em; min-height: 0;}}
#sx-cost p, #sx-status p {{margin: 0;}}
/* help under each setting: darker than Gradio's default grey (1.9:1), readable at 4.5:1 */
.gradio-container .info-text {{color: #4b5563; line-height: 1.25;}}
.dark .gradio-container .info-text {{color: #c4c8cf;}}
#sx-panel .min_value, #sx-panel .max_value {{color: #4b5563;}}
footer, footer * {{color: #374151 !important;}}
/* Run: Gradio's orange under white text is 2.8:1; this orange is 5.2:1 */
#sx-run {{background: #c2410c !important; border-color: #c2410c !important; color: #fff !important;}}
#sx-run:hover {{background: #9a3412 !important;}}
.sx-hidden {{display: none !important;}}  /* the player's "branch here" reaches the server through these */
@media (max-width: {DESKTOP_PX - 1}px) {{
  /* phone and tablet: the answer and the player first, then the settings */
  #sx-main {{flex-direction: column; flex-wrap: nowrap;}}
  #sx-view {{order: 1; width: 100%; flex: none !important;}}
  #sx-panel {{order: 2; position: static; width: 100%; max-height: none; overflow: visible;
    flex: none !important;}}
}}
"""

TEACHING = """
**Masked diffusion decoding** starts from a row of masks and, step by step, commits some
positions to tokens. A token's **confidence** is the probability the model gave to the token it drew.

**SR-SMC** runs *N* copies (**particles**) at once. At every step a particle's log-weight changes by
the log-confidence of the tokens it just committed (the *self-reward* **Δ**). Δ is a log-probability,
so it is always ≤ 0: every particle loses weight, confident particles *lose less*, and so gain weight
*relative* to the others.

**ESS** (effective sample size, 1/Σw̄²) counts how many particles really matter: N when all weights
are equal, 1 when one particle holds all of it. When ESS falls under κ·N the sampler **resamples**:
it draws N new particles in proportion to the weights, so heavy particles are copied and light ones
vanish, and the weights reset. The last step never resamples: the final pick needs the weights.

**★** is the answer: the final particle with the best *final score* — by default its total
log-confidence (`sum_logp`), not its weight — so the heaviest particle is not always ★.
**Greedy** decoding is the same loop with one particle: greedy in *which positions* it commits (the
most confident first); at τ > 0 it still samples the tokens. **best-of-N** runs N particles that never
resample and picks by the same score. With τ = 0 every particle is identical and SMC cannot help.
"""

def markdown_text(value) -> str:
    """`value` as literal text inside one Markdown line: whitespace (newlines included) collapsed to one space,
    control characters dropped, HTML escaped, and every other ASCII punctuation mark backslash-escaped, so no
    heading, rule, list, link, autolink (`https://`, `www.`, mail addresses), emphasis, table or HTML can come
    out of it (the entities' own `&` and `;` stay)."""
    text = " ".join(re.sub(r"[\x00-\x08\x0e-\x1f\x7f]", "", str(value)).split())
    return re.sub(r"([!-%'-/:<-@\[-`{-~])", r"\\\1", html.escape(text, quote=False))


def chat_note(chat_template) -> str:
    """Which prompt template a run used (older traces may not say)."""
    return {True: ", prompt in the model's chat template", False: ", plain prompt (no chat template)"}.get(
        chat_template, "")


def run_summary(trace: Trace) -> str:
    """One run's model and the settings that shape it, as plain text."""
    c = trace.config
    resampling = (f", resample {c.get('resampling')} when ESS < {c.get('ess_threshold')}·N ({c.get('resample_when')})"
                  if role_of(trace) == "sr-smc" else "")
    return (f"on {trace.model}: N = {trace.n_particles}, τ = {c.get('temperature')}, {c.get('gen_length')} tokens "
            f"in {trace.n_steps} steps, seed {c.get('seed')}{resampling}{chat_note(c.get('chat_template'))}")


def describe(traces: dict[str, Trace]) -> str:
    """One Markdown line per run: model, prompt and the settings that shape it (trace fields escaped)."""
    return "\n".join(f"- **{LABELS[role]}** {markdown_text(run_summary(traces[role]))}"
                     for role in ROLES if role in traces)


def settings_line(traces: dict[str, Trace]) -> str:
    """The runs' settings in one plain line, for the HTML export's page."""
    return "; ".join(f"{LABELS[role]} {run_summary(traces[role])}" for role in ROLES if role in traces)


def export_names(traces: dict[str, Trace], today: date | None = None) -> tuple[str, str]:
    """The HTML export's title and file name: the prompt (whitespace collapsed, control characters dropped;
    letters and digits only in the file name) and the date."""
    main = next(traces[r] for r in ROLES if r in traces)
    day = (today or date.today()).isoformat()
    prompt = " ".join("".join(ch for ch in (main.prompts[0] if main.prompts else "") if ch.isprintable()).split())
    short = prompt if len(prompt) <= 80 else prompt[:79] + "…"
    title = f"SR-SMC: “{short}” ({day})" if prompt else f"SR-SMC run ({day})"
    slug = "-".join(re.findall(r"[a-z0-9]+", prompt.lower()))[:48].strip("-") or "run"
    return title, f"sr-smc-{slug}-{day}.html"


def user_errors(fn):
    """Turn a handler's expected failures into a `gr.Error` naming the problem (generators too)."""
    def as_gr_error(e: Exception) -> gr.Error:
        # Gradio renders a toast's message as HTML, and messages quote trace fields and file names
        return gr.Error(html.escape(str(e) or type(e).__name__, quote=False))

    expected = (ValueError, TraceFormatError, FileNotFoundError, KeyError, IndexError)
    if inspect.isgeneratorfunction(fn):
        @functools.wraps(fn)
        def stream(*args, **kwargs):
            try:
                yield from fn(*args, **kwargs)
            except gr.Error:
                raise
            except expected as e:
                raise as_gr_error(e) from e
        return stream

    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except expected as e:
            raise as_gr_error(e) from e
    return wrapped


def cache_folder(max_age_s: float = DELETE_CACHE[1]) -> Path:
    """A fresh folder inside Gradio's cache for files the page serves (Gradio serves them without a copy).

    Folders of earlier downloads older than `max_age_s` are removed here: Gradio's `delete_cache` only
    tracks files on the components it created, and a streaming handler's outputs go through per-session
    copies of them, so it would never see these.
    """
    cache = Path(get_upload_folder())
    cache.mkdir(parents=True, exist_ok=True)
    io.sweep_cache(cache, max_age_s)
    folder = cache / f"sr-smc-{uuid.uuid4().hex}"
    folder.mkdir()
    return folder


def trace_files(traces: dict[str, Trace], max_age_s: float = DELETE_CACHE[1]) -> list[str]:
    """Every run's trace as `<role>.json` in a fresh cache folder; the paths, in role order."""
    folder = cache_folder(max_age_s)
    return [str(traces[role].save(folder / f"{role}.json")) for role in ROLES if role in traces]


def panel_settings(traces: dict[str, Trace], settings: tuple[Setting, ...], models: list[str]) -> list:
    """Run-panel values that reproduce loaded runs (from the SR-SMC or best-of-N trace, else greedy's);
    `gr.skip()` for what the traces do not say or this app cannot offer."""
    main = next((traces[r] for r in ROLES if r in traces), None)
    config = dict(main.config) if main else {}
    values = []
    for s in settings:
        if s.name == "prompt":
            values.append(main.prompts[0] if main and main.prompts else gr.skip())
        elif s.name == "model":
            values.append(main.model if main and main.model in models else gr.skip())
        elif s.name == "best_of_n":
            values.append("best-of-n" in traces)
        elif s.name == "n_particles" and role_of(main) == "greedy":
            values.append(gr.skip())
        elif s.name in config:
            value = config[s.name]
            values.append({v: k for k, v in SWITCH.items()}[value] if s.kind == "switch" else value)
        else:
            values.append(gr.skip())
    return values


def as_request(settings: tuple[Setting, ...], values) -> dict:
    """The panel's values by name, switches (auto/on/off) as None/True/False: what `RunRequest` reads."""
    out = {}
    for s, value in zip(settings, values):
        out[s.name] = SWITCH.get(value, value) if s.kind == "switch" else value
    return out


def branch_changes(trace: Trace, settings: dict) -> dict:
    """The run panel's settings (by name, as `as_request` gives them) that differ from the run's: what a branch of
    it changes. Prompt and model are not settings a branch takes (it continues the run's)."""
    return {k: v for k, v in settings.items() if k in trace.config and k != "prompts" and v != trace.config[k]}


def with_parameters(fn, names: list[str]):
    """`fn(*values, request)` presented to Gradio (and its API) with one named parameter per setting, then
    the `gr.Request` (which Gradio fills in and keeps out of the API)."""
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    fn.__signature__ = inspect.Signature([*(inspect.Parameter(n, kind) for n in names),
                                          inspect.Parameter("request", kind, annotation=gr.Request)])
    fn.__annotations__ = {"request": gr.Request}
    return fn


def live_interval(value: dict) -> float:
    """Seconds before the next live payload after this one: ≥ STREAM_INTERVAL_S, longer for bigger payloads
    (the player replays and redraws a payload in ~5 ms per KB on a 2-core box; this keeps it under half busy)."""
    return max(STREAM_INTERVAL_S, len(json.dumps(value)) / 1000 * LIVE_MS_PER_KB / 1000)


def progress_line(done: int, total: int, desc: str) -> str:
    share = done / total if total else 0.0
    bar = "▰" * round(10 * share) + "▱" * (10 - round(10 * share))
    return f"Sampling {bar} {share:.0%} — {desc} ({done:,} of {total:,} rows × steps)"


def largest_that_fit(settings: dict, prompt_tokens: int, limits: Limits) -> dict[str, int | bool]:
    """For a request over `limits.max_cost`: the largest N, steps and gen length (each changed alone, every
    other setting kept) that are valid and fit, and `best_of_n: False` if turning best-of-N off fits."""
    def fits(**change) -> bool:
        try:
            request = RunRequest.from_settings({**settings, **change})
        except ValueError:
            return False
        return limits.request_cost(request, prompt_tokens) <= limits.max_cost

    candidates = {"n_particles": range(settings["n_particles"] - 1, 1, -1),
                  "gen_length": range(settings["gen_length"] - 1, 0, -1)}
    if settings.get("policy") != "threshold":  # the threshold policy plans its own steps
        candidates["steps"] = range(settings["steps"] - 1, 0, -1)
    out = {name: next((v for v in values if fits(**{name: v})), None) for name, values in candidates.items()}
    if settings.get("best_of_n") and fits(best_of_n=False):
        out["best_of_n"] = False
    return {k: v for k, v in out.items() if v is not None}


def cost_line(sampler, limits: Limits, settings: dict) -> str:
    """The Run's cost in cell-steps against the limit, the time it should take here, and when over the limit
    the largest values that fit; a setting the run cannot take is named instead."""
    try:
        request, prompt_tokens = sampler.estimate(settings)
    except ValueError as e:
        return f"⚠ Run would refuse this: {markdown_text(e)}"
    cost = limits.request_cost(request, prompt_tokens)
    rate = sampler.rates.get(request.model)
    when = (f"about {max(cost / rate.per_second, 0.1):.1f} s here (speed measured by {rate.source})" if rate else
            "no time estimate yet: none measured on this server")
    if cost <= limits.max_cost:
        return f"Cost: {cost:,} of {limits.max_cost:,} cell-steps, {when}."
    fit = largest_that_fit(dict(request.settings, prompt=request.prompt, model=request.model,
                                best_of_n=request.best_of_n), prompt_tokens, limits)
    names = {"steps": "steps", "n_particles": "N", "gen_length": "gen length"}
    hints = [f"{names[k]} ≤ {v}" for k, v in fit.items() if k in names] + (
        ["best-of-N off"] if "best_of_n" in fit else [])
    return (f"⚠ Over the limit: {cost:,} > {limits.max_cost:,} cell-steps ({when}). "
            + (f"Would fit: {', or '.join(hints)}." if hints else "Lower N, steps and gen length together."))


def _widget(s: Setting, models: list[str], limits: Limits) -> gr.components.Component:
    """The run-panel control for one setting of the table."""
    common = dict(label=s.label, info=s.help, elem_id=s.elem_id)
    if s.name == "model":
        return gr.Dropdown(models, value=models[0] if models else None, interactive=bool(models), **common)
    if s.widget == "textbox":
        return gr.Textbox(s.default, lines=2, max_length=limits.max_prompt_chars if s.name == "prompt" else None,
                          **common)
    if s.widget == "dropdown":
        return gr.Dropdown(list(s.choices), value=s.default, **common)
    if s.widget == "radio":
        return gr.Radio(list(s.choices), value=s.default, **common)
    if s.widget == "checkbox":
        return gr.Checkbox(s.default, **common)
    if s.widget == "slider":
        return gr.Slider(s.minimum, s.maximum, s.default, step=s.step, precision=0 if s.kind == "int" else None,
                         **common)
    return gr.Number(s.default, precision=0 if s.kind == "int" else None, minimum=s.minimum, maximum=s.maximum,
                     **common)


ROWS = (("gen_length", "steps", "block_length"),)  # essentials side by side


class Sessions:
    """Each page's Run from the press of Run to its end, so that the page's Stop reaches it wherever it is:
    waiting in the queue (it then never starts) or decoding (it ends at its next step). Keyed by Gradio's
    session hash; a page with no Run pressed or running is idle, and its Stop does nothing."""

    def __init__(self):
        self._lock = threading.Lock()
        self._jobs: dict = {}  # session → its SamplingJob while it decodes
        self._pressed: set = set()  # sessions whose Run was pressed and has not started
        self._stopped: set = set()  # of those, the ones whose Stop came first

    def pressed(self, session) -> None:
        with self._lock:
            self._pressed.add(session)
            self._stopped.discard(session)

    def start(self, session, start):
        """`start()` (→ the job) unless this page's Stop came first (None then); raises what `start` raises."""
        with self._lock:
            self._pressed.discard(session)
            if session in self._stopped:
                self._stopped.discard(session)
                return None
            job = self._jobs[session] = start()
            return job

    def ended(self, session, job) -> None:
        with self._lock:
            if self._jobs.get(session) is job:
                del self._jobs[session]

    def stop(self, session) -> None:
        with self._lock:
            job = self._jobs.get(session)
            if job is not None:
                job.cancel()
            elif session in self._pressed:
                self._stopped.add(session)


def build_ui(sampler, models: list[str], limits: Limits = LIMITS, max_concurrent_runs: int = 1,
             delete_cache: tuple[int, int] | None = DELETE_CACHE) -> gr.Blocks:
    """The whole page. `sampler` (app.Sampler: `start(settings) -> SamplingJob`, `estimate`, `rates`) is None
    when no model can run (playback of traces only)."""
    max_age_s = (delete_cache or DELETE_CACHE)[1]  # how long a download stays
    settings_table = table(limits.max_particles, limits.max_gen_length)
    names = [s.name for s in settings_table]  # also the API's parameter names, in this order
    sessions = Sessions()
    with gr.Blocks(title="SR-SMC Explorer", delete_cache=delete_cache, fill_width=True) as demo:
        runs_state = gr.State({})
        with gr.Row(elem_id="sx-header"):
            gr.Markdown("# SR-SMC Explorer\nSelf-Rewarding Sequential Monte Carlo on a masked diffusion language "
                        "model, played back step by step beside greedy decoding on the same prompt and seed.")
        with gr.Row(equal_height=False, elem_id="sx-main"):
            with gr.Column(elem_id="sx-panel", min_width=0):
                by_name = {}

                def place(group: str) -> None:
                    for s in settings_table:
                        if s.group != group or s.name in by_name:
                            continue
                        row = next((r for r in ROWS if s.name in r), None)
                        if row is None:
                            by_name[s.name] = _widget(s, models, limits)
                            continue
                        with gr.Row(elem_classes="sx-row"):
                            for t in settings_table:
                                if t.name in row:
                                    by_name[t.name] = _widget(t, models, limits)

                for s in settings_table:  # essentials up to the model, then Run / Stop and the lines under it
                    if s.group == ESSENTIALS and s.name in ("prompt",):
                        by_name[s.name] = _widget(s, models, limits)
                with gr.Row(elem_classes="sx-row"):
                    run_btn = gr.Button("Run", variant="primary", interactive=sampler is not None, elem_id="sx-run",
                                        min_width=80)
                    stop_btn = gr.Button("Stop", variant="secondary", interactive=sampler is not None,
                                         elem_id="sx-stop", min_width=80)
                cost = gr.Markdown("", elem_id="sx-cost")
                status = gr.Markdown("" if sampler else "*No model available: sampling is off; replay examples "
                                                        "or uploaded traces.*", elem_id="sx-status")
                place(ESSENTIALS)
                for group in GROUPS[1:]:
                    if any(s.group == group for s in settings_table):
                        with gr.Accordion(group, open=False, elem_classes="sx-group"):
                            place(group)
                with gr.Accordion("Examples and trace files", open=True, elem_classes="sx-group"):
                    examples = io.list_examples()
                    example = gr.Dropdown(examples, value=examples[0] if examples else None, label="Recorded example",
                                          elem_id="sx-example-name")
                    example_btn = gr.Button("Load example", size="sm", elem_id="sx-example")
                    upload = gr.UploadButton("Upload trace JSON(s)", file_count="multiple", file_types=[".json"],
                                             size="sm", elem_id="sx-upload")
                    io.no_upload_temp_files(upload)
                    downloads = gr.File(file_count="multiple", label="Download the loaded traces (JSON)",
                                        interactive=False, elem_id="sx-downloads")
                    html_btn = gr.Button("Download as HTML", size="sm", elem_id="sx-html-btn")
                    html_file = gr.File(label="Standalone player (HTML)", interactive=False, elem_id="sx-html-file",
                                        visible=False)  # shown with a file: its empty box is tall, and unlabelled
                with gr.Accordion("What am I looking at?", open=False, elem_classes="sx-group"):
                    gr.Markdown(TEACHING)
            with gr.Column(elem_id="sx-view", min_width=0):
                view = player(payload({}), elem_id="sx-player")
                description = gr.Markdown(elem_id="sx-runs", latex_delimiters=[])  # trace fields: no maths
                branch_step = gr.Textbox(elem_id="sx-branch-step", elem_classes="sx-hidden", label="branch step")
                branch_btn = gr.Button("branch", elem_id="sx-branch-btn", elem_classes="sx-hidden")

        settings = [by_name[n] for n in names]
        strict_numbers(by_name, lambda message: gr.Error(html.escape(message, quote=False)))  # raw API values
        loaded_outputs = [runs_state, view, description, downloads, html_file, *settings]

        def loaded(traces: dict[str, Trace], notes=(), source: str | None = None, compare: list[Trace] = ()):
            """Outputs once new runs arrive: state, player, description, files and the settings that made them
            (`source`: the bundled example's name, which the player's links then carry; `compare`: runs of one
            kind shown side by side, named in a note)."""
            no_export = gr.update(value=None, visible=False)  # the export's box stays hidden until an export exists
            notes = [*notes, *([describe_comparison(compare)] if compare else [])]
            return (traces, payload(traces, notes=notes, source=source, compare=compare), describe(traces),
                    trace_files(traces, max_age_s), no_export, *panel_settings(traces, settings_table, models))

        def run(previous, *values_and_request):
            """Stream one Run into the page. The only writer of the page while it runs: a stopped run ends
            here too (the earlier runs back, "Stopped"), so the page never mixes a stopped and a new run."""
            *values, request = values_and_request
            if sampler is None:
                raise gr.Error("No model is available in this app: load an example or upload a trace instead.")
            session = getattr(request, "session_hash", None)
            # ValueError naming the problem first
            job = sessions.start(session, lambda: sampler.start(as_request(settings_table, values)))
            if job is None:  # Stop came while this Run waited in the queue
                yield (gr.skip(), gr.skip(), "Stopped before it started; nothing changed.", gr.skip(), gr.skip(),
                       gr.skip())
                return
            live_note = ["new run: it replaces the runs shown before as its steps arrive"]
            try:
                due = 0.0  # when the player may get the next live payload
                for snap in job.updates(STREAM_INTERVAL_S):
                    if snap.finished or job.cancelled.is_set():
                        continue
                    view_value = gr.skip()  # none until a run has a step: an empty payload would empty the player
                    if time.monotonic() >= due and any(trace.n_steps for trace in snap.traces.values()):
                        view_value = payload(snap.traces, live=True, notes=live_note)
                        due = time.monotonic() + live_interval(view_value)
                    yield (gr.skip(), view_value, progress_line(snap.done, snap.total, snap.desc), gr.skip(),
                           gr.skip(), gr.skip())
                traces = job.result()
            except Exception as e:
                if job.cancelled.is_set():  # Stop: the decode ended at its next step
                    yield (gr.skip(), payload(previous, notes=["stopped: showing the runs loaded before"]),
                           f"Stopped after {job.done:,} of {job.total:,} rows × steps; the runs loaded before "
                           "are back.", gr.skip(), gr.skip(), gr.skip())
                    return
                yield (gr.skip(), payload(previous, notes=["the new run failed: showing the runs loaded before"]),
                       f"Failed: {markdown_text(e)}", gr.skip(), gr.skip(), gr.skip())
                raise
            finally:
                job.cancel()  # the client stopped or left: the decode ends at its next step
                sessions.ended(session, job)
            yield (traces, payload(traces), f"Done: {job.total:,} rows × steps.", describe(traces),
                   trace_files(traces, max_age_s), gr.update(value=None, visible=False))

        def pressed(request: gr.Request):
            """Run was pressed (sent at once, outside the queue the Run itself may wait in)."""
            sessions.pressed(getattr(request, "session_hash", None))

        def stop(request: gr.Request):
            """Stop this page's Run: queued, it never starts; decoding, it ends at its next step; `run` then
            writes the page. Nothing when the page is idle."""
            sessions.stop(getattr(request, "session_hash", None))

        def on_example(name):
            if not name:
                raise gr.Error("Pick an example first.")
            traces, compare = io.load_example(name, limits)
            return loaded(traces, source=name, compare=compare)

        def on_upload(files, previous=None):
            """Load uploaded traces; several of one kind, or one of a kind already loaded (same prompt), are
            compared (the loaded runs of other kinds stay)."""
            if not files:
                raise gr.Error("No file received.")
            runs, notes = io.load_runs(files, limits)
            previous = previous or {}
            compare = to_compare(runs, previous)
            if compare is None:
                return loaded(io.by_role([Path(f).name for f in files], runs), notes)
            first = compare[0]
            traces = {**(previous if previous.get(role_of(first)) is first else {}), role_of(first): first}
            limits.check_trace(*{t.run_id: t for t in (*traces.values(), *compare)}.values())  # replayed together
            return loaded(traces, notes, compare=compare)

        def on_branch(step, traces, *values):
            """The player's "branch here" at `step`: the main run continued with the run panel's changed settings,
            then shown beside it (the panel keeps its values; a refusal changes nothing)."""
            if sampler is None:
                raise gr.Error("No model is available in this app: branching needs one.")
            if not traces:
                raise gr.Error("Nothing loaded yet: run, load an example or upload a trace first.")
            if not str(step).isdigit():
                raise gr.Error(f"step {step!r}: a branch starts after a whole step")
            parent = next(traces[r] for r in ROLES if r in traces)
            changes = branch_changes(parent, as_request(settings_table, values))
            if not changes:
                raise gr.Error("The run panel holds this run's settings: change τ, α, no-repeat n-gram, repetition "
                               "penalty, κ, the resampling scheme or the seed there, then branch.")
            branch = sampler.branch(parent, int(step), changes)
            done = ", ".join(f"{k} {parent.config[k]} → {v}" for k, v in changes.items())
            return (*loaded(traces, compare=[parent, branch])[:5], f"Branched after step {step}: {done}.")

        def on_html(traces):
            if not traces:
                raise gr.Error("Nothing loaded yet: run, load an example or upload a trace first.")
            title, file_name = export_names(traces)
            path = cache_folder(max_age_s) / file_name
            path.write_text(export_html(traces, title, settings_line(traces)), encoding="utf-8")
            return gr.update(value=str(path), visible=True)

        quick = dict(concurrency_limit=None, show_progress="hidden")
        run_btn.click(pressed, None, None, queue=False, api_visibility="private", show_progress="hidden")
        run_btn.click(user_errors(with_parameters(run, ["previous", *names])), [runs_state, *settings],
                      [runs_state, view, status, description, downloads, html_file],
                      api_name="sample", concurrency_limit=max_concurrent_runs,
                      concurrency_id="sampling", show_progress="hidden")
        stop_btn.click(stop, None, None, queue=False, api_visibility="private", show_progress="hidden")
        example_btn.click(user_errors(on_example), example, loaded_outputs, api_name="load_example", **quick)
        upload.upload(user_errors(on_upload), [upload, runs_state], loaded_outputs, api_name="load_traces", **quick)
        branch_btn.click(user_errors(on_branch), [branch_step, runs_state, *settings],
                         [runs_state, view, description, downloads, html_file, status], api_visibility="private",
                         concurrency_id="sampling", show_progress="hidden")
        html_btn.click(user_errors(on_html), runs_state, html_file, api_name="export_html", **quick).then(
            None, js="() => document.querySelector('#sx-html-file a[download]')?.click()")
        by_name["policy"].change(lambda p: gr.Number(interactive=p != "threshold"), by_name["policy"], by_name["steps"],
                                 api_visibility="private", queue=False, show_progress="hidden")
        if sampler is not None:
            gr.on([c.change for c in settings], lambda *v: cost_line(sampler, limits, as_request(settings_table, v)),
                  settings, cost, api_visibility="private", queue=False, show_progress="hidden")
            demo.load(lambda *v: cost_line(sampler, limits, as_request(settings_table, v)), settings, cost,
                      api_visibility="private", queue=False, show_progress="hidden")
        if examples:
            # a link to a step names its example (`#ex=...`, explorer/player/link.js): open that one instead
            demo.load(user_errors(on_example), example, loaded_outputs, api_visibility="private", **quick,
                      js=LINKED_EXAMPLE)
    return demo


# The example a link names in the page's hash, else the dropdown's value (the server checks the name).
LINKED_EXAMPLE = ("(name) => { const m = /(?:^#|&)ex=([^&]*)/.exec(window.location.hash);"
                  " return m ? decodeURIComponent(m[1]) : name; }")


def launch_kwargs() -> dict:
    """The `launch()` arguments the page needs (Gradio 6 takes CSS there); run history off, so no
    streamed run is copied into the browser's storage."""
    from starlette.middleware import Middleware

    return dict(css=CSS, max_file_size=LIMITS.max_upload_bytes, run_history=False,
                app_kwargs={"middleware": [Middleware(io.UploadLimit, max_bytes=LIMITS.upload_request_bytes)]})
