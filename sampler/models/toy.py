"""Small deterministic denoisers: the sampler's tests and `benchmarks.speed --model toy` use them (not offered in the app)."""
import torch

from sampler.denoiser import Denoiser

WORDS = ["the", "cat", "sat", "on", "a", "mat", "and", "dog", "ran", "."]


class BigramToy(Denoiser):
    """Logits from a fixed random bigram table: left neighbour's row plus right neighbour's column.

    Vocabulary: 10 words, then MASK (10) and PAD (11). Deterministic given `seed`.
    """

    name = "bigram-toy"
    mask_id, pad_id, vocab_size = 10, 11, 12
    eos_id = 9

    def __init__(self, seed: int = 0, scale: float = 2.0, max_length: int = 512):
        g = torch.Generator().manual_seed(seed)
        self.table = scale * torch.randn(10, 10, generator=g)
        self.max_length = max_length
        self.calls = []  # shapes of every forward, to check batching

    def logits(self, x, attention_mask=None):
        self.calls.append(tuple(x.shape))
        B, L = x.shape
        known = (x < 10) & (attention_mask if attention_mask is not None else True)
        ids = x.clamp(max=9)
        out = torch.zeros(B, L, 12)
        left = torch.where(known[:, :-1, None], self.table[ids[:, :-1]], 0.0)
        right = torch.where(known[:, 1:, None], self.table.T[ids[:, 1:]], 0.0)
        out[:, 1:, :10] += left
        out[:, :-1, :10] += right
        out[..., 10:] = -torch.inf
        return out

    def encode(self, text, chat=None):
        self.check_chat(chat)
        return [WORDS.index(w) for w in text.split()]

    def decode(self, ids):
        return " ".join(WORDS[i] if i < 10 else "[MASK]" for i in ids)


class FixedLogits(Denoiser):
    """Returns the same logits `[V]` at every position (for sampling-distribution tests)."""

    name = "fixed-logits"
    max_length = 4096

    def __init__(self, logits: torch.Tensor):
        self.row = logits
        self.vocab_size = len(logits) + 1
        self.mask_id = len(logits)

    def logits(self, x, attention_mask=None):
        out = torch.full((*x.shape, self.vocab_size), -torch.inf)
        out[..., :-1] = self.row
        return out

    def encode(self, text, chat=None):
        self.check_chat(chat)
        return [int(t) for t in text.split()]

    def decode(self, ids):
        return " ".join(map(str, ids))
