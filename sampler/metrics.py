"""Diversity and repetition metrics over a set of generated samples.

Gen PPL alone rewards degenerate text (a loop scores better than prose), so it is always
reported next to these. Every metric takes samples as token lists, so the caller chooses
the tokenisation; `words` splits plain text into words and punctuation marks, and
`text_metrics` applies it to a set of strings.
"""
import math
import re
from collections import Counter

WORD_PATTERN = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def words(text: str) -> list[str]:
    """Words (with inner apostrophes) and single punctuation marks of `text`."""
    return WORD_PATTERN.findall(text)


def ngrams(tokens: list, n: int) -> list[tuple]:
    """The n-grams of one token list, in order."""
    return [tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1)]


def unigram_entropy(samples: list[list[str]]) -> float:
    """Entropy in bits of the unigram distribution of all tokens of all samples pooled.

    0.0 for an empty set.
    """
    counts = Counter(token for tokens in samples for token in tokens)
    total = sum(counts.values())
    return -sum(c / total * math.log2(c / total) for c in counts.values()) if total else 0.0


def distinct_n(samples: list[list[str]], n: int) -> float:
    """Unique n-grams / total n-grams, counted over the whole set (n-grams never span two
    samples). 0.0 when no sample has n tokens."""
    all_ngrams = [gram for tokens in samples for gram in ngrams(tokens, n)]
    return len(set(all_ngrams)) / len(all_ngrams) if all_ngrams else 0.0


def repeated_ngram_rate(samples: list[list[str]], n: int = 3) -> float:
    """Mean over samples of the fraction of a sample's n-grams that already occurred
    earlier in that sample. Samples shorter than n are left out; 0.0 if all are."""
    rates = []
    for tokens in samples:
        grams = ngrams(tokens, n)
        if grams:
            seen: set[tuple] = set()
            repeats = 0
            for gram in grams:
                repeats += gram in seen
                seen.add(gram)
            rates.append(repeats / len(grams))
    return sum(rates) / len(rates) if rates else 0.0


def repeated_positions(tokens: list[str | None], n: int = 3) -> list[bool]:
    """For one token list, whether each position lies inside an n-gram that occurs more
    than once in it. None marks a masked position: n-grams containing one are ignored."""
    grams = ngrams(tokens, n)
    counts = Counter(gram for gram in grams if None not in gram)
    mask = [False] * len(tokens)
    for start, gram in enumerate(grams):
        if counts.get(gram, 0) > 1:
            mask[start:start + n] = [True] * n
    return mask


def sample_metrics(samples: list[list[str]]) -> dict[str, float]:
    """All set metrics for tokenised samples, under stable keys."""
    return {
        "unigram_entropy": unigram_entropy(samples),
        "distinct_1": distinct_n(samples, 1),
        "distinct_2": distinct_n(samples, 2),
        "distinct_3": distinct_n(samples, 3),
        "repeated_3gram_rate": repeated_ngram_rate(samples, 3),
        "repeated_4gram_rate": repeated_ngram_rate(samples, 4),
    }


def text_metrics(texts: list[str]) -> dict[str, float]:
    """`sample_metrics` of plain-text samples split with `words`."""
    return sample_metrics([words(text) for text in texts])
