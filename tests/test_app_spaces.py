"""The Space path: app.decode_all under the real `spaces.GPU` decorator (a no-op off ZeroGPU), on a paper
model family loaded through the same path a hub id takes (a tiny LLaDA checkpoint in the hub layout)."""
import spaces

import app
from sampler.config import SamplerConfig
from sampler.models import load_model
from tests.fixtures import tiny_models


def test_spaces_gpu_decorated_decode_runs_a_native_hub_model(tmp_path):
    assert app.gpu is spaces.GPU  # the real package, not the fallback
    model = load_model(str(tiny_models.save_tiny(tmp_path / "tiny-llada", "llada")), "cpu")
    cfg = SamplerConfig(prompts=("the cat sat",), gen_length=8, steps=4, n_particles=3, seed=1)
    cfgs = {"greedy": cfg.replace(n_particles=1), "sr-smc": cfg, "best-of-n": cfg.replace(method="best_of_n")}
    seen = []
    traces = app.decode_all(model, cfgs, lambda done_total, desc="": seen.append(done_total))
    assert list(traces) == list(cfgs)
    assert all(len(t.steps) == 4 and t.config["n_particles"] == c.n_particles
               for t, c in zip(traces.values(), cfgs.values()))
    assert seen[-1] == (sum(app.planned_work(c) for c in cfgs.values()),) * 2
