"""The page's handlers without a browser: streaming runs, state kept on failure, panel filled from traces,
escaping, help texts, downloads in Gradio's cache."""
import inspect
import os
import re
import time
from datetime import date
from pathlib import Path

import gradio as gr
import pytest
from gradio.utils import get_upload_folder

from app import Sampler
from explorer import io
from explorer.limits import Limits
from explorer.ui import (STREAM_INTERVAL_S, build_ui, cache_folder, describe, export_names, live_interval,
                         settings_line, user_errors)
from sampler.config import SamplerConfig
from sampler.models.toy import BigramToy
from tests.explorer.conftest import one_torch_thread
from tests.explorer.test_sampling import SETTINGS, SlowToy


class FailingToy(BigramToy):
    """Fails on its `fail_at`-th forward, like a model running out of memory mid-run."""

    def __init__(self, fail_at: int):
        super().__init__()
        self.fail_at = fail_at

    def logits(self, x, attention_mask=None):
        if len(self.calls) + 1 >= self.fail_at:
            raise ValueError("out of memory (simulated)")
        return super().logits(x, attention_mask)


def handler(demo: gr.Blocks, api_name: str):
    return next(d for d in demo.fns.values() if d.api_name == api_name)


def page(model=None, **kw) -> gr.Blocks:
    return build_ui(Sampler({"toy": model or BigramToy()}, Limits()), ["toy"], **kw)


def values(demo, **changes) -> list:
    """The Run handler's inputs after the state, in its order (its parameters are named by setting)."""
    names = list(inspect.signature(handler(demo, "sample").fn).parameters)[1:-1]  # after the state, before the request
    settings = {**SETTINGS, **changes}
    defaults = {c_name: c.value for c_name, c in zip(names, handler(demo, "sample").inputs[1:])}
    return [settings.get(n, defaults[n]) for n in names]


def run(demo, previous, **changes):
    """Every output the Run handler yields, in order."""
    with one_torch_thread():
        return list(handler(demo, "sample").fn(previous, *values(demo, **changes), None))


def test_run_streams_live_payloads_then_replaces_the_runs():
    outputs = run(page(SlowToy(0.05)), {}, best_of_n=False)
    *live, final = outputs
    assert live, "no partial update while the run sampled"
    for state, view, status, *_ in live:
        assert state == gr.skip()  # the runs are replaced only at the end
        assert view == gr.skip() or view["live"] is True
        assert "Sampling" in status and "rows × steps" in status
    views = [v for _, v, *_ in live if v != gr.skip()]
    # SR-SMC decodes first, and no live payload comes before its first step (the player would say "nothing loaded")
    assert views and all(v["runs"]["sr-smc"]["steps"]["n"] >= 1 for v in views)
    assert any(v["runs"]["sr-smc"]["steps"]["n"] < 8 for v in views)  # mid-run
    state, view, status, description, files, html_file = final
    assert set(state) == {"greedy", "sr-smc"} and view["live"] is False and set(view["runs"]) == set(state)
    assert "Done: 32 rows × steps" in status and "SR-SMC" in description
    assert [Path(f).name for f in files] == ["sr-smc.json", "greedy.json"]
    assert all(Path(f).is_relative_to(get_upload_folder()) for f in files)  # delete_cache owns them


def test_live_payloads_are_spaced_by_their_size():
    assert live_interval({"runs": {}}) == STREAM_INTERVAL_S
    assert live_interval({"x": "y" * 150_000}) == pytest.approx(1.5, rel=0.01)  # 150 KB: 1.5 s


def test_a_rejected_request_changes_nothing():
    demo = page()
    gen = handler(demo, "sample").fn({"sr-smc": "earlier"}, *values(demo, steps=5), None)
    with pytest.raises(gr.Error, match="steps = 5"):
        next(gen)  # raised before the first output: state, player and settings stay


