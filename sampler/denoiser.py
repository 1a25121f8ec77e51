"""The interface every model adapter implements.

A denoiser maps a batch of partially masked sequences to logits over the vocabulary at
every position. Whatever conditioning a model needs (time step, logit shift, chat
template) stays inside its adapter; the sampler sees only this interface.
"""
from abc import ABC, abstractmethod

import torch

from sampler.kv_cache import BlockCache


class Denoiser(ABC):
    """A masked diffusion model as the sampler sees it.

    Attributes every adapter sets:
        name: a label for traces and the UI (e.g. ``"austen-mdlm"``, a hub id).
        mask_id: the MASK token id generated positions start as.
        vocab_size: V, the size of the logits' last dimension.
        max_length: the longest sequence (prompt + generation) the model accepts.
        eos_id: end-of-text id, or None; used by length-normalised scoring.
        pad_id: id the sampler left-pads shorter prompts with (None: MASK); padded
            positions are excluded through `attention_mask`.
        required_block_length: a block size the checkpoint fixes (BD3-LM), or None.
        chat_default: whether `encode(text)` applies a chat template when `chat` is None.
        device: where `logits` expects its input.
    """

    name: str
    mask_id: int
    vocab_size: int
    max_length: int
    eos_id: int | None = None
    pad_id: int | None = None
    required_block_length: int | None = None
    chat_default: bool = False
    device: torch.device = torch.device("cpu")

    @abstractmethod
    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits `[B, L, V]` (any float dtype) for token ids `x [B, L]`.

        `attention_mask [B, L]` (bool, True = real token) is given only when prompts of
        different lengths share a batch; padded positions must not be attended to.
        Ids the sampler must never draw (MASK, padding, unknown-word) get -inf.
        """

    def logits_at(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor) -> torch.Tensor:
        """Logits `[B, m, V]` at `positions [B, m]` (absolute indices) only: what a decoding step reads.

        The default gathers from the full logits; adapters whose output layer dominates the cost override it
        (or `features_at` and `output_layer`) to run the output layer only there.
        """
        out = self.logits(x, attention_mask)
        return out.gather(1, positions.to(out.device)[..., None].expand(-1, -1, out.shape[-1]))

    def features_at(self, x: torch.Tensor, attention_mask: torch.Tensor | None, positions: torch.Tensor,
                    cache: BlockCache | None = None) -> torch.Tensor:
        """`[B, m, F]` at `positions [B, m]`, such that `output_layer(features_at(...)) == logits_at(...)`.

        The step applies `output_layer` chunk by chunk, so its peak memory is one chunk of logits. The
        default: features are the logits and `output_layer` is the identity; an adapter with a separate
        output layer returns its last hidden states here. `cache` (from `block_cache`, same rows as `x`):
        recompute only `cache.fresh` and read the other positions' keys/values from it.
        """
        if cache is not None:
            raise NotImplementedError(f"{self.name} has no KV cache")
        return self.logits_at(x, attention_mask, positions)

    def block_cache(self, block: slice, mode: str) -> BlockCache:
        """An empty KV cache for the steps that decode `block` (`mode`: prefix or dual, see `sampler.kv_cache`).
        The next `features_at` given it runs the full forward, which leaves every layer's keys/values
        `[B, H, L, Dh]` there; `BlockCache.filled()` then ends the filling. Models without one refuse."""
        raise ValueError(f"cache = {mode!r}: {self.name} has no KV cache; use cache = none")

    def output_layer(self, features: torch.Tensor) -> torch.Tensor:
        """Logits `[..., V]` (any float dtype) from `features_at`'s output `[..., F]`."""
        return features

    @abstractmethod
    def encode(self, text: str, chat: bool | None = None) -> list[int]:
        """Prompt text to token ids (no MASK). `chat`: wrap the text in the model's chat template (None: the
        model's default; True on a model without one raises ValueError, see `check_chat`)."""

    def check_chat(self, chat: bool | None) -> None:
        """For models without a chat template: refuse `chat=True` with an error that says what to do."""
        if chat:
            raise ValueError(f"{self.name} has no chat template: turn the chat template off")

    @abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Token ids to display text."""

    def token_strings(self, ids: list[int]) -> list[str]:
        """One display string per token id, for the token canvas."""
        return [self.decode([i]) for i in ids]
