"""The interface every model adapter implements.

A denoiser maps a batch of partially masked sequences to logits over the vocabulary at
every position. Whatever conditioning a model needs (time step, logit shift, chat
template) stays inside its adapter; the sampler sees only this interface.
"""
from abc import ABC, abstractmethod

import torch


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
        device: where `logits` expects its input.
    """

    name: str
    mask_id: int
    vocab_size: int
    max_length: int
    eos_id: int | None = None
    pad_id: int | None = None
    required_block_length: int | None = None
    device: torch.device = torch.device("cpu")

    @abstractmethod
    def logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None = None) -> torch.Tensor:
        """Logits `[B, L, V]` (any float dtype) for token ids `x [B, L]`.

        `attention_mask [B, L]` (bool, True = real token) is given only when prompts of
        different lengths share a batch; padded positions must not be attended to.
        Ids the sampler must never draw (MASK, padding, unknown-word) get -inf.
        """

    def block_logits(self, x: torch.Tensor, attention_mask: torch.Tensor | None, block: slice) -> torch.Tensor:
        """Logits `[B, Lb, V]` of the positions in `block` only: what a decoding step reads.

        Adapters whose output layer dominates the cost override this to skip the other positions.
        """
        return self.logits(x, attention_mask)[:, block]

    @abstractmethod
    def encode(self, text: str) -> list[int]:
        """Prompt text to token ids (no MASK)."""

    @abstractmethod
    def decode(self, ids: list[int]) -> str:
        """Token ids to display text."""

    def token_strings(self, ids: list[int]) -> list[str]:
        """One display string per token id, for the token canvas."""
        return [self.decode([i]) for i in ids]