def test_a_run_failing_midway_puts_the_earlier_runs_back(smc_trace):
    demo = page(FailingToy(fail_at=12))
    with pytest.raises(gr.Error, match="out of memory"):
        outputs = []
        with one_torch_thread():
            for out in handler(demo, "sample").fn({"sr-smc": smc_trace}, *values(demo), None):
                outputs.append(out)
    state, view, status, *_ = outputs[-1]
    assert state == gr.skip() and view["live"] is False and "failed" in view["notes"][0]
    assert view["runs"]["sr-smc"]["steps"]["scalars"]["step"][-1] == smc_trace.n_steps  # the earlier run, complete


def test_loading_an_example_fills_the_run_panel_with_its_settings():
    examples = io.list_examples()
    if not examples:
        pytest.skip("no shipped examples")
    demo = page()
    name = next((e for e in examples if "threshold" in e), examples[0])
    state, view, description, files, html_file, *panel = handler(demo, "load_example").fn(name)
    main = state.get("sr-smc")
    config = main.config
    inputs = handler(demo, "sample").inputs[1:]  # after the state
    values = dict(zip([c.label for c in inputs], panel))
    assert values["Prompt"] == main.prompts[0]
    assert values["Particles N"] == main.n_particles and values["Seed"] == config["seed"]
    assert values["Unmasking policy"] == config["policy"] and values["Also run best-of-N"] == ("best-of-n" in state)
    assert values["Model"] == gr.skip()  # austen-mdlm is not offered by this toy page: the picker stays
    assert view["live"] is False and set(view["runs"]) == set(state) and len(files) == len(state)


def test_trace_fields_are_escaped_in_the_description(smc_trace):
    import dataclasses
    hostile = dataclasses.replace(smc_trace, model='<img src=x onerror="alert(1)">*bold*',
                                  config={**smc_trace.config, "seed": "[link](http://x)"})
    text = describe({"sr-smc": hostile})
    assert "<img" not in text and "&lt;img" in text
    assert "\\*bold\\*" in text and "\\[link\\]" in text


def test_the_description_says_which_prompt_template_a_run_used(smc_trace):
    import dataclasses
    for used, words in ((True, "chat template"), (False, "plain prompt")):
        trace = dataclasses.replace(smc_trace, config={**smc_trace.config, "chat_template": used})
        assert words in describe({"sr-smc": trace})


def test_user_errors_become_named_gr_errors_in_functions_and_generators():
    @user_errors
    def bad():
        raise ValueError("steps = 3: must be a multiple")

    @user_errors
    def bad_stream():
        yield 1
        raise KeyError("trace")
    with pytest.raises(gr.Error, match="steps = 3: must be a multiple"):
        bad()

    @user_errors
    def hostile():
        raise ValueError("config.policy = '<img src=x>': must be one of topk")
    with pytest.raises(gr.Error, match="config.policy = '&lt;img src=x&gt;'"):  # toasts render HTML
        hostile()
    stream = bad_stream()
    assert next(stream) == 1
    with pytest.raises(gr.Error, match="trace"):
        next(stream)


def test_every_setting_has_one_line_of_help_and_steps_follow_the_policy():
    demo = page()
    for component in handler(demo, "sample").inputs[1:]:
        assert component.info and "\n" not in component.info, component.label
    policy_change = next(d for d in demo.fns.values() if [c.label for c in d.inputs] == ["Unmasking policy"])
    assert policy_change.fn("threshold").interactive is False
    assert policy_change.fn("topk").interactive is True


def test_page_exposes_the_named_endpoints_and_cleans_its_cache():
    demo = page()
    public = {d.api_name for d in demo.fns.values() if d.api_visibility == "public"}
    assert public == {"sample", "load_example", "load_traces", "export_html"}
    sample = handler(demo, "sample")
    assert sample.concurrency_id == "sampling" and sample.concurrency_limit == 1
    for name in ("load_example", "load_traces", "export_html"):
        assert handler(demo, name).concurrency_limit is None
    assert demo.delete_cache == (60, 900)


def test_html_export_is_written_on_request_into_the_cache(smc_trace):
    demo = page()
    with pytest.raises(gr.Error, match="Nothing loaded yet"):
        handler(demo, "export_html").fn({})
    update = handler(demo, "export_html").fn({"sr-smc": smc_trace})
    path = Path(update["value"])
    assert update["visible"] and path.is_relative_to(get_upload_folder())
    html = path.read_text()
    assert html.startswith("<!doctype html>")
    title, name = export_names({"sr-smc": smc_trace})
    assert path.name == name and name.startswith("sr-smc-the-cat-") and name.endswith(f"{date.today()}.html")
    assert f"<title>{title}</title>" in html and "the cat" in title and settings_line({"sr-smc": smc_trace}).replace("<", "&lt;") in html


