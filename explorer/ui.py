"""The Gradio page: the run panel on the left, the browser-side player on the right.

The server is involved only when runs arrive — sampled (streamed step by step while the
decode runs), loaded from an example or uploaded; every step change, Play and the views
happen in the browser (`explorer.player`). `build_ui(sampler, ...)` gets app.py's
`Sampler` (the only thing that runs a model). Loaded runs live in a `gr.State` as
`{role: Trace}` and are replaced only when a request succeeds, so a failed or stopped request
leaves the earlier runs, and the settings, in place. Download files are written into
Gradio's own cache folder, which `delete_cache` empties on a schedule.
"""
import functools
import html
import inspect
import json
import re
import time
import typing
import uuid
from dataclasses import MISSING, fields
from pathlib import Path

import gradio as gr
from gradio.utils import get_upload_folder

from explorer import io
from explorer.limits import Limits
from explorer.payload import payload
from explorer.player import export_html, player
from explorer.request import APP_FIXED, strict_numbers
from explorer.runs import LABELS, ROLES, role_of
from sampler.config import SWITCH, SamplerConfig
from sampler.trace import Trace, TraceFormatError

LIMITS = Limits()
STREAM_INTERVAL_S = 0.3  # at most one progress update of a streaming run per this many seconds
LIVE_MS_PER_KB = 10  # and a live payload of K KB at most every K × this ms: the browser redraws all of it
DELETE_CACHE = (60, 900)  # every minute, Gradio removes uploads older than 15 minutes; downloads too

