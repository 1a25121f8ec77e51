"""app.py's sampler: request checks before any decoding, traces by role, streaming snapshots, cancellation."""
import threading
import time

import pytest

from app import Cancelled, Sampler
from explorer.limits import Limits
from sampler.models.toy import BigramToy
from tests.explorer.conftest import one_torch_thread

SETTINGS = dict(prompt="the cat", model="toy", n_particles=3, temperature=1.0, gen_length=16, steps=8,
                block_length=8, policy="topk", ess_threshold=0.5, resampling="systematic", seed=5, best_of_n=True,
                resample_when="every_step", resample_every=1, final_pick="sum_logp", confidence="untempered",
                threshold=0.9)


class SlowToy(BigramToy):
    """The bigram toy, `delay` seconds per forward: long enough runs to watch and cancel."""

    def __init__(self, delay: float, **kw):
        super().__init__(**kw)
        self.delay = delay

    def logits(self, x, attention_mask=None):
        time.sleep(self.delay)
        return super().logits(x, attention_mask)


def test_one_run_gives_greedy_smc_and_best_of_n_on_the_same_prompt_and_seed():
    with one_torch_thread():
        job = Sampler({"toy": BigramToy()}, Limits()).start(SETTINGS)
        traces = job.result()
    assert list(traces) == ["sr-smc", "greedy", "best-of-n"]  # SR-SMC is decoded (and streamed) first
    assert [t.n_particles for t in traces.values()] == [3, 1, 3]
    assert {t.config["seed"] for t in traces.values()} == {5}
    assert {tuple(t.prompts) for t in traces.values()} == {("the cat",)}
    assert traces["best-of-n"].resample_steps() == []
    snap = job.snapshot()
    assert snap.finished and snap.done == snap.total == 1 * 8 + 3 * 8 + 3 * 8  # rows × steps over all three runs


def test_snapshots_stream_the_steps_the_final_trace_records():
    with one_torch_thread():
        job = Sampler({"toy": SlowToy(0.01)}, Limits()).start({**SETTINGS, "best_of_n": False})
        snaps = list(job.updates(interval=0.02))
    live = [s for s in snaps if not s.finished]
    assert live and snaps[-1].finished
    done = [s.done for s in snaps]
    assert done == sorted(done) and done[-1] == 8 + 3 * 8
    final = snaps[-1].traces
    for snap in live:
        for role, partial in snap.traces.items():
            assert partial.final == {}
            k = len(partial.steps)
            assert partial.steps == final[role].steps[:k]  # the live trace is what decode records
            assert all(partial.vocab[i] == final[role].vocab[i] for s in partial.steps for i in s.tokens)
    assert any(0 < len(s.traces.get("sr-smc", final["greedy"]).steps) < 8 for s in live)  # mid-run


def test_cancel_stops_the_decode_within_one_step():
    model = SlowToy(0.05)
    job = Sampler({"toy": model}, Limits()).start({**SETTINGS, "gen_length": 64, "steps": 64, "block_length": 64})
    while not job.live:  # decoding has started
        time.sleep(0.01)
    job.cancel()
    assert job.wait(timeout=1.0), "the decode still runs a second after cancel"
    calls = len(model.calls) if hasattr(model, "calls") else None
    with pytest.raises(Cancelled):
        job.result()
    assert not [t for t in threading.enumerate() if t.name == "sr-smc-decode" and t.is_alive()]
    if calls is not None:
        time.sleep(0.2)
        assert len(model.calls) == calls  # nothing more ran


@pytest.mark.parametrize("changes, message", [
    (dict(n_particles=65), "particles N = 65: this app allows at most 64"),
    (dict(n_particles=1), "particles N = 1: use N ≥ 2"),
    (dict(n_particles=2.5), "n particles = 2.5: must be a whole number"),
    (dict(gen_length=600, steps=600, block_length=600), "gen length = 600: this app allows at most 512"),
    (dict(n_particles=64, gen_length=512, steps=512, block_length=512), "this Run would cost"),
    (dict(steps=20), "steps = 20"),
    (dict(block_length=5), "block_length = 5: must be a divisor"),
    (dict(temperature=-1), "temperature = -1"),
    (dict(policy="best"), "policy = 'best'"),
    (dict(prompt="the cat " * 251), "prompt of 2008 characters"),
    (dict(model="gpt-5"), "model 'gpt-5' is not offered by this app; choose one of toy"),
    (dict(gen_length=504, steps=504, block_length=504, n_particles=2, best_of_n=False),
     "prompt \\(2 tokens\\) \\+ gen_length must be ≤ the model's maximum length 500"),
])
def test_bad_settings_are_named_before_decoding(changes, message):
    toy = BigramToy(max_length=500)
    with pytest.raises(ValueError, match=message):
        Sampler({"toy": toy}, Limits(max_cost=10**9) if "504" in str(changes) else Limits()).start(
            {**SETTINGS, **changes})
    assert toy.calls == []  # nothing ran


def test_a_stream_nobody_reads_stops_its_decode(monkeypatch):
    """A reader that goes away without closing the stream (what a cancelled Gradio handler may do) stops the
    decode once a snapshot has waited ORPHAN_S for it."""
    import app
    monkeypatch.setattr(app, "ORPHAN_S", 0.3)
    model = SlowToy(0.02)
    job = Sampler({"toy": model}, Limits()).start({**SETTINGS, "gen_length": 64, "steps": 64, "block_length": 64})
    stream = job.updates(interval=0.05)
    next(stream)  # read once, then never again (and never closed)
    assert job.wait(timeout=3.0), "the decode ran on with nobody reading"
    assert job.cancelled.is_set() and len(model.calls) < 1 + 3 * 64 + 3 * 64
    stream.close()