def test_export_names_carry_the_prompt_and_date_sanitised(smc_trace):
    import dataclasses
    hostile = dataclasses.replace(smc_trace, prompts=['../../etc/<b>"Mr.\tDarcy"</b>\x00 ' + "x" * 200])
    title, name = export_names({"sr-smc": hostile}, today=date(2026, 1, 2))
    assert re.fullmatch(r"sr-smc-[a-z0-9-]+-2026-01-02\.html", name) and len(name) < 80
    assert "\x00" not in title and "\t" not in title and title.endswith("(2026-01-02)") and "…" in title


def test_cache_folder_removes_folders_older_than_the_age(tmp_path, monkeypatch):
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    old, recent = cache_folder(), cache_folder()
    (old / "sr-smc.json").write_text("{}")
    os.utime(old, (time.time() - 100, time.time() - 100))
    new = cache_folder(max_age_s=50)
    assert not old.exists() and recent.exists() and new.exists()


def test_knobs_beyond_the_paper_default_to_the_paper_and_reach_the_sampler():
    demo = page()
    inputs = {c.label: c for c in handler(demo, "sample").inputs[1:]}
    defaults = SamplerConfig()
    assert inputs["Reward weight"].value == defaults.reward_weight == 1.0
    assert inputs["Repetition penalty"].value == defaults.repetition_penalty == 1.0
    assert inputs["No repeat ngram"].value == defaults.no_repeat_ngram == 0
    assert inputs["Chat template"].value == "auto" and defaults.chat_template is None
    *_, (state, *rest) = run(demo, {}, reward_weight=0.5, no_repeat_ngram=3, chat_template="off")
    config = state["sr-smc"].config
    assert (config["reward_weight"], config["no_repeat_ngram"], config["chat_template"]) == (0.5, 3, False)


def test_temp_disk_stays_bounded_over_100_runs(tmp_path, monkeypatch):
    """Every Run writes its trace files; those older than the page's age go when the next run writes."""
    gradio_client = pytest.importorskip("gradio_client")
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    demo = page(delete_cache=(1, 1))
    demo.queue().launch(prevent_thread_lock=True, quiet=True, server_name="127.0.0.1")
    try:
        client = gradio_client.Client(demo.local_url, verbose=False, analytics_enabled=False,
                                      download_files=False)
        args = values(demo, gen_length=4, steps=2, block_length=4, n_particles=2, best_of_n=False)
        folders, size = [], []
        start = time.monotonic()
        for _ in range(100):
            client.predict(*args, api_name="/sample")
            folders.append(len(list(tmp_path.glob("sr-smc-*"))))
            size.append(sum(f.stat().st_size for f in tmp_path.rglob("*") if f.is_file()))
        per_second = 100 / (time.monotonic() - start)
    finally:
        demo.close()
    assert max(folders) <= 2 + 2 * per_second  # about one second of runs (age 1 s), not 100
    assert max(size) <= max(folders) * size[0] * 1.05  # files differ by a few bytes (wall time digits)


def test_run_after_loading_traces_reproduces_them(tmp_path):
    """Upload fills the run panel with the settings that made the traces; Run then makes the same traces."""
    toy = BigramToy()
    demo = build_ui(Sampler({toy.name: toy}, Limits()), [toy.name])
    settings = {**SETTINGS, "model": toy.name, "resampling": "stratified", "seed": 11, "temperature": 0.7,
                "best_of_n": True}
    with one_torch_thread():
        original = Sampler({toy.name: toy}, Limits()).start(settings).result()
    paths = [str(t.save(tmp_path / f"{role}.json")) for role, t in original.items()]
    state, view, description, files, html_file, *panel = handler(demo, "load_traces").fn(paths)
    inputs = handler(demo, "sample").inputs[1:]
    filled = [c.value if v == gr.skip() else v for c, v in zip(inputs, panel)]
    with one_torch_thread():
        *_, (again, *rest) = handler(demo, "sample").fn(state, *filled, None)
    assert set(again) == set(original)
    for role, trace in original.items():
        assert again[role].config == trace.config and again[role].steps == trace.steps
        assert again[role].final["texts"] == trace.final["texts"]


