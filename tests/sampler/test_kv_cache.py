"""The KV cache of block decoding (sampler/kv_cache.py) and its use by the models and the loop."""
import json
from pathlib import Path

import pytest
import torch

from sampler.config import SamplerConfig
from sampler.kv_cache import BlockCache
from sampler.models import load_model
from sampler.models.austen import AustenDenoiser
from sampler.models.hub import load_hub_model
from sampler.models.toy import BigramToy
from sampler.smc import decode
from tests.fixtures import cache_none_reference, tiny_models

REFERENCE = Path(cache_none_reference.__file__).with_suffix(".json")
FAMILIES = ("austen", *tiny_models.FAMILIES)


@pytest.fixture(scope="module")
def models(tmp_path_factory, tiny_austen_folder):
    """Every architecture with a cache, float32: our Austen net (tiny, random) and the tiny hub checkpoints."""
    root = tmp_path_factory.mktemp("tiny_hub_cache")
    out = {"austen": AustenDenoiser(tiny_austen_folder, "cpu", "float32")}
    for family in tiny_models.FAMILIES:
        out[family] = load_hub_model(str(tiny_models.save_tiny(root / family, family)), local_files_only=True)
    return out


def block_start_input(model, rows: int = 3, gen: int = 16, seed: int = 0):
    """`x [rows, L]`: a prompt then `gen` positions, of which the first block of 8 is still masked and the rest
    random tokens (so a dual cache's suffix matters), and that block's slice."""
    prompt = model.encode("the cat sat on" if not isinstance(model, AustenDenoiser) else "Emma said")
    g = torch.Generator().manual_seed(seed)
    x = torch.randint(3, 20, (rows, len(prompt) + gen), generator=g)
    x[:, :len(prompt)] = torch.tensor(prompt)
    block = slice(len(prompt), len(prompt) + 8)
    x[:, block] = model.mask_id
    return x, block


def begin_block(model, x, block, mode):
    """A filled cache for decoding `block` of `x`, as a block's first step leaves it."""
    cache = model.block_cache(block, mode)
    model.features_at(x, None, torch.full((x.shape[0], 1), block.stop - 1), cache=cache)
    cache.filled()
    return cache


def logits(model, x, block, cache=None):
    positions = torch.arange(block.start, block.stop).expand(x.shape[0], -1)
    out = model.output_layer(model.features_at(x, None, positions, cache=cache)).float()
    return out.masked_fill(out.isinf(), -1e4)  # banned ids are -inf on both sides


