"""Issue 18 through a real server: raw API values refused by name, bounded upload requests, and a cache that
holds no empty temporary files or empty folders after many uploads and runs."""
import http.client
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

import pytest

from explorer.io import sweep_cache
from explorer.limits import Limits
from tests.explorer.conftest import record

gradio_client = pytest.importorskip("gradio_client")

REPO = Path(__file__).resolve().parents[1]
TINY = dict(prompt="It is a truth", model="austen-mdlm", n_particles=2, temperature=1.0, gen_length=4, steps=4,
            block_length=4, seed=1)


@pytest.fixture(scope="module")
def own_app(tmp_path_factory):
    """`python app.py` with its own Gradio cache folder, so its files can be counted: `(url, cache)`."""
    if not (REPO / "assets" / "austen-mdlm" / "model.safetensors").exists():
        pytest.skip("the default model's weights are missing")
    cache = tmp_path_factory.mktemp("gradio-cache")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "GRADIO_TEMP_DIR": str(cache), "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    log = (tmp_path_factory.mktemp("log") / "app.log").open("w")
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--threads", "1"], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, f"app.py exited with code {proc.returncode}"
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                assert time.monotonic() < deadline, "app.py did not serve within 120 s"
                time.sleep(0.5)
        yield url, cache
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def client(url):
    return gradio_client.Client(url, verbose=False, analytics_enabled=False)


def raw_sample(url: str, **changes) -> str:
    """POST /sample's values as JSON text the client library will not write (NaN, Infinity); the error text."""
    params = client(url).view_api(print_info=False, return_format="dict")["named_endpoints"]["/sample"]["parameters"]
    values = {**{p["parameter_name"]: p.get("parameter_default") for p in params}, **TINY, **changes}
    # json writes NaN and Infinity (allow_nan), as a hostile client would
    body = json.dumps({"data": [values[p["parameter_name"]] for p in params]}).encode()
    request = urllib.request.Request(f"{url}/gradio_api/call/sample", body, {"Content-Type": "application/json"})
    event = json.loads(urllib.request.urlopen(request, timeout=30).read())["event_id"]
    return urllib.request.urlopen(f"{url}/gradio_api/call/sample/{event}", timeout=120).read().decode()


@pytest.mark.parametrize("changes, message", [
    (dict(n_particles=float("nan")), "n particles = nan: must be a finite number"),
    (dict(n_particles="4"), "n particles = &#x27;4&#x27;: must be a number|n particles = '4': must be a number"),
    (dict(n_particles=2.5), "n particles = 2.5: must be a whole number"),
    (dict(temperature="hot"), "temperature = .*hot.*: must be a number"),
    (dict(seed=float("inf")), "seed = inf: must be a finite number"),
    (dict(seed=10**30), "seed = .*: must be a whole number of at most 2\\^63"),
])
def test_the_raw_api_refuses_non_numbers_by_name(own_app, changes, message):
    answer = raw_sample(own_app[0], **changes)
    assert "event: error" in answer and re.search(message, answer), answer


def test_an_upload_request_over_the_limit_is_refused_before_it_is_read(own_app):
    host = urlparse(own_app[0])
    conn = http.client.HTTPConnection(host.hostname, host.port, timeout=30)
    conn.putrequest("POST", "/gradio_api/upload")
    conn.putheader("Content-Type", "multipart/form-data; boundary=x")
    conn.putheader("Content-Length", str(Limits().upload_request_bytes + 1))
    conn.endheaders()
    response = conn.getresponse()
    assert response.status == 413 and b"at most" in response.read()


def test_more_trace_files_than_kinds_of_run_are_refused(own_app, tmp_path):
    path = record(n_particles=2).save(tmp_path / "a.json")
    with pytest.raises(gradio_client.exceptions.AppError, match="4 files: load at most 3 at once"):
        client(own_app[0]).predict([gradio_client.handle_file(str(path))] * 4, api_name="/load_traces")


def test_many_uploads_and_runs_leave_no_empty_files_or_folders(own_app, tmp_path):
    url, cache = own_app
    c = client(url)
    paths = [record(n_particles=2, seed=seed).save(tmp_path / f"t{seed}.json") for seed in range(4)]
    for i in range(100):
        path = paths[i % 4]
        view = c.predict([gradio_client.handle_file(str(path))], api_name="/load_traces")[0]
        assert set(view["runs"]) == {"sr-smc"}
    for seed in range(3):
        c.predict(**{**TINY, "seed": seed}, api_name="/sample")
    files = [p for p in cache.rglob("*") if p.is_file()]
    folders = [p for p in cache.rglob("*") if p.is_dir() and p.name != "vibe_edit_history"]  # Gradio's own
    assert [p for p in files if p.stat().st_size == 0] == []  # was one empty tmp* file per upload
    assert [p for p in folders if not any(p.iterdir())] == []
    # per upload: Gradio's copy (a folder by content hash) and our download folder; per run, a download folder
    # of two traces. Gradio's delete_cache and `sweep_cache` remove them after 15 minutes.
    assert len(folders) <= 2 * 100 + 3 and len(files) <= 2 * 100 + 2 * 3


def test_sweep_removes_emptied_folders_and_stale_empty_temp_files(tmp_path):
    emptied, kept, download = tmp_path / ("a" * 64), tmp_path / ("b" * 64), tmp_path / ("sr-smc-" + "c" * 32)
    for folder in (emptied, kept, download):
        folder.mkdir()
    (kept / "upload.json").write_text("{}")
    (download / "sr-smc.json").write_text("{}")
    (tmp_path / "tmpabc123").write_bytes(b"")
    (tmp_path / "tmpfull").write_bytes(b"x")
    other = tmp_path / "vibe_edit_history"
    other.mkdir()
    old = time.time() - 100
    for p in tmp_path.iterdir():
        os.utime(p, (old, old))
    fresh = tmp_path / ("d" * 64)
    fresh.mkdir()
    sweep_cache(tmp_path, max_age_s=50)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([kept.name, "tmpfull", "vibe_edit_history",
                                                                 fresh.name])