def test_the_cost_line_counts_the_run_and_names_what_would_fit():
    from app import Rate
    from explorer.ui import cost_line
    limits = Limits(max_cost=100_000)
    sampler = Sampler({"toy": BigramToy()}, limits)
    small = {**SETTINGS, "model": "toy", "best_of_n": False}
    assert cost_line(sampler, limits, small).startswith("Cost: ")
    assert "of 100,000 cell-steps" in cost_line(sampler, limits, small) and "no time estimate" in cost_line(
        sampler, limits, small)
    sampler.rates["toy"] = Rate(1000.0, "a test")
    assert "s here (speed measured by a test)" in cost_line(sampler, limits, small)
    shown = re.sub(r"\\(.)", r"\1", cost_line(sampler, limits, {**small, "steps": 5}))  # as Markdown renders it
    assert shown.startswith("⚠ Run would refuse this: steps = 5")

    big = {**small, "n_particles": 32, "gen_length": 64, "steps": 32, "block_length": 32, "best_of_n": True}
    line = cost_line(sampler, limits, big)
    assert line.startswith("⚠ Over the limit") and "Would fit:" in line
    fits = dict(re.findall(r"(steps|N|gen length) ≤ (\d+)", line))
    assert set(fits) == {"steps", "N", "gen length"} and "best-of-N off" in line
    names = {"steps": "steps", "N": "n_particles", "gen length": "gen_length"}
    for label, value in fits.items():  # each fits; the next valid value up does not
        name, value = names[label], int(value)
        assert sampler.start({**big, name: value}).cancel() is None  # accepted: under the limit
        bigger = next(v for v in range(value + 1, big[name] + 1) if _valid({**big, name: v}))
        with pytest.raises(ValueError, match="this Run would cost"):
            sampler.start({**big, name: bigger})


def _valid(settings) -> bool:
    from explorer.request import RunRequest
    try:
        RunRequest.from_settings(settings)
    except ValueError:
        return False
    return True


def test_stop_ends_this_sessions_run_and_the_run_writes_the_stopped_page(smc_trace):
    import threading
    import types
    model = SlowToy(0.05)
    demo = page(model)
    stop = next(d.fn for d in demo.fns.values() if d.fn is not None and d.fn.__name__ == "stop")
    me, other = types.SimpleNamespace(session_hash="me"), types.SimpleNamespace(session_hash="other")
    stop(me)  # nothing runs: nothing happens
    outputs = []
    settings = values(demo, gen_length=64, steps=64, block_length=64, best_of_n=False)

    def consume():
        with one_torch_thread():
            outputs.extend(handler(demo, "sample").fn({"sr-smc": smc_trace}, *settings, me))
    thread = threading.Thread(target=consume)
    thread.start()
    while len(outputs) < 2:  # streaming
        time.sleep(0.02)
    stop(other)  # another page's Stop does not touch this run
    time.sleep(0.3)
    assert thread.is_alive()
    calls = len(model.calls)
    stop(me)
    thread.join(timeout=5)
    assert not thread.is_alive(), "the run did not end after Stop"
    assert len(model.calls) <= calls + 2  # the step in flight, at most one more
    state, view, status, *rest = outputs[-1]
    assert state == gr.skip() and rest == [gr.skip()] * 3  # the runs, description and files stay
    assert status.startswith("Stopped after") and view["notes"] == ["stopped: showing the runs loaded before"]
    assert view["runs"]["sr-smc"]["steps"]["scalars"]["step"][-1] == smc_trace.n_steps  # the earlier run, complete
    assert not any("Done" in str(o[2]) for o in outputs)