CSS = """
/* Gradio's container clips with overflow: hidden, which makes it a scroll container and stops the player's
   sticky transport from sticking to the page; clip also cuts overflow but scrolls nothing */
.gradio-container {overflow: clip visible !important;}
#sx-header h1 {margin: 0;}
#sx-header p {margin: 0.2em 0 0;}
#sx-panel {position: sticky; top: 0; align-self: start; max-height: 100vh; overflow-y: auto;}
@media (max-width: 700px) {
  #sx-panel {position: static; max-height: none;}
}
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

# one line of help per setting; a SamplerConfig field's own `metadata["help"]` takes precedence
HELP = {
    "prompt": "The text every run continues.",
    "model": "The masked diffusion language model that decodes.",
    "n_particles": "Particles N that SR-SMC (and best-of-N) run side by side; greedy is N = 1.",
    "temperature": "τ of the token draws; 0 = argmax (all particles identical, so SMC cannot help).",
    "gen_length": "Tokens generated after the prompt.",
    "steps": "Denoising steps in all: a multiple of the number of blocks (the threshold policy sets its own).",
    "block_length": "Decode left to right in blocks of this many tokens: a divisor of gen length.",
    "policy": "Which masked positions commit each step: the k most confident, all above ρ, or random ones.",
    "ess_threshold": "κ: resample when ESS < κ·N (0 = never, 1 = whenever the weights differ).",
    "resampling": "How the N new particles are drawn from the weights.",
    "seed": "Same seed and settings → the same runs.",
    "best_of_n": "Also run N independent particles that never resample, picked by the same final score.",
    "resample_when": "When the ESS is checked: after every step, at each block's end, or every k steps.",
    "resample_every": "k, the steps between ESS checks when 'Check the ESS' is every_k.",
    "final_pick": "How ★ is chosen among the final particles: total or mean log-confidence, or the largest weight.",
    "confidence": "Self-reward from the model's own probability (untempered) or from the tempered draw.",
    "threshold": "ρ: the threshold policy commits every masked position whose confidence exceeds ρ.",
}
PANEL_FIELDS = ("chat_template",)  # not in the paper, but part of using the model: shown beside it
PAPER_FIELDS = ("n_particles", "temperature", "gen_length", "steps", "block_length", "policy", "ess_threshold",
                "resampling", "seed", "resample_when", "resample_every", "final_pick", "confidence", "threshold")


def _field_help(name: str) -> str:
    meta = {f.name: f.metadata for f in fields(SamplerConfig)}.get(name, {})
    return meta.get("help") or HELP.get(name, "")


def _beyond_the_paper() -> list:
    """SamplerConfig fields the paper does not have (knobs added later), in declaration order."""
    return [f for f in fields(SamplerConfig) if f.name not in (*PAPER_FIELDS, *PANEL_FIELDS, *APP_FIXED)]


def _knob(f) -> gr.components.Component:
    """A run-panel control for a SamplerConfig field by its annotation; the default is the field's (the paper's)."""
    hint = typing.get_type_hints(SamplerConfig)[f.name]
    label, info = f.name.replace("_", " ").capitalize(), _field_help(f.name)
    default = None if f.default is MISSING else f.default
    args = typing.get_args(hint)
    if set(args) == {bool, type(None)}:
        return gr.Radio(list(SWITCH), value={v: k for k, v in SWITCH.items()}[default], label=label,
                        info=info)
    if hint is bool:
        return gr.Checkbox(default, label=label, info=info)
    if typing.get_origin(hint) is typing.Literal:
        return gr.Dropdown(list(args), value=default, label=label, info=info)
    return gr.Number(default, precision=0 if hint is int else None, label=label, info=info)


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


def describe(traces: dict[str, Trace]) -> str:
    """One Markdown line per run: model, prompt and the settings that shape it (trace fields escaped)."""
    lines = []
    for role in ROLES:
        if role not in traces:
            continue
        t, c = traces[role], traces[role].config
        resampling = (f", resample {markdown_text(c.get('resampling'))} when ESS < "
                      f"{markdown_text(c.get('ess_threshold'))}·N ({markdown_text(c.get('resample_when'))})"
                      if role == "sr-smc" else "")
        lines.append(f"- **{LABELS[role]}** on {markdown_text(t.model)}: N = {t.n_particles}, "
                     f"τ = {markdown_text(c.get('temperature'))}, {markdown_text(c.get('gen_length'))} tokens in "
                     f"{t.n_steps} steps, seed {markdown_text(c.get('seed'))}{resampling}"
                     f"{chat_note(c.get('chat_template'))}")
    return "\n".join(lines)


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


def panel_settings(traces: dict[str, Trace], names: list[str], models: list[str]) -> list:
    """Run-panel values that reproduce loaded runs (from the SR-SMC or best-of-N trace, else greedy's);
    `gr.skip()` for what the traces do not say or this app cannot offer."""
    main = next((traces[r] for r in ROLES if r in traces), None)
    config = dict(main.config) if main else {}
    values = []
    for name in names:
        if name == "prompt":
            values.append(main.prompts[0] if main and main.prompts else gr.skip())
        elif name == "model":
            values.append(main.model if main and main.model in models else gr.skip())
        elif name == "best_of_n":
            values.append("best-of-n" in traces)
        elif name == "n_particles" and role_of(main) == "greedy":
            values.append(gr.skip())
        elif name in config:
            value = config[name]
            values.append({v: k for k, v in SWITCH.items()}[value] if name in _optional_bools() else value)
        else:
            values.append(gr.skip())
    return values


@functools.cache
def _optional_bools() -> frozenset[str]:
    hints = typing.get_type_hints(SamplerConfig)
    return frozenset(n for n, h in hints.items() if set(typing.get_args(h)) == {bool, type(None)})


def with_parameters(fn, names: list[str]):
    """`fn(*values)` presented to Gradio (and its API) with one named parameter per setting."""
    fn.__signature__ = inspect.Signature(
        [inspect.Parameter(n, inspect.Parameter.POSITIONAL_OR_KEYWORD) for n in names])
    return fn


def live_interval(value: dict) -> float:
    """Seconds before the next live payload after this one: ≥ STREAM_INTERVAL_S, longer for bigger payloads
    (the player replays and redraws a payload in ~5 ms per KB on a 2-core box; this keeps it under half busy)."""
    return max(STREAM_INTERVAL_S, len(json.dumps(value)) / 1000 * LIVE_MS_PER_KB / 1000)


def progress_line(done: int, total: int, desc: str) -> str:
    share = done / total if total else 0.0
    bar = "▰" * round(10 * share) + "▱" * (10 - round(10 * share))
    return f"Sampling {bar} {share:.0%} — {desc} ({done:,} of {total:,} rows × steps)"


def build_ui(sampler, models: list[str], limits: Limits = LIMITS, max_concurrent_runs: int = 1,
             delete_cache: tuple[int, int] | None = DELETE_CACHE) -> gr.Blocks:
    """The whole page. `sampler` (app.Sampler: `start(settings) -> SamplingJob`) is None when no model
    can run (playback of traces only)."""
    defaults = SamplerConfig()
    max_age_s = (delete_cache or DELETE_CACHE)[1]  # how long a download stays
    with gr.Blocks(title="SR-SMC Explorer", delete_cache=delete_cache, fill_width=True) as demo:
        runs_state = gr.State({})
        with gr.Row(elem_id="sx-header"):
            gr.Markdown("# SR-SMC Explorer\nSelf-Rewarding Sequential Monte Carlo on a masked diffusion language "
                        "model, played back step by step beside greedy decoding on the same prompt and seed.")
        with gr.Row(equal_height=False):
            with gr.Column(scale=1, min_width=320, elem_id="sx-panel"):
                prompt = gr.Textbox("It is a truth universally acknowledged", label="Prompt", lines=2,
                                    max_length=limits.max_prompt_chars, elem_id="sx-prompt", info=HELP["prompt"])
                with gr.Row():
                    run_btn = gr.Button("Run", variant="primary", interactive=sampler is not None, elem_id="sx-run",
                                        min_width=80)
                    stop_btn = gr.Button("Stop", variant="secondary", interactive=sampler is not None,
                                         elem_id="sx-stop", min_width=80)
                status = gr.Markdown("" if sampler else "*No model available: sampling is off; replay examples "
                                                        "or uploaded traces.*", elem_id="sx-status")
                model = gr.Dropdown(models, value=models[0] if models else None, label="Model",
                                    interactive=bool(models), info=HELP["model"])
                chat_template = _knob(next(f for f in fields(SamplerConfig) if f.name == "chat_template"))
                with gr.Row():
                    n_particles = gr.Slider(2, limits.max_particles, 4, step=1, precision=0, label="Particles N",
                                            elem_id="sx-n", info=_field_help("n_particles"))
                    temperature = gr.Slider(0, 2, 1.0, step=0.05, label="Temperature τ",
                                            info=_field_help("temperature"))
                with gr.Row():
                    gen_length = gr.Number(64, precision=0, minimum=1, maximum=limits.max_gen_length,
                                           label="Gen length", elem_id="sx-gen", info=_field_help("gen_length"))
                    steps = gr.Number(64, precision=0, minimum=1, maximum=limits.max_gen_length, label="Steps",
                                      elem_id="sx-steps", info=_field_help("steps"))
                    block_length = gr.Number(32, precision=0, minimum=1, maximum=limits.max_gen_length,
                                             label="Block length", elem_id="sx-block", info=_field_help("block_length"))
                policy = gr.Radio(["topk", "threshold", "random"], value=defaults.policy, label="Unmasking policy",
                                  elem_id="sx-policy", info=_field_help("policy"))
                with gr.Row():
                    ess_threshold = gr.Slider(0, 1, defaults.ess_threshold, step=0.05, label="ESS threshold κ",
                                              info=_field_help("ess_threshold"))
                    resampling = gr.Dropdown(["multinomial", "systematic", "stratified", "residual"],
                                             value=defaults.resampling, label="Resampling scheme",
                                             info=_field_help("resampling"))
                with gr.Row():
                    seed = gr.Number(0, precision=0, minimum=0, label="Seed", info=_field_help("seed"),
                                     elem_id="sx-seed")
                    best_of_n = gr.Checkbox(False, label="Also run best-of-N", info=HELP["best_of_n"])
                with gr.Accordion("More settings", open=False):
                    resample_when = gr.Radio(["every_step", "block_end", "every_k"], value=defaults.resample_when,
                                             label="Check the ESS", info=_field_help("resample_when"))
                    resample_every = gr.Number(defaults.resample_every, precision=0, minimum=1,
                                               label="k (for every_k)", info=_field_help("resample_every"))
                    final_pick = gr.Radio(["sum_logp", "mean_logp", "max_weight"], value=defaults.final_pick,
                                          label="Final answer ★", info=_field_help("final_pick"))
                    confidence = gr.Radio(["untempered", "tempered"], value=defaults.confidence,
                                          label="Confidence from", info=_field_help("confidence"))
                    threshold = gr.Slider(0.05, 1, defaults.threshold, step=0.05,
                                          label="Threshold ρ (threshold policy)", info=_field_help("threshold"))
                beyond = _beyond_the_paper()
                knobs = []
                if beyond:
                    with gr.Accordion("Beyond the paper (defaults = the paper)", open=False, elem_id="sx-beyond"):
                        knobs = [_knob(f) for f in beyond]
                with gr.Accordion("Examples and trace files", open=True):
                    examples = io.list_examples()
                    example = gr.Dropdown(examples, value=examples[0] if examples else None, label="Recorded example")
                    example_btn = gr.Button("Load example", size="sm", elem_id="sx-example")
                    upload = gr.UploadButton("Upload trace JSON(s)", file_count="multiple", file_types=[".json"],
                                             size="sm", elem_id="sx-upload")
                    io.no_upload_temp_files(upload)
                    downloads = gr.File(file_count="multiple", label="Download the loaded traces (JSON)",
                                        interactive=False, elem_id="sx-downloads")
                    html_btn = gr.Button("Download as HTML", size="sm", elem_id="sx-html-btn")
                    html_file = gr.File(label="Standalone player (HTML)", interactive=False, elem_id="sx-html-file")
                with gr.Accordion("What am I looking at?", open=False):
                    gr.Markdown(TEACHING)
            with gr.Column(scale=3, min_width=340):
                view = player(payload({}), elem_id="sx-player")
                description = gr.Markdown(elem_id="sx-runs", latex_delimiters=[])  # trace fields: no maths

        by_name = dict(prompt=prompt, model=model, n_particles=n_particles, temperature=temperature,
                       gen_length=gen_length, steps=steps, block_length=block_length, policy=policy,
                       ess_threshold=ess_threshold, resampling=resampling, seed=seed, best_of_n=best_of_n,
                       resample_when=resample_when, resample_every=resample_every, final_pick=final_pick,
                       confidence=confidence, threshold=threshold, chat_template=chat_template,
                       **{f.name: k for f, k in zip(beyond, knobs)})
        names = list(by_name)  # also the API's parameter names, in this order
        settings = [by_name[n] for n in names]
        strict_numbers(by_name, lambda message: gr.Error(html.escape(message, quote=False)))  # raw API values
        loaded_outputs = [runs_state, view, description, downloads, html_file, *settings]

        def loaded(traces: dict[str, Trace], notes=()):
            """Outputs once new runs arrive: state, player, description, files and the settings that made them."""
            return (traces, payload(traces, notes=notes), describe(traces), trace_files(traces, max_age_s), None,
                    *panel_settings(traces, names, models))

        def run(previous, *values):
            if sampler is None:
                raise gr.Error("No model is available in this app: load an example or upload a trace instead.")
            request = dict(zip(names, values))
            for name in _optional_bools() & request.keys():
                request[name] = SWITCH.get(request[name], request[name])
            job = sampler.start(request)  # ValueError naming the problem, before anything changes
            live_note = ["new run: it replaces the runs shown before as its steps arrive"]
            try:
                due = 0.0  # when the player may get the next live payload
                for snap in job.updates(STREAM_INTERVAL_S):
                    if snap.finished:
                        continue
                    view_value = gr.skip()
                    if time.monotonic() >= due:
                        view_value = payload(snap.traces, live=True, notes=live_note)
                        due = time.monotonic() + live_interval(view_value)
                    yield (gr.skip(), view_value, progress_line(snap.done, snap.total, snap.desc), gr.skip(),
                           gr.skip(), gr.skip())
                traces = job.result()
            except Exception as e:
                yield (gr.skip(), payload(previous, notes=["the new run failed: showing the runs loaded before"]),
                       f"Failed: {markdown_text(e)}", gr.skip(), gr.skip(), gr.skip())
                raise
            finally:
                job.cancel()  # the client stopped or left: the decode ends at its next step
            yield (traces, payload(traces), f"Done: {job.total:,} rows × steps.", describe(traces),
                   trace_files(traces, max_age_s), None)

        def on_example(name):
            if not name:
                raise gr.Error("Pick an example first.")
            return loaded(io.load_example(name, limits))

        def on_upload(files):
            if not files:
                raise gr.Error("No file received.")
            return loaded(*io.load_traces(files, limits))

        def on_html(traces):
            if not traces:
                raise gr.Error("Nothing loaded yet: run, load an example or upload a trace first.")
            path = cache_folder(max_age_s) / "sr-smc-run.html"
            path.write_text(export_html(traces), encoding="utf-8")
            return str(path)

        def restore(traces):
            return payload(traces, notes=["stopped: showing the runs loaded before"]), "Stopped."

        quick = dict(concurrency_limit=None, show_progress="hidden")
        run_event = run_btn.click(user_errors(with_parameters(run, ["previous", *names])), [runs_state, *settings],
                                  [runs_state, view, status, description, downloads, html_file],
                                  api_name="sample", concurrency_limit=max_concurrent_runs,
                                  concurrency_id="sampling", show_progress="hidden")
        stop_btn.click(None, cancels=[run_event])  # first: the page's Stop goes out before anything else
        stop_btn.click(restore, runs_state, [view, status], api_visibility="private", **quick)
        example_btn.click(user_errors(on_example), example, loaded_outputs, api_name="load_example", **quick)
        upload.upload(user_errors(on_upload), upload, loaded_outputs, api_name="load_traces", **quick)
        html_btn.click(user_errors(on_html), runs_state, html_file, api_name="export_html", **quick).then(
            None, js="() => document.querySelector('#sx-html-file a[download]')?.click()")
        policy.change(lambda p: gr.Number(interactive=p != "threshold"), policy, steps, api_visibility="private",
                      queue=False, show_progress="hidden")
        if examples:
            demo.load(user_errors(on_example), example, loaded_outputs, api_visibility="private", **quick)
    return demo


def launch_kwargs() -> dict:
    """The `launch()` arguments the page needs (Gradio 6 takes CSS there); run history off, so no
    streamed run is copied into the browser's storage."""
    from starlette.middleware import Middleware

    return dict(css=CSS, max_file_size=LIMITS.max_upload_bytes, run_history=False,
                app_kwargs={"middleware": [Middleware(io.UploadLimit, max_bytes=LIMITS.upload_request_bytes)]})
