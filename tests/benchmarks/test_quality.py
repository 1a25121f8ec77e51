"""The quality benchmark's statistics and grid on hand-made numbers, and its decoding path on a tiny model."""
import math

import numpy as np
import pytest

from benchmarks.judge import JudgeResult
from benchmarks.quality import (METRICS, corpus_ppl, decode_cell, frontier_answers, frontier_cells, paired,
                                reference_label, summarise)
from sampler.models import load_model
from tests.sampler.conftest import tiny_austen_folder  # noqa: F401 (a fixture)


def units(nll, count, rep4, entropy):
    out = {"nll": np.array(nll, float), "count": np.array(count, float)}
    out.update({k: np.zeros(len(nll)) for k in METRICS})
    out["repeated_4gram_rate"], out["unigram_entropy"] = np.array(rep4, float), np.array(entropy, float)
    return out


def test_gen_ppl_is_token_weighted_over_units():
    nll, count = np.array([10.0, 30.0]), np.array([10.0, 10.0])
    assert corpus_ppl(nll, count, np.arange(2)) == pytest.approx(math.exp(2.0))
    assert corpus_ppl(nll, count, np.array([[0, 0], [1, 1]])) == pytest.approx([math.e, math.exp(3.0)])


def test_paired_against_itself_is_neutral_and_against_a_better_cell_is_not():
    ref = units([40, 40, 40, 40], [10, 10, 10, 10], [0.1, 0.2, 0.1, 0.2], [4.0, 4.0, 4.0, 4.0])
    boot = np.random.default_rng(0).integers(0, 4, (200, 4))
    same = paired(ref, ref, boot)
    assert same["gen_ppl_ratio"] == same["entropy_ratio"] == 1.0 and same["rep4_diff"] == 0.0
    assert same["gen_ppl_ratio_ci"] == [1.0, 1.0] and same["lower_ppl_units"] == 0
    better = units([30, 30, 30, 30], [10, 10, 10, 10], [0.2, 0.3, 0.2, 0.3], [3.8, 3.8, 3.8, 3.8])
    p = paired(better, ref, boot)
    assert p["gen_ppl_ratio"] == pytest.approx(math.exp(-1.0)) and p["lower_ppl_units"] == 4
    assert p["rep4_diff"] == pytest.approx(0.1) and p["entropy_ratio"] == pytest.approx(0.95)
    row = summarise(better, boot)
    assert row["gen_ppl"] == pytest.approx(math.exp(3.0))
    assert row["repeated_4gram_rate_ci"][0] <= row["repeated_4gram_rate"] <= row["repeated_4gram_rate_ci"][1]


def test_frontier_grid_puts_plain_greedy_first_at_every_tau():
    cells = frontier_cells([0.3, 1.0], [0.0, 1.0], 4, ["no-repeat-4"])
    assert [c["label"] for c in cells[:6]] == ["greedy, off", "greedy, no-repeat-4", "α=0, off", "α=0, no-repeat-4",
                                               "α=1, off", "α=1, no-repeat-4"]
    assert len(cells) == 12 and all(reference_label(c) == "greedy, off" for c in cells)
    assert cells[3]["no_repeat_ngram"] == 4 and cells[3]["reward_weight"] == 0.0 and cells[3]["n_particles"] == 4


def row(cell, tau, n, ppl_ratio, rep4_diff, entropy_ratio, ppl=20.0):
    stat = lambda v: {"_ci": [v, v]}  # noqa: E731
    vs = {"gen_ppl_ratio": ppl_ratio, "rep4_diff": rep4_diff, "entropy_ratio": entropy_ratio, "lower_ppl_units": 0,
          "units": 30, "gen_ppl_ratio_ci": [ppl_ratio] * 2, "rep4_diff_ci": [rep4_diff] * 2,
          "entropy_ratio_ci": [entropy_ratio] * 2}
    return {"cell": cell, "tau": tau, "N": n, "gen_ppl": ppl, "gen_ppl_ci": [ppl, ppl], "repeated_4gram_rate": 0.1,
            "repeated_4gram_rate_ci": [0.1, 0.1], "vs_greedy": vs}


def test_frontier_answers_apply_the_issue_criteria():
    rows = [row("greedy, off", 1.0, 1, 1.0, 0.0, 1.0),
            row("α=1, off", 1.0, 4, 0.6, 0.05, 0.95),            # fluent but loopy: fails
            row("α=1, no-repeat-4", 1.0, 4, 0.79, -0.01, 0.98),  # meets all three
            row("α=0, no-repeat-4", 1.0, 4, 0.85, -0.01, 1.01),  # within bounds, PPL not low enough
            row("greedy, off", 0.3, 1, 1.0, 0.0, 1.0),
            row("greedy, no-repeat-4", 0.3, 1, 2.0, -0.2, 1.2, ppl=30.0),
            row("α=0, no-repeat-4", 0.3, 4, 1.5, -0.2, 1.2, ppl=25.0),
            row("α=1, no-repeat-4", 0.3, 4, 1.2, -0.1, 1.1)]
    text = frontier_answers(rows)
    assert "1 setting(s) meet" in text and "α=1, no-repeat-4 (τ = 1.0)" in text and "α=1, off (τ = 1.0)" not in text
    low = text.split("(b)")[1]
    assert low.split("\n")[0].count("α=0, no-repeat-4 (τ = 0.3)") == 1  # tie on the cut: the lower Gen PPL wins
    assert "best trade" not in text
    assert "best trade" in frontier_answers(rows[:2] + rows[3:])


class LengthJudge:
    """Scores a text by its number of words (the real judge needs a downloaded LM): enough to check which
    texts reach it, in which order, with which contexts."""

    model_id = "length"

    def __init__(self):
        self.seen = []

    def score(self, texts, contexts):
        self.seen.append((list(texts), list(contexts)))
        counts = [len(t.split()) + 1 for t in texts]
        return JudgeResult(gen_ppl=1.0, per_sample=[1.0] * len(texts), nll=[float(c) for c in counts], counts=counts,
                           n_tokens=sum(counts), judge=self.model_id, conditioned=True)


def test_decode_cell_decodes_through_the_sweep_in_any_batching(tiny_austen_folder):
    """Batches of 2 (as sharded under torchrun) give the one batch's texts: per-prompt streams, prompt order."""
    model = load_model(str(tiny_austen_folder), dtype="float32")
    prompts = ["Emma said", "It is a truth", "She was not quite", "I do not"]
    cell = {"label": "sr-smc N=3", "method": "smc", "n_particles": 3, "temperature": 1.0}
    base = {"gen_length": 8, "steps": 8, "block_length": 8}
    one, two = LengthJudge(), LengthJudge()
    whole = decode_cell(model, one, prompts, [0, 1], cell, base)
    split = decode_cell(model, two, prompts, [0, 1], cell, base, batch=2)
    assert one.seen == two.seen and one.seen[0][1] == prompts * 2
    assert whole["texts"] == split["texts"] and whole["forwards_per_prompt"] == split["forwards_per_prompt"] == 24
    assert len(set(whole["texts"])) > 1
    assert decode_cell(model, None, prompts, [0], cell, base) is None  # a rank other than 0 returns nothing
