"""Traces recorded from the BigramToy denoiser, and headless chromium, for the explorer's tests."""
import json
import shutil
from contextlib import contextmanager
from pathlib import Path

import pytest
import torch

from sampler.config import SamplerConfig
from sampler.smc import decode
from sampler.models.toy import BigramToy

PROMPT = "the cat"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@contextmanager
def one_torch_thread():
    """Tiny forwards: one thread is fastest, and does not oversubscribe a shared CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def record(**changes):
    """The trace of one BigramToy run (defaults: N = 4, 32 tokens in 16 steps, τ = 1)."""
    settings = dict(prompts=(PROMPT,), gen_length=32, steps=16, block_length=16, n_particles=4, temperature=1.0,
                    seed=3)
    with one_torch_thread():
        return decode(BigramToy(), SamplerConfig(**{**settings, **changes})).trace


@pytest.fixture(scope="session")
def smc_trace():
    trace = record()
    assert trace.resample_steps(), "the fixture should resample at least once"
    return trace


@pytest.fixture(scope="session")
def greedy_trace():
    return record(n_particles=1)



@pytest.fixture(scope="module")
def browser():
    """Debian's chromium, headless, one per test module (skips where it or Playwright is missing)."""
    sync = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("chromium is not installed")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run"])
        yield b
        b.close()


def write_schema_1(trace, path):
    """`trace` saved as a schema 1 file (no run id, parent nor alternatives) at `path`; returns the path."""
    old = trace.to_dict()
    old.pop("run_id"), old.pop("parent"), old["config"].pop("top_k_alternatives")
    for s in old["steps"]:
        for key in ("alt_tokens", "alt_probs", "ranks"):
            s.pop(key)
    path.write_text(json.dumps({**old, "schema_version": 1}))
    return path
