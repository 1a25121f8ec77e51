"""Per-prompt, per-step random streams: the derivation is the documented one, and a prompt's run does not
depend on the batch it is decoded in."""
import hashlib

import pytest
import torch

from sampler.config import SamplerConfig
from sampler.models import load_model
from sampler.models.toy import BigramToy
from sampler.smc import decode
from sampler.streams import RandomStreams, mix, prompt_key, stream_seed

PROMPTS = ("the cat", "a dog ran on", "the mat", "cat sat on a mat and", "dog", "the cat sat on", "a cat ran",
           "mat and dog", "on a mat", "the dog sat", "and the cat", "ran on the mat", "a", "cat and dog ran",
           "the", "sat on")


def test_splitmix64_matches_its_reference_values():
    # splitmix64 from state 0 (Vigna's reference generator): the first outputs are these
    assert mix(0) == 0xE220A8397B1DCDAF
    assert mix(0x9E3779B97F4A7C15) == 0x6E789E6AA1B965F4


def test_prompt_key_is_blake2b_of_the_ids_and_stream_seeds_differ_by_every_input():
    ids = [3, 0, 126336]
    digest = hashlib.blake2b(b"".join(i.to_bytes(8, "little") for i in ids), digest_size=8).digest()
    assert prompt_key(ids) == int.from_bytes(digest, "little")
    seeds = {stream_seed(s, k, t, p) for s in (0, 1) for k in (prompt_key(ids), prompt_key(ids[:2]))
             for t in (1, 2) for p in ("candidates", "policy", "resampling")}
    assert len(seeds) == 24 and all(0 <= s < 2**64 for s in seeds)


def test_a_prompt_draws_the_same_rows_in_any_batch():
    alone = RandomStreams.for_prompts(7, [[1, 2]], "cpu").at(3).uniform("candidates", (4, 5))
    batch = RandomStreams.for_prompts(7, [[9], [1, 2], [4, 4, 4]], "cpu").at(3).uniform("candidates", (4, 5))
    assert batch.shape == (12, 5) and torch.equal(batch[4:8], alone)
    assert not torch.equal(batch[:4], alone)


def prompt_part(result, p: int, N: int) -> list[tuple]:
    """Prompt p's share of each recorded step, in the prompt's own row and position numbering."""
    trace, rows = result.trace, range(p * N, (p + 1) * N)
    out = []
    for s in trace.steps:
        commits = sorted((r - p * N, pos - trace.prompt_width, tok, round(c, 4))
                         for r, pos, tok, c in zip(s.rows, s.positions, s.tokens, s.log_conf) if r in rows)
        out.append((s.step, commits, [round(w, 4) for w in s.log_weight[rows.start:rows.stop]],
                    round(s.ess[p], 4), s.resampled[p], s.ancestors[p] if s.ancestors else None))
    return out


@pytest.mark.parametrize("settings", [dict(policy="topk", resampling="systematic"),
                                      dict(policy="random", resampling="residual", resample_when="every_k",
                                           resample_every=2)])
def test_same_prompt_and_seed_give_the_same_run_alone_and_in_a_batch_of_16(settings):
    model = BigramToy(scale=3.0)
    cfg = SamplerConfig(prompts=PROMPTS[:1], gen_length=16, steps=8, block_length=8, n_particles=4,
                        temperature=1.0, ess_threshold=0.9, seed=5, **settings)
    alone = decode(model, cfg)
    for p in (1, 9):  # "the cat" placed second and tenth among 16 prompts of other lengths
        order = list(PROMPTS[1:])
        order.insert(p, PROMPTS[0])
        batch = decode(model, cfg.replace(prompts=tuple(order)))
        assert batch.generated[p] == alone.generated[0] and batch.chosen[p] == alone.chosen[0]
        assert prompt_part(batch, p, 4) == prompt_part(alone, 0, 4)
    assert any(s.resampled[0] for s in alone.trace.steps), "the test needs a resampling step"


def test_a_real_model_gives_the_same_text_alone_and_in_a_batch(tiny_austen_folder):
    """The tiny austen net (left padding and an attention mask in the batch): same text, same resampling."""
    model = load_model(str(tiny_austen_folder), dtype="float32")
    prompts = ("It is a truth", "Emma", "She was not quite eighteen", "I do not know, said Emma")
    cfg = SamplerConfig(prompts=prompts[:1], gen_length=8, steps=8, n_particles=3, temperature=1.0,
                        ess_threshold=0.9, seed=2)
    alone = decode(model, cfg)
    batch = decode(model, cfg.replace(prompts=prompts[1:3] + prompts[:1] + prompts[3:]))
    assert batch.texts[2] == alone.texts[0]
    assert [s[4:] for s in prompt_part(batch, 2, 3)] == [s[4:] for s in prompt_part(alone, 0, 3)]
