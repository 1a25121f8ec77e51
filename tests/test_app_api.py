"""The app's named API endpoints through gradio_client: sample, bad input, playback beside sampling."""
import threading
import time

import pytest

from sampler.trace import Trace
from tests.explorer.conftest import record

gradio_client = pytest.importorskip("gradio_client")

SETTINGS = dict(prompt="It is a truth universally acknowledged", model="austen-mdlm", n_particles=4, temperature=1.0,
                gen_length=32, steps=16, block_length=16, policy="topk", ess_threshold=0.5, resampling="systematic",
                seed=7, best_of_n=True, resample_when="every_step", resample_every=1, final_pick="sum_logp",
                confidence="untempered", threshold=0.9)


@pytest.fixture(scope="module")
def client(app_url):
    return gradio_client.Client(app_url, verbose=False, analytics_enabled=False)


def test_sample_endpoint_returns_tables_and_trace_files(client):
    cursor, particle, baseline, table, particles, files, info = client.predict(**SETTINGS, api_name="/sample")
    assert cursor["value"] == cursor["maximum"] == 16 and baseline["value"] == "greedy"
    assert table["headers"] == ["measure", "SR-SMC", "best-of-N", "greedy"]
    rows = {row[0]: row[1:] for row in table["data"]}
    assert rows["particles N"] == [4, 4, 1] and rows["forwards"] == [64, 64, 16]
    assert rows["resamples"][1] == 0  # best-of-N never resamples
    assert len(particles["data"]) == 4 + 4 + 1
    traces = {Trace.load(f).config["method"] + str(Trace.load(f).n_particles): Trace.load(f) for f in files}
    assert set(traces) == {"smc4", "best_of_n4", "smc1"}
    assert all(t.config["seed"] == 7 and t.prompts == [SETTINGS["prompt"]] for t in traces.values())
    assert "SR-SMC" in info and "best-of-N" in info


@pytest.mark.parametrize("changes, message", [
    (dict(steps=15), "steps = 15"),
    (dict(n_particles=64, gen_length=512, steps=512, block_length=512), "particles × steps"),
    (dict(model="nope"), "nope is not in the list of choices"),  # Gradio's own check
    (dict(n_particles=65), "65"),  # the slider's range check
])
def test_bad_requests_name_the_problem(client, changes, message):
    with pytest.raises(gradio_client.exceptions.AppError, match=message):
        client.predict(**{**SETTINGS, **changes}, api_name="/sample")


def test_playback_does_not_wait_behind_sampling(app_url, tmp_path):
    """While one client samples, another loads a trace and moves the cursor."""
    sampler = gradio_client.Client(app_url, verbose=False, analytics_enabled=False)
    viewer = gradio_client.Client(app_url, verbose=False, analytics_enabled=False)
    job = sampler.submit(**{**SETTINGS, "n_particles": 8, "gen_length": 64, "steps": 64, "block_length": 64,
                            "best_of_n": False}, api_name="/sample")  # several seconds on one CPU thread
    deadline = time.monotonic() + 60
    while job.status().code.name not in ("PROCESSING", "PROGRESS"):
        assert time.monotonic() < deadline, "the sampling job never started"
        time.sleep(0.1)
    path = record(n_particles=3).save(tmp_path / "toy.json")
    viewed = {}

    def view():
        viewer.predict([gradio_client.handle_file(str(path))], api_name="/load_traces")
        viewed["canvas"] = viewer.predict(t=5, particle=0, baseline=None, api_name="/render")[0]
        viewed["sampling still running"] = not job.done()

    worker = threading.Thread(target=view)
    worker.start()
    worker.join(timeout=60)
    assert 'data-step="5"' in viewed["canvas"]
    assert viewed["sampling still running"], "playback should finish while the sampling job runs"
    assert job.result(timeout=300)[0]["value"] == 64
