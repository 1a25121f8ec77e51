"""Exact values of the text metrics on hand-made samples."""
import math

import pytest

from sampler.metrics import (
    distinct_n,
    repeated_ngram_rate,
    repeated_positions,
    text_metrics,
    unigram_entropy,
    words,
)


def test_words_keeps_inner_apostrophes_and_splits_punctuation():
    assert words("Mr. Darcy's house, isn't it?") == [
        "Mr", ".", "Darcy's", "house", ",", "isn't", "it", "?"]


def test_unigram_entropy_pools_tokens_over_the_set():
    # a:2, b:1, c:1 of 4 -> 0.5*1 + 2 * 0.25*2 = 1.5 bits
    assert unigram_entropy([["a", "a"], ["b", "c"]]) == pytest.approx(1.5)
    assert unigram_entropy([["a", "b", "c", "d"]]) == pytest.approx(2.0)
    assert unigram_entropy([["a", "a", "a"]]) == 0.0
    assert unigram_entropy([]) == 0.0


def test_distinct_n_counts_over_the_set_without_crossing_samples():
    samples = [["a", "b", "a", "b"], ["a", "b", "c"]]
    assert distinct_n(samples, 1) == pytest.approx(3 / 7)  # {a, b, c} of 7
    assert distinct_n(samples, 2) == pytest.approx(3 / 5)  # ab ba ab | ab bc
    assert distinct_n(samples, 3) == pytest.approx(1.0)    # aba bab | abc
    assert distinct_n([["a"], ["b"]], 2) == 0.0             # no (a, b) across samples


def test_repeated_ngram_rate_averages_per_sample_fractions():
    loop = "a b c a b c a".split()  # abc bca cab abc* bca* -> 2/5
    fresh = "x y z w".split()      # xyz yzw -> 0
    too_short = ["x"]              # no trigram: left out of the mean
    assert repeated_ngram_rate([loop, fresh, too_short]) == pytest.approx(0.2)
    assert repeated_ngram_rate([loop], n=1) == pytest.approx(4 / 7)
    assert repeated_ngram_rate([too_short]) == 0.0


def test_repeated_positions_marks_every_token_of_a_repeated_ngram():
    tokens = "the cat sat the cat sat on mat".split()
    assert repeated_positions(tokens) == [True] * 6 + [False] * 2
    assert repeated_positions("a b c d".split()) == [False] * 4
    assert repeated_positions(["a", "b"]) == [False, False]


def test_repeated_positions_ignores_ngrams_with_masked_positions():
    # (b, None) occurs twice but contains a mask, so only the two (a, b) count.
    tokens = ["a", "b", None, "a", "b", None]
    assert repeated_positions(tokens, n=2) == [True, True, False, True, True, False]
    assert repeated_positions(["a", None, "c", "a", None, "c"]) == [False] * 6


def test_text_metrics_returns_all_metrics_under_stable_keys():
    metrics = text_metrics(["a b a b a b", "a b c"])
    assert metrics == pytest.approx({
        # a:4, b:4, c:1 of 9
        "unigram_entropy": -(2 * 4 / 9 * math.log2(4 / 9) + 1 / 9 * math.log2(1 / 9)),
        "distinct_1": 3 / 9,
        "distinct_2": 3 / 7,  # ab ba ab ba ab | ab bc
        "distinct_3": 3 / 5,  # aba bab aba bab | abc
        # sample 1: 3-grams aba bab aba bab -> 2 of 4 repeat; 4-grams abab baba abab -> 1 of 3; sample 2: none
        "repeated_3gram_rate": (2 / 4 + 0) / 2,
        "repeated_4gram_rate": (1 / 3) / 1,  # sample 2 has no 4-gram and is left out
    })
