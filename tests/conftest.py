"""Shared pytest setup: the `hub` marker for tests that need the real Hugging Face hub."""
import os

import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "hub: needs the real Hugging Face hub and model weights; "
                                       "runs only with SRSMC_HUB_TESTS=1")


def pytest_collection_modifyitems(config, items):
    if os.environ.get("SRSMC_HUB_TESTS") == "1":
        return
    skip = pytest.mark.skip(reason="real hub test: set SRSMC_HUB_TESTS=1 to run it")
    for item in items:
        if "hub" in item.keywords:
            item.add_marker(skip)


# ----- the explorer app, served for the browser and API tests ---------------------------------
@pytest.fixture(scope="session")
def app_server():
    """`python app.py` on the default model, started on a free port: `.url` and `.pid`; its log goes to
    test-output/app.log. Skipped when the default model's weights are not there."""
    import socket
    import subprocess
    import sys
    import time
    import types
    import urllib.request
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    if not (repo / "assets" / "austen-mdlm" / "model.safetensors").exists():
        pytest.skip("assets/austen-mdlm/model.safetensors is missing: train the default model first "
                    "(python -m training.train_mdlm)")
    out = repo / "test-output"
    out.mkdir(exist_ok=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = (out / "app.log").open("w")
    env = {**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1"}
    # --max-cost: room for a run long enough for the Stop test to stop mid-way
    proc = subprocess.Popen([sys.executable, "app.py", "--port", str(port), "--threads", "1", "--max-cost", "2000000"],
                            cwd=repo, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    try:
        while True:
            if proc.poll() is not None:
                pytest.fail(f"app.py exited with code {proc.returncode}: see test-output/app.log")
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline:
                    pytest.fail("app.py did not serve within 120 s: see test-output/app.log")
                time.sleep(0.5)
        assert url in (out / "app.log").read_text()  # the printed local URL
        yield types.SimpleNamespace(url=url, pid=proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="session")
def app_url(app_server):
    return app_server.url
