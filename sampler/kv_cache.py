"""The KV cache of block decoding, rebuilt at each block and permuted with the particles when they resample.

At a block's first step the model runs one full forward over `x [R, S]` and every attention layer leaves
its keys and values `[R, H, S, Dh]` here (Fast-dLLM's refresh: the whole cache is recomputed at the start
of each block). That forward is the first step's own: its logits are exactly the uncached ones, so the
refresh costs no extra forward. Every later step of the block recomputes only `fresh` — `prefix`: the
block and what follows it; `dual`: the block alone — writing those positions' new keys/values in place,
and attends over all S positions, the rest read from the cache. The cached keys/values are those of the
sequence as it was at the block's start: exact for BD3-LM (block-causal: nothing before the block sees the
block), an approximation for bidirectional models, whose earlier positions would see the block's new tokens.

A cached row belongs to a particle: when particles resample (row r takes ancestor `rows[r]`), the cached
rows are gathered by the same indices. `reorder` only records the permutation (no device work, no host
synchronisation, so a step never waits); the next forward applies it in place to the rows that changed
(`settle`), and only if a prompt really resampled.

One class serves our own layers (austen_net, the DiT) and transformers' Llama/Qwen2 attention: those call
`cache.update(keys, values, layer_idx, **kwargs)` on whatever object they get as `cache=`, the signature of
transformers' `Cache.update`. Its own classes do not fit block decoding: `DynamicCache` appends (a step would
concatenate and crop the whole cache per layer), `StaticCache` writes at a running counter and its
`reorder_cache` allocates a new tensor per layer; neither writes keys into the middle of the sequence (dual).
"""
import torch

MODES = ("prefix", "dual")


class BlockCache:
    """Keys and values of every attention layer, `keys[i], values[i]: [R, H, S, Dh]`, for the steps decoding
    `block` (`mode`: prefix or dual; `lead` positions before the block are recomputed too: Dream reads
    position i's logits from output i - 1).

    Made empty (`Denoiser.block_cache`); the next forward given it computes every position and fills it, and
    `filled()` ends the filling. `length` S: the positions the network sees; `fresh`: the positions each later
    step recomputes; `queries`: the positions the next forward computes (`slice(0, None)`, all, while the cache
    is being filled, then `fresh`). A network given the cache computes hidden states for `queries` only:
    `[R, |queries|, D]`.
    """

    def __init__(self, mode: str, block: slice, lead: int = 0):
        if mode not in MODES:
            raise ValueError(f"cache = {mode!r}: must be one of none, {', '.join(MODES)}")
        self.mode, self.block, self.lead = mode, block, lead
        self.length, self.fresh = 0, slice(0, 0)  # set once filled
        self.queries = slice(0, None)
        self.filling = True
        self.keys: list[torch.Tensor] = []
        self.values: list[torch.Tensor] = []
        self._rows: torch.Tensor | None = None  # [R] pending permutation: row r takes cached row _rows[r]
        self._moved: torch.Tensor | None = None  # device bool: whether any row moved

    def filled(self) -> None:
        """The forward that filled the cache is over: later forwards compute `fresh` only. Idempotent."""
        if self.filling:
            self.length = self.keys[0].shape[2]
            start = max(0, self.block.start - self.lead)
            self.fresh = slice(start, self.block.stop if self.mode == "dual" else self.length)
            self.queries, self.filling = self.fresh, False

    def update(self, keys: torch.Tensor, values: torch.Tensor, layer_idx: int, **_) -> tuple[torch.Tensor, torch.Tensor]:
        """A layer's new `keys, values [R, H, |queries|, Dh]` -> its keys and values `[R, H, S, Dh]` over all
        positions (transformers' `Cache.update` signature). While filling, stores them; afterwards writes them
        into the `fresh` positions in place."""
        if self.filling:
            self.keys.append(keys.contiguous())
            self.values.append(values.contiguous())
            return keys, values
        if layer_idx == 0:
            self.settle()
        self.keys[layer_idx][:, :, self.fresh] = keys
        self.values[layer_idx][:, :, self.fresh] = values
        return self.keys[layer_idx], self.values[layer_idx]

    def reorder(self, rows: torch.Tensor, moved: torch.Tensor) -> None:
        """Record that row r now holds the particle of row `rows[r]` (`rows [R]`, identity where nothing
        resampled; `moved`: device bool, whether any prompt resampled). Applied by the next forward."""
        if self._rows is None:
            self._rows, self._moved = rows, moved
        else:  # two permutations before a forward: r takes what row rows[r] held, which came from _rows[rows[r]]
            self._rows, self._moved = self._rows[rows], self._moved | moved

    @torch.inference_mode()
    def settle(self) -> None:
        """Apply a recorded permutation, in place and only to the rows that changed, outside `fresh` (which the
        next step recomputes anyway). Reads one bool on the host: the step before has already synchronised."""
        if self._rows is None:
            return
        rows, moved, self._rows, self._moved = self._rows, self._moved, None, None
        if not bool(moved):
            return
        changed = (rows != torch.arange(len(rows), device=rows.device)).nonzero().squeeze(1)
        source = rows[changed]
        kept = [s for s in (slice(0, self.fresh.start), slice(self.fresh.stop, self.length)) if s.stop > s.start]
        for t in (*self.keys, *self.values):
            for span in kept:
                part = t[:, :, span]
                part.index_copy_(0, changed, part.index_select(0, source))