def test_stop_while_the_run_waits_in_the_queue_means_it_never_starts():
    import types
    model = SlowToy(0.05)
    demo = page(model)
    fn = {d.fn.__name__: d.fn for d in demo.fns.values() if d.fn is not None}
    me = types.SimpleNamespace(session_hash="me")
    fn["pressed"](me)  # Run pressed: its event waits in the queue
    fn["stop"](me)
    outputs = list(handler(demo, "sample").fn({}, *values(demo), me))
    assert [o[2] for o in outputs] == ["Stopped before it started; nothing changed."] and model.calls == []
    assert outputs[0][:2] == (gr.skip(), gr.skip())
    fn["pressed"](me)  # the next Run runs
    with one_torch_thread():
        *_, final = handler(demo, "sample").fn({}, *values(demo), me)
    assert final[2].startswith("Done")


def test_a_second_upload_of_one_kind_opens_the_comparison_and_names_what_differs(tmp_path, smc_trace, greedy_trace):
    from tests.explorer.conftest import record

    demo, other = page(), record(ess_threshold=0.9)
    upload = handler(demo, "load_traces").fn
    paths = [str(t.save(tmp_path / f"{name}.json")) for name, t in (("a", smc_trace), ("g", greedy_trace),
                                                                    ("b", other))]
    state, *_ = upload(paths[:2], {})
    state2, view, *_ = upload(paths[2:], state)
    assert state2 == {"sr-smc": smc_trace, "greedy": greedy_trace}  # the loaded runs stay, the new one beside
    assert view["compare"]["names"] == ["κ 0.5", "κ 0.9"] and "they differ in κ" in view["notes"][-1]
    with pytest.raises(gr.Error, match="run 2 answers another prompt"):
        upload([paths[0], str(record(prompts=("a dog",)).save(tmp_path / "c.json"))], state)
    one = Limits().trace_cost([smc_trace])
    tight_limits = Limits(max_trace_cost=2 * one)
    tight = build_ui(Sampler({"toy": BigramToy()}, tight_limits), ["toy"], tight_limits)
    upload_tight = handler(tight, "load_traces").fn
    state, *_ = upload_tight(paths[:1], {})
    with pytest.raises(gr.Error, match="cell-steps"):  # the new run and both loaded ones are replayed together
        upload_tight(paths[2:], {**state, "greedy": greedy_trace})


def test_a_branch_changes_the_settings_the_run_panel_holds_otherwise(smc_trace):
    from explorer.ui import branch_changes

    settings = {**smc_trace.config, "prompt": "x", "model": "m", "no_repeat_ngram": 4, "temperature": 0.5}
    assert branch_changes(smc_trace, settings) == {"no_repeat_ngram": 4, "temperature": 0.5}


def test_branch_here_shows_the_branch_beside_its_run_and_refusals_change_nothing(tmp_path):
    toy = BigramToy()
    demo = build_ui(Sampler({toy.name: toy}, Limits()), [toy.name])
    settings = {**SETTINGS, "model": toy.name}
    with one_torch_thread():
        original = Sampler({toy.name: toy}, Limits()).start(settings).result()
    paths = [str(t.save(tmp_path / f"{role}.json")) for role, t in original.items()]
    state, view, description, files, html_file, *panel = handler(demo, "load_traces").fn(paths)
    inputs = handler(demo, "sample").inputs[1:]
    values = {c.label: (c.value if v == gr.skip() else v) for c, v in zip(inputs, panel)}
    branch = next(d for d in demo.fns.values() if getattr(d.fn, "__name__", "") == "on_branch").fn

    def with_(**by_label):
        return [by_label.get(c.label, values[c.label]) for c in inputs]
    with pytest.raises(gr.Error, match="The run panel holds this run's settings"):
        branch("3", state, *with_())
    with pytest.raises(gr.Error, match="block_length = 4: a branch cannot change it"):
        branch("3", state, *with_(**{"Block length": 4}))
    with pytest.raises(gr.Error, match="step '3x'"):
        branch("3x", state, *with_(**{"Seed": 6}))
    with one_torch_thread():
        new_state, view, *_, status = branch("3", state, *with_(**{"Seed": 6}))
    assert new_state is state and view["compare"]["branch"] == {"run": 1, "parent": 0, "step": 3}
    assert view["compare"]["runs"][1]["config"]["seed"] == 6 and "seed 5 → 6" in status