def commit_some(x, block, model, seed):
    """Fill a random half of the block's masked positions with random tokens, differently per row."""
    g = torch.Generator().manual_seed(seed)
    x = x.clone()
    span = x[:, block]
    fill = (torch.rand(span.shape, generator=g) < 0.5) & (span == model.mask_id)
    x[:, block] = torch.where(fill, torch.randint(3, 20, span.shape, generator=g), span)
    return x


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_a_fresh_cache_gives_the_uncached_logits(models, family, mode):
    """At a block's first step nothing has changed since the cache was filled: same logits as without it."""
    model = models[family]
    x, block = block_start_input(model)
    cache = begin_block(model, x, block, mode)
    torch.testing.assert_close(logits(model, x, block, cache), logits(model, x, block), atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_the_forward_that_fills_a_cache_is_the_uncached_forward(models, family, mode):
    """A block's first step fills the cache with its own forward: its features are the uncached ones, bit for
    bit, so the refresh costs no second forward and changes nothing at that step."""
    model = models[family]
    x, block = block_start_input(model)
    positions = torch.arange(block.start, block.stop).expand(x.shape[0], -1)
    cache = model.block_cache(block, mode)
    filled = model.features_at(x, None, positions, cache=cache)
    cache.filled()
    assert torch.equal(filled, model.features_at(x, None, positions))
    assert cache.length == len(cache.keys[0][0, 0]) and not cache.filling


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_one_step_per_block_decodes_as_without_a_cache(models, mode):
    """With one step per block every step is a block's first, whose forward is the uncached one: the cached run
    is the uncached run exactly (texts and weights), resampling included."""
    base = SamplerConfig(prompts=("Emma said",), gen_length=16, steps=2, block_length=8, n_particles=4,
                         ess_threshold=1.0, seed=3)
    runs = {c: decode(models["austen"], base.replace(cache=c), record=False) for c in ("none", mode)}
    assert runs[mode].texts == runs["none"].texts
    assert torch.equal(runs[mode].scores, runs["none"].scores)


@pytest.mark.parametrize("family", FAMILIES)
def test_a_cached_step_forward_reads_nothing_on_the_host(models, family, monkeypatch):
    """A step's forward with a filled cache never waits for the device: no tensor is read on the host (BD3-LM
    takes the blocks it computes from the cache, not from `positions.max()`)."""
    model = models[family]
    x, block = block_start_input(model)
    cache = begin_block(model, x, block, "prefix")
    for read in ("__bool__", "__int__", "__float__", "__index__", "item", "tolist"):
        monkeypatch.setattr(torch.Tensor, read, lambda *_, read=read: pytest.fail(f"host read: Tensor.{read}"))
    model.features_at(commit_some(x, block, model, 0), None, torch.arange(block.start, block.stop).expand(3, -1),
                      cache=cache)


@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_bd3lm_cache_is_exact_at_every_step_of_a_block(models, mode):
    """BD3-LM attends block-causally: the finished blocks' keys never depend on the current block, so the
    cached logits equal the uncached ones as the block fills in (float32, atol 1e-5)."""
    model = models["bd3lm"]
    x, block = block_start_input(model)
    cache = begin_block(model, x, block, mode)
    for seed in range(3):
        x = commit_some(x, block, model, seed)
        torch.testing.assert_close(logits(model, x, block, cache), logits(model, x, block), atol=1e-5, rtol=0)


@pytest.mark.parametrize("family", ["austen", "llada", "mdlm"])
def test_bidirectional_cache_is_an_approximation(models, family):
    """For bidirectional models the prefix's keys would change as the block fills in: the cached logits
    drift from the exact ones (which is why `cache` defaults to none)."""
    model = models[family]
    x, block = block_start_input(model)
    cache = begin_block(model, x, block, "prefix")
    x = commit_some(x, block, model, 0)
    assert not torch.allclose(logits(model, x, block, cache), logits(model, x, block), atol=1e-4)


def test_dual_recomputes_only_the_block(models):
    """dual: the forward computes the block's positions only; prefix: the block and everything after it."""
    model = models["llada"]
    x, block = block_start_input(model)
    assert begin_block(model, x, block, "dual").fresh == block
    assert begin_block(model, x, block, "prefix").fresh == slice(block.start, x.shape[1])
    # Dream reads position i's logits from output i - 1: one more position before the block
    assert begin_block(models["dream"], x, block, "dual").fresh == slice(block.start - 1, block.stop)


def follow(cache: BlockCache, rows: list[int]):
    rows = torch.tensor(rows)
    cache.reorder(rows, torch.tensor(bool((rows != torch.arange(len(rows))).any())))


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("mode", ["prefix", "dual"])
def test_reordered_cache_equals_a_cache_of_the_gathered_sequences(models, family, mode):
    """After resampling (twice before the next forward, so the permutations compose) the cached rows are the
    ancestors' rows, copied exactly and in place, and equal (to float rounding of another batch) to a fresh cache
    computed from the ancestors' sequences."""
    model = models[family]
    x, block = block_start_input(model, rows=4)
    cache, untouched = begin_block(model, x, block, mode), begin_block(model, x, block, mode)
    before = [k.data_ptr() for k in cache.keys]
    follow(cache, [2, 2, 0, 3])
    follow(cache, [1, 0, 0, 3])  # row r now holds [2, 2, 0, 3][[1, 0, 0, 3][r]] = [2, 2, 2, 3]
    cache.settle()
    ancestors = [2, 2, 2, 3]
    fresh = begin_block(model, x[ancestors], block, mode)
    kept = [i for i in range(cache.length) if not cache.fresh.start <= i < cache.fresh.stop]
    for mine, old, theirs in zip(cache.keys + cache.values, untouched.keys + untouched.values,
                                 fresh.keys + fresh.values):
        assert torch.equal(mine[:, :, kept], old[ancestors][:, :, kept])
        torch.testing.assert_close(mine[:, :, kept], theirs[:, :, kept], atol=1e-5, rtol=1e-5)
    assert [k.data_ptr() for k in cache.keys] == before  # in place


def test_a_permutation_is_applied_only_when_a_prompt_resampled():
    cache = BlockCache("dual", slice(2, 3))
    cache.keys, cache.values = [torch.arange(4.0).view(4, 1, 1, 1).expand(4, 1, 3, 1).clone()], [torch.zeros(4, 1, 3, 1)]
    cache.filled()
    assert (cache.length, cache.fresh) == (3, slice(2, 3))
    cache.reorder(torch.tensor([3, 3, 3, 3]), torch.tensor(False))  # identity in truth; the flag says so
    cache.settle()
    assert cache.keys[0][:, 0, 0, 0].tolist() == [0, 1, 2, 3]
    cache.reorder(torch.tensor([3, 1, 1, 0]), torch.tensor(True))
    cache.settle()
    assert cache.keys[0][:, 0, :2, 0].tolist() == [[3, 3], [1, 1], [1, 1], [0, 0]]
    assert cache.keys[0][:, 0, 2, 0].tolist() == [0, 1, 2, 3]  # `fresh` is recomputed by the step: not copied


@pytest.mark.parametrize("family", ["austen", "bd3lm"])
def test_cache_rows_follow_resampling_in_decode(models, family, monkeypatch):
    """In a real SR-SMC run (κ = 1: resampling at most steps), after every step that resampled in a block
    past the first, the cached rows equal those of a cache filled from the block-start sequences of each row's
    ancestors (BD3-LM: equal to a cache of the current sequences, which its exactness implies)."""
    model = models[family]
    made, checked, moved = [], [], []
    block_cache = model.block_cache

    def new_cache(block, mode):
        made.append((block_cache(block, mode), None, block, None))
        return made[-1][0]

    def observe(info):
        cache, x_start, block, lineage = made[-1]
        if x_start is None:  # the block's first step: its forward filled the cache from the sequences before it
            x_start, lineage = info.x.masked_fill(info.committed, model.mask_id), torch.arange(info.x.shape[0])
            made[-1] = (cache, x_start, block, lineage)
        if info.ancestor_draw is None:
            return
        rows = (info.ancestor_draw + 4 * torch.arange(info.ancestor_draw.shape[0])[:, None]).flatten()
        made[-1] = (cache, x_start, block, lineage[rows])
        if not info.to_host()["ancestors"] or info.block == 0:
            return
        cache.settle()
        source = info.state.x.clone() if family == "bd3lm" else x_start[lineage[rows]]
        if family == "bd3lm":
            source[:, block] = model.mask_id
        fresh = begin_block(model, source, block, "prefix")
        made.pop()  # that cache came through `new_cache` too: not the run's
        moved.append(not torch.equal(x_start[:, :block.start], x_start[lineage[rows], :block.start]))
        for mine, theirs in zip(cache.keys, fresh.keys):
            torch.testing.assert_close(mine[:, :, :block.start], theirs[:, :, :block.start], atol=1e-6, rtol=0)
        checked.append(info.step)

    monkeypatch.setattr(model, "block_cache", new_cache)
    cfg = SamplerConfig(prompts=("the cat sat on",) if family == "bd3lm" else ("Emma said",), gen_length=16,
                        steps=16, block_length=8, n_particles=4, ess_threshold=1.0, cache="prefix", seed=2)
    decode(model, cfg, observers=(observe,), record=False)
    assert len(made) == 2 and checked and any(moved)  # rows with other prefixes were copied: the check can fail


def test_bd3lm_decodes_the_same_with_and_without_its_cache(models):
    base = SamplerConfig(prompts=("the cat sat on",), gen_length=16, steps=16, block_length=8, n_particles=4,
                         ess_threshold=1.0, seed=1)
    runs = {c: decode(models["bd3lm"], base.replace(cache=c)) for c in ("none", "prefix", "dual")}
    assert runs["prefix"].texts == runs["none"].texts == runs["dual"].texts
    assert runs["prefix"].trace.config["cache"] == "prefix"  # recorded with the run


def test_a_model_without_a_cache_refuses_one():
    with pytest.raises(ValueError, match="bigram-toy has no KV cache"):
        decode(BigramToy(), SamplerConfig(prompts=("the cat",), gen_length=4, steps=4, cache="prefix"))


def test_cache_is_validated():
    with pytest.raises(ValueError, match="cache"):
        SamplerConfig(cache="full")


def test_cache_none_reproduces_the_commit_before_the_cache():
    """`cache = none` is today's exact computation: every step of the reference runs (recorded by
    tests/fixtures/cache_none_reference.py at 59c6cb8, the commit before the cache) comes out the same. Bit for
    bit on the machine that recorded them; elsewhere float reductions may round differently, so floats there get
    1e-5 and the discrete decisions (tokens, resampling, ancestors) must still match exactly."""
    saved = json.loads(REFERENCE.read_text())
    exact = saved["machine"] == cache_none_reference.machine()
    now = cache_none_reference.reference(cache="none")
    assert now["runs"].keys() == saved["runs"].keys()
    for name, run in saved["runs"].items():
        if exact:
            assert now["runs"][name] == run, name
            continue
        for key in ("sequences", "chosen"):
            assert now["runs"][name][key] == run[key], name
        for mine, theirs in zip(now["runs"][name]["steps"], run["steps"], strict=True):
            for key, value in theirs.items():
                if key in ("log_conf", "log_increment", "log_weight", "ess"):
                    assert mine[key] == pytest.approx(value, rel=1e-5, abs=1e-5), (name, key)
                else:
                    assert mine[key] == value, (name, key)
