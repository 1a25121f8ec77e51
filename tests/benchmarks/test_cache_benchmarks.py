"""The KV-cache parts of the benchmarks: `speed --sections cache` and `quality --caches`."""
from benchmarks.quality import cache_cells, reference_label
from benchmarks.speed import cache_costs
from sampler.models import load_model


def test_cache_section_times_the_three_settings_on_the_same_runs():
    model = load_model("austen-mdlm", "cpu", "float32")
    rows = cache_costs(model, "Emma", n=2, gen_length=16, block=8, tokens_per_step=2, repeats=1, device="cpu")
    assert [r["cache"] for r in rows] == ["none", "prefix", "dual"]
    assert all(r["steps"] == 8 and r["block"] == 8 and r["ms_per_step"] > 0 for r in rows)
    assert rows[0]["none/this"] == 1.0


def test_cache_cells_pair_every_setting_against_the_uncached_run():
    cells = cache_cells([1.0], 4, ["dual", "prefix"])
    assert [c["cache"] for c in cells] == ["none", "dual", "prefix"]  # the reference runs first
    assert {reference_label(c) for c in cells} == {"sr-smc N=4, cache none"}
    assert all(c["n_particles"] == 4 and c["method"] == "smc" for c in cells)
