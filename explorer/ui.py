"""The Gradio page: run panel, one step cursor driving every view, summary tables, trace files.

`build_ui(sample, ...)` gets the sampling function from `app.py` (the only place that runs a
model); everything here replays traces. Loaded runs live in a `gr.State` as
`{role: Run}`, so a failed request leaves the earlier runs, and the settings, in place.
Sampling runs in its own queue group with a concurrency limit; playback handlers have no
limit and never wait behind it.
"""
import functools
from collections.abc import Callable

import gradio as gr

from explorer import io
from explorer.limits import Limits
from explorer.runs import LABELS, ROLES, Run
from explorer.views.canvas import CANVAS_CSS, canvas_html, legend_html
from explorer.views.ess import ess_figure
from explorer.views.heatmap import heatmap_figure
from explorer.views.summary import particle_table, run_table, runs_markdown
from explorer.views.tree import tree_figure
from explorer.views.weights import weights_figure
from sampler.config import SamplerConfig
from sampler.trace import Trace, TraceFormatError

# settings dict -> traces by role; raises ValueError naming the bad setting
SampleFn = Callable[[dict, gr.Progress], dict[str, Trace]]

LIMITS = Limits()
SPEEDS = [1, 2, 4, 8, 16]  # steps per second
MIN_TICK_S = 0.25  # faster speeds advance several steps per tick instead of ticking faster

CSS = CANVAS_CSS + """
#sx-transport {align-items: end;}
#sx-transport button {min-width: 4.5em; white-space: nowrap;}
"""

# ←/→ move the cursor, space plays/pauses, unless the focus is in a field (or, for space, on a button)
KEYS_JS = """
<script>
document.addEventListener("keydown", (e) => {
  const tag = (e.target.tagName || "").toLowerCase();
  if (["input", "textarea", "select"].includes(tag) || e.target.isContentEditable) return;
  if (e.key === " " && tag === "button") return;  // space presses the focused button itself
  const id = {ArrowLeft: "sx-prev", ArrowRight: "sx-next", " ": "sx-play"}[e.key];
  const button = id && document.querySelector("#" + id);
  if (button) { e.preventDefault(); button.click(); }
});
</script>
"""

TEACHING = """
### What am I looking at?
**Masked diffusion decoding** starts from a row of masks and, step by step, commits some
positions to tokens. The **confidence** of a token is the probability the model gave to the
token it drew (colour on the canvas).

**SR-SMC** runs *N* copies (**particles**) at once. Each particle has a **weight**: at every
step its log-weight grows by the log-confidence of the tokens it just committed (the
*self-reward*, **Δ** on the weight bars). Particles that commit confident tokens gain weight.

**ESS** (effective sample size, 1/Σw̄²) counts how many particles really matter: N when
all weights are equal, 1 when one particle has all of it. When ESS falls under κ·N the
sampler **resamples**: it draws N new particles from the old ones in proportion to their
weights, so heavy particles are copied and light ones vanish, and all weights reset. A copied
particle's tokens are **inherited** (hatched cells); the tree shows who descends from whom.

**Greedy** decoding is the same loop with a single particle: no weights, no resampling.
With temperature τ = 0 every particle is identical and SMC cannot help.

*Keys:* ← / → step, space play/pause (when no text field has focus).
"""


