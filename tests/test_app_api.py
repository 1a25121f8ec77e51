"""The app's named API endpoints through gradio_client: sample, bad input, loading beside sampling, cancel."""
import re
import time
from pathlib import Path

import pytest

from sampler.trace import Trace
from tests.explorer.conftest import record

gradio_client = pytest.importorskip("gradio_client")

SETTINGS = dict(prompt="It is a truth universally acknowledged", model="austen-mdlm", n_particles=4, temperature=1.0,
                gen_length=32, steps=16, block_length=16, policy="topk", ess_threshold=0.5, resampling="systematic",
                seed=7, best_of_n=True, resample_when="every_step", resample_every=1, final_pick="sum_logp",
                confidence="untempered", threshold=0.9)
LONG_RUN = {**SETTINGS, "n_particles": 8, "gen_length": 64, "steps": 64, "block_length": 64, "best_of_n": False}


def client(url):
    return gradio_client.Client(url, verbose=False, analytics_enabled=False)


def wait_until_running(job, seconds=60):
    deadline = time.monotonic() + seconds
    while job.status().code.name not in ("PROCESSING", "ITERATING", "PROGRESS"):
        assert time.monotonic() < deadline, "the sampling job never started"
        time.sleep(0.05)


def test_sample_endpoint_returns_the_runs_and_trace_files(app_url):
    view, status, description, files, html_file = client(app_url).predict(**SETTINGS, api_name="/sample")
    assert set(view["runs"]) == {"greedy", "sr-smc", "best-of-n"} and view["live"] is False
    assert status == f"Done: {16 * (1 + 4 + 4):,} rows × steps."  # progress counts rows × steps of all runs
    shown = re.sub(r"\\(.)", r"\1", description)  # the description as Markdown renders it
    assert "SR-SMC" in shown and "best-of-N" in shown
    assert html_file is None or html_file.get("value") is None  # no export until one is asked for
    traces = {Trace.load(f).config["method"] + str(Trace.load(f).n_particles): Trace.load(f) for f in files}
    assert set(traces) == {"smc4", "best_of_n4", "smc1"}
    assert all(t.config["seed"] == 7 and t.prompts == [SETTINGS["prompt"]] for t in traces.values())
    assert traces["best_of_n4"].resample_steps() == []


@pytest.mark.parametrize("changes, message", [
    (dict(steps=15), "steps = 15"),
    (dict(n_particles=64, gen_length=512, steps=512, block_length=512), "this Run would cost"),
    (dict(model="nope"), "nope is not in the list of choices"),  # Gradio's own check
    (dict(n_particles=65), "65"),  # the slider's range check
])
def test_bad_requests_name_the_problem(app_url, changes, message):
    with pytest.raises(gradio_client.exceptions.AppError, match=message):
        client(app_url).predict(**{**SETTINGS, **changes}, api_name="/sample")


def test_loading_does_not_wait_behind_sampling(app_url, tmp_path):
    """While one client samples, another loads a trace."""
    job = client(app_url).submit(**LONG_RUN, api_name="/sample")  # several seconds on one CPU thread
    wait_until_running(job)
    path = record(n_particles=3).save(tmp_path / "toy.json")
    view = client(app_url).predict([gradio_client.handle_file(str(path))], api_name="/load_traces")[0]
    assert not job.done(), "loading should finish while the sampling job runs"
    assert set(view["runs"]) == {"sr-smc"} and view["runs"]["sr-smc"]["steps"]["n"] == 16
    assert job.result(timeout=300)[0]["runs"]["sr-smc"]["config"]["n_particles"] == 8


def test_cancelling_a_run_stops_its_decode_within_a_second(app_server):
    log = Path(__file__).resolve().parents[1] / "test-output" / "app.log"  # the app_server fixture's log
    before = log.read_text().count("run cancelled")
    job = client(app_server.url).submit(**LONG_RUN, api_name="/sample")
    wait_until_running(job)
    time.sleep(0.5)  # into the decode
    job.cancel()
    cancelled = time.monotonic()
    while log.read_text().count("run cancelled") == before:  # the decode thread's last words
        assert time.monotonic() - cancelled < 1.0, "the decode still runs a second after the cancel"
        time.sleep(0.02)


def test_branch_endpoint_continues_a_run_with_changed_settings(app_url):
    import json

    from sampler.config import SamplerConfig
    from sampler.models import load_model
    from sampler.smc import decode

    parent = decode(load_model("austen-mdlm"), SamplerConfig(prompts=(SETTINGS["prompt"],), gen_length=16, steps=8,
                                                             block_length=8, n_particles=3, seed=2)).trace
    text = json.dumps(parent.to_dict())
    out = client(app_url).predict(trace=text, step=4, settings={"temperature": 0.5}, api_name="/branch")
    branch = Trace.from_dict(out["trace"])
    assert branch.parent == {"run_id": parent.run_id, "step": 4} and branch.steps[:4] == parent.steps[:4]
    assert branch.config["temperature"] == 0.5 and set(out["view"]["runs"]) == {"sr-smc"}
    same = client(app_url).predict(trace=text, step=4, settings={}, api_name="/branch")["trace"]
    assert Trace.from_dict(same).steps == parent.steps  # unchanged settings: the run again
    with pytest.raises(gradio_client.exceptions.AppError, match="gen_length = 32: a branch cannot change it"):
        client(app_url).predict(trace=text, step=4, settings={"gen_length": 32}, api_name="/branch")
    grown = client(app_url).predict(trace=text, step=4, settings={"n_particles": 5}, api_name="/branch")
    branch = Trace.from_dict(grown["trace"])  # the parent's 3 particles and 2 copies drawn by weight
    assert branch.parent == {"run_id": parent.run_id, "step": 4, "n_particles": 3} and branch.n_particles == 5
    assert branch.parent_steps() == parent.steps[:4] and len(grown["view"]["runs"]["sr-smc"]["final"]["texts"][0]) == 5
    with pytest.raises(gradio_client.exceptions.AppError, match="n_particles = 2: a branch keeps the run's N = 3"):
        client(app_url).predict(trace=text, step=4, settings={"n_particles": 2}, api_name="/branch")
    with pytest.raises(gradio_client.exceptions.AppError, match="particles N' = 65: this app allows at most 64"):
        client(app_url).predict(trace=text, step=4, settings={"n_particles": 65}, api_name="/branch")