def user_errors(fn):
    """Turn the expected failures of a handler into a `gr.Error` naming the problem."""
    @functools.wraps(fn)
    def wrapped(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except gr.Error:
            raise
        except (ValueError, TraceFormatError, FileNotFoundError, KeyError, IndexError) as e:
            raise gr.Error(str(e) or type(e).__name__) from e
    return wrapped


def main_run(runs: dict[str, Run]) -> Run | None:
    """The run the cursor, tree, ESS, weights and heatmap follow: SR-SMC if loaded."""
    return next((runs[r] for r in ROLES if r in runs), None)


def tick_plan(speed: float) -> tuple[float, int]:
    """Timer interval (s) and steps per tick of a playback speed in steps per second."""
    interval = max(1.0 / speed, MIN_TICK_S)
    return interval, max(1, round(speed * interval))


def render(runs: dict[str, Run], t: int, particle: int | None, baseline: str | None):
    """Every view at step t: main canvas, baseline canvas, tree, ESS, weights, heatmap."""
    main = main_run(runs or {})
    if main is None:
        empty = '<div class="sx-canvas">Nothing loaded yet: press Run, load an example or upload a trace.</div>'
        return empty, "", None, None, None, None
    frame = main.frame(t or 0)
    particle = main.chosen if particle is None or not 0 <= int(particle) < main.n_particles else int(particle)
    base = runs.get(baseline) if baseline != main.role else None
    base_html = (canvas_html(base.frame(frame.t)) if base else
                 '<div class="sx-canvas">No baseline run loaded (upload a greedy trace next to the SR-SMC one).</div>')
    return (canvas_html(frame, particle), base_html, tree_figure(main, frame.t, particle),
            ess_figure(main, frame.t), weights_figure(frame, particle), heatmap_figure(frame, particle))


def loaded(runs: dict[str, Run], notes: tuple[str, ...] | list[str] = ()):
    """Outputs after new runs arrive: state, cursor at the last step, particle and baseline pickers,
    tables, download files and a description."""
    main = main_run(runs)
    ordered = [runs[r] for r in ROLES if r in runs]
    others = [r for r in ROLES if r in runs and r != main.role]
    return (runs,
            gr.Slider(minimum=0, maximum=max(main.n_steps, 1), value=main.n_steps, step=1),
            gr.Dropdown(choices=[(f"particle {i}" + (" ★" if i == main.chosen else ""), i)
                                 for i in range(main.n_particles)], value=main.chosen),
            gr.Radio(choices=[(LABELS[r], r) for r in others], value=("greedy" if "greedy" in others else
                                                                       (others[0] if others else None))),
            run_table(ordered), particle_table(ordered), io.write_runs(runs),
            "\n".join([runs_markdown(ordered), *(f"- ⚠ {n}" for n in notes)]))


def build_ui(sample: SampleFn | None, models: list[str], limits: Limits = LIMITS,
             max_concurrent_runs: int = 1) -> gr.Blocks:
    """The whole page. `sample` is None when no model can run (playback of traces only)."""
    defaults = SamplerConfig()
    with gr.Blocks(title="SR-SMC Explorer") as demo:
        runs_state = gr.State({})
        playing = gr.State(False)
        gr.Markdown("# SR-SMC Explorer\nSelf-Rewarding Sequential Monte Carlo on a masked diffusion language "
                    "model, played back step by step beside greedy confidence decoding on the same prompt and seed.")
        with gr.Row():
            with gr.Column(scale=1, min_width=300):
                with gr.Group():
                    prompt = gr.Textbox("It is a truth universally acknowledged", label="Prompt", lines=2,
                                        max_length=limits.max_prompt_chars, elem_id="sx-prompt")
                    model = gr.Dropdown(models, value=models[0] if models else None, label="Model",
                                        interactive=bool(models))
                    with gr.Row():
                        n_particles = gr.Slider(2, limits.max_particles, 4, step=1, precision=0, label="Particles N",
                                                elem_id="sx-n")
                        temperature = gr.Slider(0, 2, 1.0, step=0.05, label="Temperature τ")
                    with gr.Row():
                        gen_length = gr.Number(64, precision=0, minimum=1, maximum=limits.max_gen_length,
                                               label="Gen length", elem_id="sx-gen")
                        steps = gr.Number(64, precision=0, minimum=1, maximum=limits.max_gen_length, label="Steps",
                                          elem_id="sx-steps")
                        block_length = gr.Number(32, precision=0, minimum=1, maximum=limits.max_gen_length,
                                                 label="Block length", elem_id="sx-block")
                    policy = gr.Radio(["topk", "threshold", "random"], value=defaults.policy, label="Unmasking policy")
                    with gr.Row():
                        ess_threshold = gr.Slider(0, 1, defaults.ess_threshold, step=0.05, label="ESS threshold κ")
                        resampling = gr.Dropdown(["multinomial", "systematic", "stratified", "residual"],
                                                 value=defaults.resampling, label="Resampling scheme")
                    with gr.Row():
                        seed = gr.Number(0, precision=0, minimum=0, label="Seed")
                        best_of_n = gr.Checkbox(False, label="Also run best-of-N")
                    with gr.Accordion("More settings", open=False):
                        resample_when = gr.Radio(["every_step", "block_end", "every_k"], value=defaults.resample_when,
                                                 label="Check the ESS")
                        resample_every = gr.Number(defaults.resample_every, precision=0, minimum=1,
                                                   label="k (for every_k)")
                        final_pick = gr.Radio(["sum_logp", "mean_logp", "max_weight"], value=defaults.final_pick,
                                              label="Final answer")
                        confidence = gr.Radio(["untempered", "tempered"], value=defaults.confidence,
                                              label="Confidence from")
                        threshold = gr.Slider(0.05, 1, defaults.threshold, step=0.05,
                                              label="Threshold ρ (threshold policy)")
                run_btn = gr.Button("Run", variant="primary", interactive=sample is not None, elem_id="sx-run")
                runs_info = gr.Markdown("" if sample else "*No model available: sampling is off; replay examples "
                                                          "or uploaded traces.*", elem_id="sx-runs")
                with gr.Accordion("Examples and trace files", open=True):
                    examples = io.list_examples()
                    example = gr.Dropdown(examples, value=examples[0] if examples else None, label="Recorded example")
                    example_btn = gr.Button("Load example", size="sm")
                    upload = gr.UploadButton("Upload trace JSON(s)", file_count="multiple", file_types=[".json"],
                                             size="sm", elem_id="sx-upload")
                    download = gr.File(file_count="multiple", label="Download the loaded traces", interactive=False)
                gr.Markdown(TEACHING)
            with gr.Column(scale=3):
                with gr.Row(elem_id="sx-transport"):
                    cursor = gr.Slider(0, 1, 0, step=1, precision=0, label="Step", scale=5, elem_id="sx-cursor")
                    prev_btn = gr.Button("‹ prev", size="sm", scale=0, elem_id="sx-prev")
                    play_btn = gr.Button("▶ Play", size="sm", scale=0, elem_id="sx-play")
                    next_btn = gr.Button("next ›", size="sm", scale=0, elem_id="sx-next")
                    speed = gr.Dropdown([(f"{s} steps/s", s) for s in SPEEDS], value=4, label="Speed", scale=1)
                with gr.Row():
                    particle = gr.Dropdown([], label="Particle (lineage, heatmap)", scale=1, elem_id="sx-particle")
                    baseline = gr.Radio([], label="Baseline canvas", scale=1)
                gr.HTML(legend_html())
                with gr.Row():
                    main_canvas = gr.HTML(elem_id="sx-main-canvas", scale=3)
                    base_canvas = gr.HTML(elem_id="sx-base-canvas", scale=2)
                with gr.Row():
                    tree = gr.Plot(label="Genealogy", elem_id="sx-tree")
                    ess = gr.Plot(label="ESS", elem_id="sx-ess")
                with gr.Row():
                    weights = gr.Plot(label="Weights", elem_id="sx-weights")
                    heatmap = gr.Plot(label="Commit heatmap", elem_id="sx-heatmap")
        runs_table = gr.Dataframe(label="Runs compared", interactive=False, max_height=620, elem_id="sx-summary")
        particles_table = gr.Dataframe(label="Final particles", wrap=True, interactive=False, max_height=360)
        timer = gr.Timer(tick_plan(4)[0], active=False)

        settings = [prompt, model, n_particles, temperature, gen_length, steps, block_length, policy, ess_threshold,
                    resampling, seed, best_of_n, resample_when, resample_every, final_pick, confidence, threshold]
        loaded_outputs = [runs_state, cursor, particle, baseline, runs_table, particles_table, download, runs_info]
        view_inputs = [runs_state, cursor, particle, baseline]
        views = [main_canvas, base_canvas, tree, ess, weights, heatmap]
        playback = dict(concurrency_limit=None, show_progress="hidden")

        @user_errors
        def on_run(prompt, model, n_particles, temperature, gen_length, steps, block_length, policy, ess_threshold,
                   resampling, seed, best_of_n, resample_when, resample_every, final_pick, confidence, threshold,
                   progress=gr.Progress()):
            if sample is None:
                raise gr.Error("No model is available in this app: load an example or upload a trace instead.")
            traces = sample(dict(
                prompt=prompt, model=model, n_particles=n_particles, temperature=temperature, gen_length=gen_length,
                steps=steps, block_length=block_length, policy=policy, ess_threshold=ess_threshold,
                resampling=resampling, seed=seed, best_of_n=best_of_n, resample_when=resample_when,
                resample_every=resample_every, final_pick=final_pick, confidence=confidence, threshold=threshold),
                progress)
            return loaded({role: Run.from_trace(trace) for role, trace in traces.items()})

        @user_errors
        def on_example(name):
            if not name:
                raise gr.Error("Pick an example first.")
            return loaded(io.load_example(name))

        @user_errors
        def on_upload(files):
            if not files:
                raise gr.Error("No file received.")
            return loaded(*io.load_runs(files))

        on_render = user_errors(render)

        def on_step(runs, t, delta):
            main = main_run(runs)
            return min(max((t or 0) + delta, 0), main.n_steps if main else 0)

        def on_play(is_playing, runs, t, speed):
            main = main_run(runs)
            if is_playing or main is None:
                return False, gr.Timer(active=False), "▶ Play", t
            start = 0 if (t or 0) >= main.n_steps else t
            return True, gr.Timer(tick_plan(speed)[0], active=True), "⏸ Pause", start

        def on_tick(runs, t, speed):
            main = main_run(runs)
            if main is None or (t or 0) >= main.n_steps:
                return t, gr.Timer(active=False), False, "▶ Play"
            return min((t or 0) + tick_plan(speed)[1], main.n_steps), gr.skip(), gr.skip(), gr.skip()

        # first, so that the public endpoint gets the plain name "render"
        cursor.change(on_render, view_inputs, views, api_name="render", trigger_mode="always_last", **playback)
        run_btn.click(on_run, settings, loaded_outputs, api_name="sample", concurrency_limit=max_concurrent_runs,
                      concurrency_id="sampling", show_progress_on=main_canvas).then(
            on_render, view_inputs, views, api_visibility="private", **playback)
        example_btn.click(on_example, example, loaded_outputs, api_name="load_example", **playback).then(
            on_render, view_inputs, views, api_visibility="private", **playback)
        upload.upload(on_upload, upload, loaded_outputs, api_name="load_traces", **playback).then(
            on_render, view_inputs, views, api_visibility="private", **playback)
        for picker in (particle, baseline):
            picker.input(on_render, view_inputs, views, api_visibility="private", trigger_mode="always_last",
                         **playback)
        prev_btn.click(lambda r, t: on_step(r, t, -1), [runs_state, cursor], cursor, api_visibility="private",
                       **playback)
        next_btn.click(lambda r, t: on_step(r, t, 1), [runs_state, cursor], cursor, api_visibility="private",
                       **playback)
        play_btn.click(on_play, [playing, runs_state, cursor, speed], [playing, timer, play_btn, cursor],
                       api_visibility="private", **playback)
        timer.tick(on_tick, [runs_state, cursor, speed], [cursor, timer, playing, play_btn],
                   api_visibility="private", trigger_mode="once", **playback)
        speed.change(lambda s, p: gr.Timer(tick_plan(s)[0], active=p), [speed, playing], timer,
                     api_visibility="private", **playback)
        if examples:
            demo.load(on_example, example, loaded_outputs, api_visibility="private", **playback).then(
                on_render, view_inputs, views, api_visibility="private", **playback)
    return demo


def launch_kwargs() -> dict:
    """The `launch()` arguments the page needs (Gradio 6 takes CSS and head there)."""
    return dict(css=CSS, head=KEYS_JS, max_file_size="20mb")
